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

    /// Feed the stream bytes of `[offset, offset+len)` to `sink` in order,
    /// as one or more slices, without copying large spans: a span of at
    /// least [`MMAP_MIN_SPAN`] bytes is memory-mapped (prefaulted) and
    /// handed over in place; smaller spans are read into `scratch`.
    pub fn for_each_chunk(
        &self,
        offset: u64,
        len: u64,
        scratch: &mut Vec<u8>,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<(), ReadRangeError> {
        let mut seen = 0u64;
        for span in self.layout.spans(offset, len) {
            let path = self.file_path(span.file_index);
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(ReadRangeError::Missing)
                }
                Err(e) => return Err(ReadRangeError::Io(path, e)),
            };
            let on_disk = file
                .metadata()
                .map_err(|e| ReadRangeError::Io(path.clone(), e))?
                .len();
            if on_disk < span.file_offset + span.len {
                return Err(ReadRangeError::Missing);
            }
            if span.len >= MMAP_MIN_SPAN {
                // Map from the page boundary at or below the span start.
                let page_off = span.file_offset & !(PAGE - 1);
                let skip = (span.file_offset - page_off) as usize;
                // SAFETY: the map is read-only and dropped before returning;
                // if another process truncates the file meanwhile, reads may
                // fault (SIGBUS) — the same risk every mmap-based hasher
                // (libtorrent, mktorrent) accepts; sizes were checked above.
                let map = unsafe {
                    memmap2::MmapOptions::new()
                        .offset(page_off)
                        .len(skip + span.len as usize)
                        .populate()
                        .map(&file)
                }
                .map_err(|e| ReadRangeError::Io(path.clone(), e))?;
                sink(&map[skip..]);
            } else {
                scratch.resize(span.len as usize, 0);
                match file.read_exact_at(scratch, span.file_offset) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Err(ReadRangeError::Missing)
                    }
                    Err(e) => return Err(ReadRangeError::Io(path, e)),
                }
                sink(scratch);
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

/// Spans at least this long are hashed from a memory map instead of copied.
pub const MMAP_MIN_SPAN: u64 = 256 << 10;
const PAGE: u64 = 4096;

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
