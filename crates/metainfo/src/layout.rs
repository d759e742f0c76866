//! The mapping between the torrent's byte stream, its pieces and its files.
//!
//! A torrent's files are laid end to end in one stream that is cut into
//! pieces; a piece may cross any number of file boundaries.

use crate::merkle::Hash256;
use crate::path::Rename;
use std::ops::Range;
use std::path::PathBuf;

/// BEP 47 file attributes (the `attr` string: `p`, `l`, `x`, `h`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileAttr {
    /// `p`: a padding file. Its bytes are zeros; it is never created on
    /// disk, and reads of it give zeros.
    pub padding: bool,
    /// `l`: a symbolic link (see [`FileEntry::symlink_target`]); its
    /// length is 0 whatever the torrent says.
    pub symlink: bool,
    /// `x`: executable.
    pub executable: bool,
    /// `h`: hidden.
    pub hidden: bool,
}

impl FileAttr {
    /// Parse an `attr` string; unknown letters are ignored (BEP 47).
    pub fn parse(attr: &[u8]) -> FileAttr {
        FileAttr {
            padding: attr.contains(&b'p'),
            symlink: attr.contains(&b'l'),
            executable: attr.contains(&b'x'),
            hidden: attr.contains(&b'h'),
        }
    }

    /// The `attr` string for writing (empty when no flag is set).
    pub fn to_attr_string(&self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.executable, 'x'),
            (self.hidden, 'h'),
            (self.symlink, 'l'),
            (self.padding, 'p'),
        ] {
            if on {
                s.push(c);
            }
        }
        s
    }
}

/// Which BitTorrent versions a torrent's metainfo carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetaVersion {
    /// BEP 3 only: SHA-1 piece hashes.
    #[default]
    V1,
    /// BEP 52 only: per-file SHA-256 merkle trees.
    V2,
    /// Both (`pieces` and `file tree`), describing the same files.
    Hybrid,
}

impl MetaVersion {
    /// Whether it has v1 SHA-1 piece hashes.
    pub fn has_v1(self) -> bool {
        self != MetaVersion::V2
    }

    /// Whether it has v2 merkle roots.
    pub fn has_v2(self) -> bool {
        self != MetaVersion::V1
    }
}

/// One file of a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The on-disk path below the torrent's directory, sanitized (see the
    /// rules in [`crate::path`]): plain names only, so it can never lead
    /// outside. For a single-file torrent: just the name.
    pub path: Vec<String>,
    /// Length in bytes (0 for a symlink).
    pub length: u64,
    /// Offset of the file's first byte in the torrent's byte stream.
    pub offset: u64,
    /// The path as the torrent spells it (lossy UTF-8, unsanitized; for a
    /// single-file torrent the name). Empty for padding a v2 torrent
    /// implies between files.
    pub torrent_path: Vec<String>,
    /// BEP 47 attributes.
    pub attr: FileAttr,
    /// For a symlink whose target stays inside the torrent: the target,
    /// relative to the torrent's directory (sanitized names). `None` for
    /// other files and for a symlink that would point outside (it is not
    /// created).
    pub symlink_target: Option<Vec<String>>,
    /// BEP 52: the root of the file's merkle tree (`None` in v1 torrents
    /// and for empty files and padding).
    pub pieces_root: Option<Hash256>,
    /// BEP 52: the file's piece layer (one hash per piece) from the
    /// torrent's `piece layers`, checked against `pieces_root`. Empty for a
    /// file of one piece or less (its root is its only piece hash) and
    /// when the torrent carries no layer for it.
    pub piece_layer: Vec<Hash256>,
}

impl FileEntry {
    /// A plain file (no attributes, no v2 data).
    pub fn plain(path: Vec<String>, length: u64, offset: u64) -> FileEntry {
        FileEntry {
            torrent_path: path.clone(),
            path,
            length,
            offset,
            attr: FileAttr::default(),
            symlink_target: None,
            pieces_root: None,
            piece_layer: Vec::new(),
        }
    }

    /// Whether this is a BEP 47 padding file: never created on disk; its
    /// bytes are zeros when hashing.
    pub fn is_padding(&self) -> bool {
        self.attr.padding
    }

    /// Whether this entry becomes a regular file on disk (not padding, not
    /// a symlink).
    pub fn is_regular(&self) -> bool {
        !self.attr.padding && !self.attr.symlink
    }

    /// For a symlink to create: the link's content, relative to the
    /// link's own folder (`../b/c`), which always resolves inside the
    /// torrent's directory.
    pub fn symlink_relative_target(&self) -> Option<PathBuf> {
        let target = self.symlink_target.as_ref()?;
        let ups = self.path.len().saturating_sub(1);
        let mut p = PathBuf::new();
        for _ in 0..ups {
            p.push("..");
        }
        for c in target {
            p.push(c);
        }
        Some(p)
    }

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
    /// v1, v2 or hybrid. In v2 and hybrid torrents every file starts on a
    /// piece boundary (padding fills the gaps), so a piece never spans two
    /// files' data.
    pub version: MetaVersion,
    /// Names changed on the way to disk (see [`crate::path`]).
    pub renames: Vec<Rename>,
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
        let entries = files
            .into_iter()
            .map(|(path, length)| FileEntry::plain(path, length, 0))
            .collect();
        Self::from_entries(piece_length, entries, multi_file, MetaVersion::V1)
    }

    /// Build a layout from complete entries; their offsets are recomputed
    /// (end to end). Same limits as [`Layout::new`].
    pub fn from_entries(
        piece_length: u64,
        mut entries: Vec<FileEntry>,
        multi_file: bool,
        version: MetaVersion,
    ) -> Option<Layout> {
        if piece_length == 0 {
            return None;
        }
        let mut offset = 0u64;
        for e in &mut entries {
            e.offset = offset;
            offset = offset.checked_add(e.length)?;
        }
        let piece_count = u32::try_from(offset.div_ceil(piece_length)).ok()?;
        Some(Layout {
            piece_length,
            total_length: offset,
            piece_count,
            files: entries,
            multi_file,
            version,
            renames: Vec::new(),
        })
    }

    /// For a v2 or hybrid torrent: the file that piece `index` belongs to
    /// and the piece's index within that file, or `None` if the piece is
    /// all padding (or out of range).
    pub fn v2_piece_file(&self, index: u32) -> Option<(usize, u32)> {
        let offset = self.piece_offset(index);
        let i = self
            .files
            .partition_point(|f| f.offset + f.length <= offset);
        let f = self.files.get(i)?;
        if f.is_padding() || f.length == 0 || f.offset > offset {
            return None;
        }
        Some((i, ((offset - f.offset) / self.piece_length) as u32))
    }

    /// The v2 hash piece `index` must have: the file's piece-layer entry,
    /// or its `pieces root` for a file of one piece or less. `None` for
    /// v1 torrents, padding pieces and files whose layer is unknown.
    pub fn v2_piece_hash(&self, index: u32) -> Option<Hash256> {
        let (file, piece) = self.v2_piece_file(index)?;
        let f = &self.files[file];
        if f.length <= self.piece_length {
            f.pieces_root
        } else {
            f.piece_layer.get(piece as usize).copied()
        }
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
