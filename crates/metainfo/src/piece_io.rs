//! Reading torrent data from disk by stream offset, across file boundaries.

use crate::layout::Layout;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Reads byte ranges of a torrent's stream from its files under a base
/// directory. Safe to share between threads (positional reads only).
#[derive(Debug, Clone)]
pub struct PieceReader<'a> {
    base: PathBuf,
    layout: &'a Layout,
    /// Absolute paths overriding `base`+relative path (used when creating
    /// from files whose on-disk paths are known).
    paths: Option<&'a [PathBuf]>,
}

/// Why a range could not be read.
#[derive(Debug)]
pub enum ReadRangeError {
    /// A file is absent or shorter than the layout says.
    Missing,
    /// Any other I/O error.
    Io(PathBuf, io::Error),
}

impl<'a> PieceReader<'a> {
    /// A reader for files at `base/<relative path>`.
    pub fn new(base: impl Into<PathBuf>, layout: &'a Layout) -> Self {
        PieceReader {
            base: base.into(),
            layout,
            paths: None,
        }
    }

    /// A reader for files at the given absolute paths (one per layout file).
    pub fn with_paths(layout: &'a Layout, paths: &'a [PathBuf]) -> Self {
        PieceReader {
            base: PathBuf::new(),
            layout,
            paths: Some(paths),
        }
    }

    /// The on-disk path of file `index`.
    pub fn file_path(&self, index: usize) -> PathBuf {
        match self.paths.and_then(|p| p.get(index)) {
            Some(p) => p.clone(),
            None => self.base.join(self.layout.files[index].relative_path()),
        }
    }

    /// Feed the stream bytes of `[offset, offset+len)` to `sink` in order
    /// (padding files read as zeros without touching the disk),
    /// as one or more slices of at most [`READ_CHUNK`] bytes read into
    /// `scratch`.
    pub fn for_each_chunk(
        &self,
        offset: u64,
        len: u64,
        scratch: &mut Vec<u8>,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<(), ReadRangeError> {
        let mut seen = 0u64;
        for span in self.layout.spans(offset, len) {
            // BEP 47 padding is zeros and never on disk.
            if self.layout.files[span.file_index].is_padding() {
                let mut done = 0u64;
                while done < span.len {
                    let n = (span.len - done).min(READ_CHUNK) as usize;
                    scratch.clear();
                    scratch.resize(n, 0);
                    sink(scratch);
                    done += n as u64;
                }
                seen += span.len;
                continue;
            }
            let path = self.file_path(span.file_index);
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(ReadRangeError::Missing)
                }
                Err(e) => return Err(ReadRangeError::Io(path, e)),
            };
            // Read in cache-sized chunks and hand each over at once: the
            // data is hashed while still in L2, and unlike mmap/munmap no
            // lock is shared between the hashing threads.
            let mut done = 0u64;
            while done < span.len {
                let n = (span.len - done).min(READ_CHUNK) as usize;
                scratch.resize(n, 0);
                match file.read_exact_at(scratch, span.file_offset + done) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Err(ReadRangeError::Missing)
                    }
                    Err(e) => return Err(ReadRangeError::Io(path, e)),
                }
                sink(scratch);
                done += n as u64;
            }
            seen += span.len;
        }
        if seen != len {
            return Err(ReadRangeError::Missing);
        }
        Ok(())
    }

    /// The base directory.
    pub fn base(&self) -> &Path {
        &self.base
    }
}

/// Bytes read per call when hashing: small enough to stay in L2 cache
/// until hashed, large enough that syscalls cost nothing.
pub const READ_CHUNK: u64 = 256 << 10;

/// How many pieces to hash per task: about 4 MiB, so small pieces still
/// get large sequential I/O and per-task overhead stays negligible.
pub(crate) fn batch_pieces(piece_length: u64) -> u32 {
    ((4u64 << 20) / piece_length).clamp(1, 256) as u32
}

/// SHA-1 of each piece in `pieces`, read through `reader` in one pass over
/// their byte range (memory-mapped where large, see
/// [`PieceReader::for_each_chunk`]); pieces crossing files are hashed
/// incrementally, never copied together.
pub(crate) fn hash_pieces(
    reader: &PieceReader<'_>,
    pieces: std::ops::Range<u32>,
    scratch: &mut Vec<u8>,
) -> Result<Vec<[u8; 20]>, ReadRangeError> {
    use sha1::{Digest, Sha1};
    let layout = reader.layout;
    let mut out = Vec::with_capacity(pieces.len());
    if pieces.is_empty() {
        return Ok(out);
    }
    let start = layout.piece_offset(pieces.start);
    let end = layout.piece_offset(pieces.end - 1) + layout.piece_size(pieces.end - 1);
    let mut hasher = Sha1::new();
    let mut in_piece = 0u64; // bytes of the current piece hashed so far
    let mut current = pieces.start;
    reader.for_each_chunk(start, end - start, scratch, |mut chunk| {
        while !chunk.is_empty() {
            let want = layout.piece_size(current) - in_piece;
            let take = want.min(chunk.len() as u64) as usize;
            hasher.update(&chunk[..take]);
            in_piece += take as u64;
            chunk = &chunk[take..];
            if in_piece == layout.piece_size(current) {
                out.push(hasher.finalize_reset().into());
                in_piece = 0;
                current += 1;
            }
        }
    })?;
    Ok(out)
}
