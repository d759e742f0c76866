//! Torrent metainfo: parsing and validating `.torrent` files (v1, v2 and
//! hybrid, BEP 3/52, with BEP 47 file attributes), magnet URIs, the piece ↔
//! file mapping, v2 merkle trees, and parallel creation and verification.
//!
//! The info-hashes are the SHA-1 (v1) and SHA-256 (v2) of the info
//! dictionary's exact raw bytes as they appear in the file, never of a
//! re-encoding.
//!
//! Reading is tolerant where that is safe: bytes after the root dictionary
//! are ignored, any v1 piece length that is a power of two or a multiple of
//! 16 KiB is read, and file names are sanitized rather than refused (see
//! [`path`] for the rule; every change is listed in [`Layout::renames`]).
//! What protects memory and disk stays refused: absurd sizes and counts,
//! deep nesting, lengths past the input.

mod create;
mod error;
mod layout;
mod magnet;
pub mod merkle;
pub mod path;
mod piece_io;
mod torrent;
mod verify;
mod write;

pub use create::{auto_piece_length, CreateOptions, CreateProgress, Creator, SourceFile};
pub use error::MetainfoError;
pub use layout::{FileAttr, FileEntry, FileSpan, Layout, MetaVersion};
pub use magnet::{Magnet, MagnetError};
pub use path::{sanitize_component, Rename};
pub use piece_io::PieceReader;
pub use torrent::{
    valid_v1_piece_length, valid_v2_piece_length, InfoHash, InfoHashV2, Torrent, BLOCK_SIZE,
    MAX_PIECE_LENGTH, MAX_TOTAL_LENGTH, MIN_PIECE_LENGTH,
};
pub use verify::{content_base, verify_dir, PieceStatus, VerifyReport};
pub use write::TorrentWriter;
