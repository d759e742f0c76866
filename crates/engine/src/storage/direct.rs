//! Writes that bypass the page cache (`O_DIRECT`, Linux).
//!
//! A verified piece is written once and not read again soon (a peer may
//! ask for it, but most are never uploaded while downloading). Copying it
//! into the page cache is the largest cost of a fast download on a VM
//! (fresh page-cache pages cost the kernel more than the copy itself), and
//! it evicts data that is worth keeping. A direct write instead hands the
//! block device a buffer of ours.
//!
//! `O_DIRECT` needs the file offset, the length and the buffer's address
//! aligned to the device's block size; [`ALIGN`] (4 KiB) covers every
//! common device. Callers write the aligned middle of a span directly and
//! the unaligned edges through the page cache. A file system that refuses
//! `O_DIRECT` (some do) just leaves everything to the page cache.

use std::cell::RefCell;
use std::fs::File;
use std::io;

/// Alignment of offset, length and buffer for a direct write.
pub(crate) const ALIGN: usize = 4096;

/// The most a direct write copies and writes at once: a span longer than
/// this (a large piece) goes out in chunks, so no thread keeps more than
/// this much scratch memory however large the pieces. A multiple of
/// [`ALIGN`].
const SCRATCH_MAX: usize = 1 << 20;

thread_local! {
    /// A reusable buffer per thread, grown to the largest chunk written
    /// (at most [`SCRATCH_MAX`] + [`ALIGN`]).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Open a second handle on `file` for direct writes (an error satisfying
/// [`is_refusal`] if the file system does not do them). The handle is
/// reopened through
/// `/proc/self/fd`, which names the already open inode (no path is
/// looked up again, so no symlink can be followed).
#[cfg(target_os = "linux")]
pub(crate) fn reopen_direct(file: &File) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let flags = OFlags::WRONLY | OFlags::DIRECT | OFlags::CLOEXEC;
    rustix::fs::open(path.as_str(), flags, Mode::empty())
        .map(File::from)
        .map_err(io::Error::from)
}

/// Direct writes are Linux-only here.
#[cfg(not(target_os = "linux"))]
pub(crate) fn reopen_direct(_file: &File) -> io::Result<File> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Whether `e` says the file system (or device) does not do direct I/O,
/// or not with this alignment: then the page cache is used for good.
pub(crate) fn is_refusal(e: &io::Error) -> bool {
    use rustix::io::Errno;
    let refusals = [Errno::INVAL, Errno::OPNOTSUPP, Errno::NOTSUP];
    e.kind() == io::ErrorKind::Unsupported
        || e.raw_os_error()
            .is_some_and(|c| refusals.iter().any(|r| r.raw_os_error() == c))
}

/// Copy the concatenation of `bufs` (a multiple of [`ALIGN`] bytes) into
/// an aligned buffer and write it at `offset` (aligned) through `direct`,
/// at most [`SCRATCH_MAX`] bytes at a time.
pub(crate) fn write_aligned(direct: &File, bufs: &[&[u8]], offset: u64) -> io::Result<()> {
    let len: usize = bufs.iter().map(|b| b.len()).sum();
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let chunk = len.min(SCRATCH_MAX);
        if scratch.len() < chunk + ALIGN {
            scratch.resize(chunk + ALIGN, 0);
        }
        let start = scratch.as_ptr().align_offset(ALIGN);
        if start >= ALIGN {
            return Err(io::Error::other("cannot align the write buffer"));
        }
        let mut cursor = super::vectored::Cursor::new(bufs);
        let mut written = 0;
        while written < len {
            let n = (len - written).min(SCRATCH_MAX);
            let buf = &mut scratch[start..start + n];
            let mut at = 0;
            for part in cursor.take(n) {
                buf[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            super::vectored::pwrite_all(direct, &[buf], offset + written as u64)?;
            written += n;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn long_spans_go_out_in_chunks_with_every_byte_in_place() {
        // 2.5 chunks' worth, from parts of odd sizes (and an empty one).
        let total = SCRATCH_MAX * 5 / 2;
        let data: Vec<u8> = (0..total).map(|i| (i * 7 + i / 4099) as u8).collect();
        let cuts = [
            0,
            5,
            5,
            16_389,
            SCRATCH_MAX - 3,
            SCRATCH_MAX + 40_000,
            total,
        ];
        let parts: Vec<&[u8]> = cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        write_aligned(&file, &parts, ALIGN as u64).unwrap();
        let mut back = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), ALIGN + total);
        assert!(back[..ALIGN].iter().all(|&b| b == 0));
        assert!(back[ALIGN..] == data[..], "bytes out of place");
        let kept = SCRATCH.with(|c| c.borrow().len());
        assert!(kept <= SCRATCH_MAX + ALIGN, "scratch grew to {kept}");
    }
}
