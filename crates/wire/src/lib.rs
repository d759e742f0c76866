//! Peer wire protocol codec (sans-I/O).
//!
//! Pure encoding and decoding of the BitTorrent peer protocol: the
//! handshake ([BEP 3]), the length-prefixed messages including the fast
//! extension ([BEP 6]), the extension protocol ([BEP 10]) and the v2 hash
//! messages (BEP 52). Nothing here
//! touches a socket or a clock: the caller moves bytes between the network
//! and [`bytes::BytesMut`] buffers, and this crate turns them into typed
//! values and back.
//!
//! Decoding is strict — anything malformed is an error and the caller
//! should drop the peer — and never allocates for a length the peer
//! announced before that length has been checked against the limits.
//!
//! [BEP 3]: https://www.bittorrent.org/beps/bep_0003.html
//! [BEP 6]: https://www.bittorrent.org/beps/bep_0006.html
//! [BEP 10]: https://www.bittorrent.org/beps/bep_0010.html

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod decoder;
mod error;
mod extension;
mod handshake;
mod hash_msg;
mod message;
mod peer_id;

pub use decoder::{
    validate_bitfield, Limits, MessageDecoder, DEFAULT_MAX_EXTENDED_LEN, DEFAULT_MAX_REQUEST_LEN,
    DEFAULT_MAX_UNKNOWN_BITFIELD_LEN, MAX_EXTENDED_LEN_CEILING, MAX_REQUEST_LEN_CEILING,
    MAX_UNKNOWN_BITFIELD_LEN_CEILING,
};
pub use error::{ExtensionError, HandshakeError, LimitsError, WireError};
pub use extension::{ExtensionHandshake, EXTENSION_HANDSHAKE_ID};
pub use handshake::{Handshake, HandshakePrefix, Reserved, PROTOCOL};
pub use hash_msg::{
    HashMessage, HashMessageError, HashRange, HASHES, HASH_HEADER_LEN, HASH_REJECT, HASH_REQUEST,
    MAX_HASHES,
};
pub use message::{encode_piece_header, id, name_of, Message, LENGTH_PREFIX_LEN, PIECE_HEADER_LEN};
pub use peer_id::{PeerId, SHOAL_PREFIX};
