//! Vectored positional writes.

use rustix::io::Errno;
use std::fs::File;
use std::io::{self, IoSlice};

/// Most slices in one `pwritev` (the usual `IOV_MAX`).
const MAX_IOV: usize = 1024;

/// Write all of `bufs`, concatenated, at `offset`, with vectored
/// positional writes.
pub(crate) fn pwrite_all(file: &File, mut bufs: &[&[u8]], mut offset: u64) -> io::Result<()> {
    let mut skip = 0usize; // bytes of bufs[0] already written
    loop {
        while let Some(first) = bufs.first() {
            if first.len() > skip {
                break;
            }
            bufs = &bufs[1..];
            skip = 0;
        }
        if bufs.is_empty() {
            return Ok(());
        }
        let iov: Vec<IoSlice<'_>> = bufs
            .iter()
            .take(MAX_IOV)
            .enumerate()
            .map(|(i, b)| IoSlice::new(if i == 0 { &b[skip..] } else { b }))
            .collect();
        let mut n = match rustix::io::pwritev(file, &iov, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        offset += n as u64;
        while n > 0 {
            let avail = bufs[0].len() - skip;
            if n >= avail {
                n -= avail;
                bufs = &bufs[1..];
                skip = 0;
            } else {
                skip += n;
                n = 0;
            }
        }
    }
}

/// Hands out consecutive byte ranges of a list of buffers.
pub(crate) struct Cursor<'a, 'b> {
    pub(crate) bufs: &'b [&'a [u8]],
    pub(crate) idx: usize,
    pub(crate) off: usize,
}

impl<'a, 'b> Cursor<'a, 'b> {
    /// A cursor at the start of `bufs`.
    pub(crate) fn new(bufs: &'b [&'a [u8]]) -> Self {
        Cursor {
            bufs,
            idx: 0,
            off: 0,
        }
    }

    /// The next `n` bytes (fewer if the buffers run out), as slices.
    pub(crate) fn take(&mut self, mut n: usize) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        while n > 0 && self.idx < self.bufs.len() {
            let b: &'a [u8] = self.bufs[self.idx];
            let rest = &b[self.off..];
            let k = rest.len().min(n);
            if k > 0 {
                out.push(&rest[..k]);
            }
            n -= k;
            self.off += k;
            if self.off == b.len() {
                self.idx += 1;
                self.off = 0;
            }
        }
        out
    }
}
