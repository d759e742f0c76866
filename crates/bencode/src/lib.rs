//! Zero-copy bencode decoder and encoder (BEP 3).
//!
//! The decoder borrows from its input: byte strings are `&[u8]` slices of it,
//! and every dictionary remembers the exact raw bytes it was decoded from, so
//! a torrent's info-hash can be computed over the bytes as they were written
//! (even when a producer in the wild wrote its keys unsorted).
//!
//! Strict where the format demands it (no leading zeros, no `-0`, string
//! lengths within the input, bounded nesting depth, no trailing data) and
//! tolerant where real torrents need it (unsorted dictionary keys are read).

mod decode;
mod encode;
mod error;
mod value;

pub use decode::{decode, decode_prefix, Decoder, DEFAULT_MAX_DEPTH};
pub use encode::{encode_bytes, encode_int, Encoder};
pub use error::{DecodeError, DecodeErrorKind};
pub use value::{Dict, OwnedValue, Value};
