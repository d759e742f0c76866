//! Errors of the storage layer.

use std::io;
use std::path::PathBuf;
use thiserror::Error;

/// Why a storage operation failed.
///
/// Bounds errors ([`StorageError::PieceOutOfRange`],
/// [`StorageError::BlockOutOfBounds`], [`StorageError::ReadTooLong`],
/// [`StorageError::NotVerified`]) are the peer's fault: the session drops
/// that peer and carries on. Everything else concerns the local disk and is
/// usually fatal for the torrent (disk full, permissions, a planted symlink).
#[derive(Debug, Error)]
pub enum StorageError {
    /// The piece index is not below the torrent's piece count.
    #[error("piece {piece} out of range (the torrent has {count} pieces)")]
    PieceOutOfRange {
        /// The requested piece.
        piece: u32,
        /// Number of pieces in the torrent.
        count: u32,
    },
    /// The block is empty or extends past the end of its piece.
    #[error("block at {begin}+{len} does not fit piece {piece} of {piece_size} bytes")]
    BlockOutOfBounds {
        /// Piece index.
        piece: u32,
        /// Offset within the piece.
        begin: u32,
        /// Length of the block.
        len: u64,
        /// Size of that piece.
        piece_size: u64,
    },
    /// A read asked for more than the configured maximum.
    #[error("read of {len} bytes exceeds the limit of {max}")]
    ReadTooLong {
        /// Requested length.
        len: u32,
        /// Largest accepted read.
        max: u32,
    },
    /// A read asked for a piece we do not have (verified) on disk.
    #[error("piece {0} is not verified")]
    NotVerified(u32),
    /// A path component was empty, `.`, `..`, or held a separator or NUL.
    #[error("unsafe path component {component:?} in a file of the torrent")]
    UnsafePath {
        /// The offending component.
        component: String,
    },
    /// The torrent's content would sit where Shoal keeps its resume data
    /// (`DIR/.shoal`), so the two could overwrite each other.
    #[error("the torrent's content is named {0:?}, the folder Shoal keeps resume data in; download it into another directory")]
    ReservedName(String),
    /// The torrent's own fields disagree (hash count, piece length); only
    /// possible for a `Torrent` built by hand, never for a parsed one.
    #[error("inconsistent torrent: {0}")]
    InvalidTorrent(String),
    /// A symbolic link was found where a file or directory of the torrent
    /// should be; it is never followed.
    #[error("refusing to follow the symbolic link at {0}")]
    Symlink(PathBuf),
    /// Something other than a directory is where a directory must be.
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    /// Something other than a regular file is where a file must be.
    #[error("{0} exists and is not a regular file")]
    NotAFile(PathBuf),
    /// A file needed for a read is absent or shorter than the torrent says.
    #[error("{0} is missing or too short")]
    Missing(PathBuf),
    /// An I/O error on a path.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the resume file failed.
    #[error(transparent)]
    Resume(#[from] crate::resume::ResumeError),
    /// The check was cancelled through its progress handle.
    #[error("cancelled")]
    Cancelled,
    /// A background task failed (panicked or was cancelled by a runtime
    /// shutdown).
    #[error("storage task failed: {0}")]
    Task(String),
}

impl StorageError {
    /// Wrap an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether the error is the remote peer's fault (a bad index, offset or
    /// length) rather than a local disk problem.
    pub fn is_peer_error(&self) -> bool {
        matches!(
            self,
            StorageError::PieceOutOfRange { .. }
                | StorageError::BlockOutOfBounds { .. }
                | StorageError::ReadTooLong { .. }
                | StorageError::NotVerified(_)
        )
    }
}
