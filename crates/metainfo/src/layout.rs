//! The mapping between the torrent's byte stream, its pieces and its files.
//!
//! A torrent's files are laid end to end in one stream that is cut into
//! pieces; a piece may cross any number of file boundaries.

use std::ops::Range;
use std::path::PathBuf;

/// One file of a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Sanitized path components below the torrent's root (for a
    /// single-file torrent: just the name).
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// Offset of the file's first byte in the torrent's byte stream.
    pub offset: u64,
}

impl FileEntry {
    /// The relative path as a `PathBuf`.
    pub fn relative_path(&self) -> PathBuf {
        self.path.iter().collect()
    }

    /// The path joined with `/`, for display and JSON.
    pub fn display_path(&self) -> String {
        self.path.join("/")
    }
}

/// A contiguous run of bytes within one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpan {
    /// Index into [`Layout::files`].
    pub file_index: usize,
    /// Offset within that file.
    pub file_offset: u64,
    /// Number of bytes.
    pub len: u64,
}

/// Pieces and files of a torrent, and how they overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Bytes per piece (the last piece may be shorter).
    pub piece_length: u64,
    /// Sum of all file lengths.
    pub total_length: u64,
    /// Number of pieces.
    pub piece_count: u32,
    /// The files in torrent order, with their stream offsets.
    pub files: Vec<FileEntry>,
    /// Whether this is a multi-file torrent (files live under a folder
    /// named after the torrent).
    pub multi_file: bool,
}

impl Layout {
    /// Build a layout from file paths and lengths (offsets are computed).
    /// Returns `None` if the total overflows or the piece count exceeds
    /// `u32::MAX`; `piece_length` must be non-zero.
    pub fn new(
        piece_length: u64,
        files: Vec<(Vec<String>, u64)>,
        multi_file: bool,
    ) -> Option<Layout> {
        if piece_length == 0 {
            return None;
        }
        let mut offset = 0u64;
        let mut entries = Vec::with_capacity(files.len());
        for (path, length) in files {
            entries.push(FileEntry {
                path,
                length,
                offset,
            });
            offset = offset.checked_add(length)?;
        }
        let piece_count = u32::try_from(offset.div_ceil(piece_length)).ok()?;
        Some(Layout {
            piece_length,
            total_length: offset,
            piece_count,
            files: entries,
            multi_file,
        })
    }

    /// Size of piece `index` (the last one may be short); 0 if out of range.
    pub fn piece_size(&self, index: u32) -> u64 {
        if index >= self.piece_count {
            return 0;
        }
        let start = u64::from(index) * self.piece_length;
        (self.total_length - start).min(self.piece_length)
    }

    /// Byte offset of piece `index` in the stream.
    pub fn piece_offset(&self, index: u32) -> u64 {
        u64::from(index) * self.piece_length
    }

    /// The file spans covering `len` bytes from stream offset `offset`,
    /// skipping zero-length files. Clamped to the end of the stream.
    pub fn spans(&self, offset: u64, len: u64) -> Vec<FileSpan> {
        let mut out = Vec::new();
        let end = offset.saturating_add(len).min(self.total_length);
        if offset >= end {
            return out;
        }
        // First file whose end is past `offset`.
        let mut i = self
            .files
            .partition_point(|f| f.offset + f.length <= offset);
        let mut pos = offset;
        while pos < end && i < self.files.len() {
            let f = &self.files[i];
            let file_end = f.offset + f.length;
            if f.length > 0 && pos < file_end {
                let take = file_end.min(end) - pos;
                out.push(FileSpan {
                    file_index: i,
                    file_offset: pos - f.offset,
                    len: take,
                });
                pos += take;
            }
            i += 1;
        }
        out
    }

    /// The file spans of piece `index`.
    pub fn piece_spans(&self, index: u32) -> Vec<FileSpan> {
        self.spans(self.piece_offset(index), self.piece_size(index))
    }

    /// The pieces that hold bytes of file `file_index` (empty for a
    /// zero-length file).
    pub fn file_pieces(&self, file_index: usize) -> Range<u32> {
        match self.files.get(file_index) {
            Some(f) if f.length > 0 => {
                let first = f.offset / self.piece_length;
                let last = (f.offset + f.length - 1) / self.piece_length;
                first as u32..last as u32 + 1
            }
            _ => 0..0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        // Files of 5, 0, 10 and 1 bytes with 4-byte pieces: 16 bytes, 4 pieces.
        Layout::new(
            4,
            vec![
                (vec!["a".into()], 5),
                (vec!["empty".into()], 0),
                (vec!["b".into()], 10),
                (vec!["c".into()], 1),
            ],
            true,
        )
        .unwrap()
    }

    #[test]
    fn offsets_and_sizes() {
        let l = layout();
        assert_eq!(l.total_length, 16);
        assert_eq!(l.piece_count, 4);
        assert_eq!(l.files[2].offset, 5);
        assert_eq!(l.files[3].offset, 15);
        assert_eq!(l.piece_size(3), 4);
        assert_eq!(l.piece_size(4), 0);
        let short = Layout::new(4, vec![(vec!["x".into()], 9)], false).unwrap();
        assert_eq!(short.piece_count, 3);
        assert_eq!(short.piece_size(2), 1);
    }

    #[test]
    fn spans_cross_files_and_skip_empty() {
        let l = layout();
        assert_eq!(
            l.piece_spans(1),
            vec![
                FileSpan {
                    file_index: 0,
                    file_offset: 4,
                    len: 1
                },
                FileSpan {
                    file_index: 2,
                    file_offset: 0,
                    len: 3
                },
            ]
        );
        assert_eq!(
            l.piece_spans(3),
            vec![
                FileSpan {
                    file_index: 2,
                    file_offset: 7,
                    len: 3
                },
                FileSpan {
                    file_index: 3,
                    file_offset: 0,
                    len: 1
                },
            ]
        );
        // Every byte covered exactly once.
        let total: u64 = (0..l.piece_count)
            .flat_map(|p| l.piece_spans(p))
            .map(|s| s.len)
            .sum();
        assert_eq!(total, 16);
        assert!(l.spans(16, 5).is_empty());
    }

    #[test]
    fn file_pieces() {
        let l = layout();
        assert_eq!(l.file_pieces(0), 0..2);
        assert_eq!(l.file_pieces(1), 0..0);
        assert_eq!(l.file_pieces(2), 1..4);
        assert_eq!(l.file_pieces(3), 3..4);
    }
}
