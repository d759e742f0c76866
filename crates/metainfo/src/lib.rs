//! Torrent metainfo: parsing and validating v1 `.torrent` files, magnet
//! URIs, the piece ↔ file mapping, and parallel creation and verification.
//!
//! The info-hash is the SHA-1 of the info dictionary's exact raw bytes as
//! they appear in the file, never of a re-encoding.

mod create;
mod error;
mod layout;
mod magnet;
mod path;
mod piece_io;
mod torrent;
mod verify;
mod write;

pub use create::{auto_piece_length, CreateOptions, CreateProgress, Creator, SourceFile};
pub use error::MetainfoError;
pub use layout::{FileEntry, FileSpan, Layout};
pub use magnet::{Magnet, MagnetError};
pub use path::sanitize_component;
pub use piece_io::PieceReader;
pub use torrent::{InfoHash, Torrent, MAX_PIECE_LENGTH, MAX_TOTAL_LENGTH, MIN_PIECE_LENGTH};
pub use verify::{content_base, verify_dir, PieceStatus, VerifyReport};
pub use write::TorrentWriter;
