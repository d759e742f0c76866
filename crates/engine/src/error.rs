//! Errors of the session layer.

use std::io;
use std::net::SocketAddr;

use thiserror::Error;

use crate::storage::StorageError;

/// Why a session or torrent operation failed.
#[derive(Debug, Error)]
pub enum EngineError {
    /// No listen address could be bound.
    #[error("cannot listen on {addrs}")]
    Listen {
        /// The addresses tried, comma-separated.
        addrs: String,
        /// The last error.
        source: io::Error,
    },
    /// The torrent's data could not be opened, checked or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The torrent is already in the session.
    #[error("torrent {0} is already in the session")]
    Duplicate(String),
    /// The piece geometry of the torrent is unusable.
    #[error("invalid torrent: {0}")]
    InvalidTorrent(String),
    /// The session is shutting down.
    #[error("the session is shutting down")]
    ShuttingDown,
    /// The torrent stopped because of an error (usually the disk).
    #[error("{0}")]
    Fatal(String),
    /// No torrent with this id in the session.
    #[error("no torrent {0} in the session")]
    NotFound(String),
    /// An address could not be used.
    #[error("invalid peer address {0}")]
    BadPeer(SocketAddr),
}
