//! Errors of torrent parsing, creation and verification.

use shoal_bencode::DecodeError;

/// Everything that can be wrong with a torrent or its data.
#[derive(Debug, thiserror::Error)]
pub enum MetainfoError {
    /// The file is not valid bencode.
    ///
    /// Transparent: the bencode error is this error's message, not its
    /// cause, so an error chain (`anyhow`'s `{:#}`) prints it once.
    #[error(transparent)]
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
    /// Piece length outside the accepted range, or neither a power of two
    /// nor a multiple of 16 KiB.
    #[error(
        "invalid piece length {0}: must be a power of two or a multiple of 16 KiB, from 1 KiB to 256 MiB"
    )]
    BadPieceLength(i64),
    /// A v2 or hybrid torrent's piece length is not a power of two of at
    /// least 16 KiB (BEP 52).
    #[error("invalid piece length {0}: a v2 torrent needs a power of two from 16 KiB to 256 MiB")]
    BadV2PieceLength(i64),
    /// A `meta version` other than 2.
    #[error("unsupported 'meta version' {0}")]
    UnsupportedVersion(i64),
    /// A hybrid torrent whose v1 and v2 parts describe different files.
    #[error("hybrid torrent's v1 and v2 parts disagree: {0}")]
    HybridMismatch(String),
    /// A `piece layers` entry of the wrong size or not matching its root.
    #[error("invalid piece layer for {0}")]
    BadPieceLayer(String),
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
    /// A magnet link problem (transparent, like [`MetainfoError::Bencode`]).
    #[error(transparent)]
    Magnet(#[from] crate::MagnetError),
    /// An I/O error with the path it concerns. The message names the path
    /// only: the I/O error is the cause (`source`), which an error chain
    /// prints after it, once.
    #[error("{path}")]
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
