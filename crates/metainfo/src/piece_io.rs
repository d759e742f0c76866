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

    /// Fill `buf` with the stream bytes starting at `offset`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadRangeError> {
        let mut filled = 0usize;
        for span in self.layout.spans(offset, buf.len() as u64) {
            let path = self.file_path(span.file_index);
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(ReadRangeError::Missing)
                }
                Err(e) => return Err(ReadRangeError::Io(path, e)),
            };
            let dst = &mut buf[filled..filled + span.len as usize];
            match file.read_exact_at(dst, span.file_offset) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(ReadRangeError::Missing)
                }
                Err(e) => return Err(ReadRangeError::Io(path, e)),
            }
            filled += span.len as usize;
        }
        if filled != buf.len() {
            return Err(ReadRangeError::Missing);
        }
        Ok(())
    }

    /// The base directory.
    pub fn base(&self) -> &Path {
        &self.base
    }
}

/// How many pieces to read per batch: aim for about 1 MiB reads so small
/// pieces still get large sequential I/O while a batch stays in cache.
pub(crate) fn batch_pieces(piece_length: u64) -> u32 {
    ((1u64 << 20) / piece_length).clamp(1, 64) as u32
}
