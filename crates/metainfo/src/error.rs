//! Errors of torrent parsing, creation and verification.

use shoal_bencode::DecodeError;

/// Everything that can be wrong with a torrent or its data.
#[derive(Debug, thiserror::Error)]
pub enum MetainfoError {
    /// The file is not valid bencode.
    #[error("{0}")]
    Bencode(#[from] DecodeError),
    /// The top level is not a dictionary.
    #[error("torrent is not a bencoded dictionary")]
    NotADict,
    /// A required key is absent.
    #[error("missing required key '{0}'")]
    Missing(&'static str),
    /// A key has the wrong bencode type.
    #[error("'{key}' should be {expected}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// The expected type.
        expected: &'static str,
    },
    /// Piece length outside the accepted range or not a power of two.
    #[error("invalid piece length {0}: must be a power of two from 1 KiB to 256 MiB")]
    BadPieceLength(i64),
    /// A file length below zero or absurdly large.
    #[error("invalid file length {0}")]
    BadFileLength(i64),
    /// Total size above the limit.
    #[error("total size exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The torrent holds no data.
    #[error("torrent has no data (total length 0)")]
    Empty,
    /// `pieces` is not 20 bytes per piece for the total length.
    #[error("'pieces' is {actual} bytes but {pieces} pieces need {expected}")]
    PiecesLength {
        /// Its length.
        actual: usize,
        /// Expected length.
        expected: u64,
        /// Piece count implied by total length and piece length.
        pieces: u64,
    },
    /// Both or neither of `length` and `files`.
    #[error("info must have exactly one of 'length' (single file) or 'files' (multi-file)")]
    LengthOrFiles,
    /// A file name or path component that is unsafe or invalid.
    #[error("unsafe path {path:?}: {reason}")]
    UnsafePath {
        /// The path as far as it could be rendered.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Two files with the same path, or a file that is also a directory.
    #[error("conflicting file paths: {0:?}")]
    PathConflict(String),
    /// Too many files.
    #[error("too many files ({0})")]
    TooManyFiles(usize),
    /// A magnet link problem.
    #[error("{0}")]
    Magnet(#[from] crate::MagnetError),
    /// An I/O error with the path it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Nothing to put in a torrent.
    #[error("{0}: no files to include")]
    NoFiles(String),
}

impl MetainfoError {
    /// An I/O error about `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        MetainfoError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
