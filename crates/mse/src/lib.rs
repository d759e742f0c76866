//! BitTorrent message stream encryption (MSE/PE): a sans-I/O handshake,
//! the RC4 stream, and a thin tokio layer.
//!
//! # The handshake
//!
//! [`Initiator`] (A, who dials) and [`Responder`] (B, who accepts) are
//! state machines: feed them the bytes that arrive
//! ([`Handshake::feed`]), send what [`Handshake::take_output`] returns,
//! and once [`Handshake::is_finished`], [`Handshake::finish`] gives the
//! [`Established`] result: the payload method and, for RC4, the two
//! keystreams positioned where the handshake left them. They never read a
//! socket or a clock; randomness (the 160-bit DH private key, padding
//! lengths and bytes) comes from the caller's RNG at construction.
//!
//! Exactly as the spec: DH on the 768-bit prime with G = 2, Ya/Yb 96-byte
//! big-endian; PadA..PadD 0..=512 random bytes; `HASH('req1', S)`,
//! `HASH('req2', SKEY) xor HASH('req3', S)`; keys `HASH('keyA', S, SKEY)`
//! (A to B) and `HASH('keyB', S, SKEY)` (B to A); RC4 with 1024 bytes of
//! keystream discarded; VC = 8 zero bytes; `crypto_provide` /
//! `crypto_select` with 0x01 plaintext and 0x02 RC4; an initial payload
//! (IA) of at most 68 bytes from the initiator (libtorrent sends its
//! BitTorrent handshake there and refuses a longer IA).
//!
//! Hostile input is bounded as the spec bounds it: the responder must find
//! `HASH('req1', S)` within 512 + 20 bytes after Ya, the initiator the
//! encrypted VC within 512 + 8 bytes after Yb; padding lengths above 512
//! are errors; IA is at most 65535 bytes by its 2-byte length. A side holds
//! at most about 1 KiB of handshake state plus IA.
//!
//! # Policy
//!
//! [`Policy`] is what the engine passes:
//!
//! - **Outgoing**, [`Policy::Prefer`]: the MSE handshake first (as
//!   libtorrent does), offering `crypto_provide` = RC4 | plaintext; the
//!   responder chooses (libtorrent at its defaults chooses plaintext, we
//!   choose RC4). If the MSE handshake fails (the peer resets or times
//!   out), retrying in plaintext is the caller's decision: this crate does
//!   not reconnect. [`Policy::Require`]: MSE offering RC4 only; a peer
//!   selecting anything else is an error. [`Policy::Off`]: no MSE at all,
//!   the stream is plaintext BitTorrent ([`connect_encrypted`] sends the
//!   initial payload as is).
//! - **Incoming** ([`detect`], [`accept`]): [`Policy::Prefer`] accepts a
//!   plaintext handshake and MSE; under MSE it selects a plaintext payload
//!   when the initiator offers one (as libtorrent does by default: the
//!   handshake is obfuscated, the payload costs no cipher), RC4 when that
//!   is all it offers.
//!   [`Policy::Require`] refuses plaintext handshakes and MSE initiators
//!   that do not offer RC4. [`Policy::Off`] accepts only plaintext.
//!
//! # Tokio
//!
//! [`connect_encrypted`] and [`accept`] drive the state machines over any
//! `AsyncRead + AsyncWrite` stream and return an [`EncryptedStream`],
//! which applies RC4 in place (a plain pass-through when the payload is
//! plaintext). They have no timeout of their own: wrap them in
//! `tokio::time::timeout` (a few seconds is plenty; a peer that trickles
//! bytes could otherwise hold a connection open within the byte bounds).
//! Flush an [`EncryptedStream`] after writing, as with a `BufWriter`.
//!
//! ```no_run
//! # async fn demo(addr: std::net::SocketAddr, info_hash: [u8; 20], handshake: [u8; 68])
//! #     -> Result<(), shoal_mse::MseError> {
//! use std::time::Duration;
//! use shoal_mse::{connect_encrypted, Policy};
//! use tokio::net::TcpStream;
//!
//! // Outgoing under Prefer: MSE first, plaintext on a new connection if
//! // the peer does not seem to speak MSE.
//! let dial = |policy| async move {
//!     let sock = TcpStream::connect(addr).await?;
//!     connect_encrypted(sock, info_hash, policy, &handshake).await
//! };
//! let limit = Duration::from_secs(10);
//! let stream = match tokio::time::timeout(limit, dial(Policy::Prefer)).await {
//!     Ok(Ok(s)) => s,
//!     Ok(Err(e)) if !e.suggests_plaintext_retry() => return Err(e),
//!     // Timed out, or the peer does not seem to speak MSE.
//!     _ => dial(Policy::Off).await?,
//! };
//! // `stream` is AsyncRead + AsyncWrite: our handshake has been sent; read
//! // the peer's.
//! # drop(stream);
//! # Ok(())
//! # }
//! ```
//!
//! # Interop notes
//!
//! - libtorrent refuses an IA above 68 bytes: [`connect_encrypted`] sends
//!   at most 68 bytes as IA and the rest through the stream.
//! - `SKEY` is the 20-byte info-hash the peer dials with. For a hybrid
//!   (v1 + v2) torrent, libtorrent 2 may use the v2 info-hash truncated to
//!   20 bytes: register both in [`KnownInfoHashes`].
//! - Tested against libtorrent 2.0 (encryption forced both ways) and
//!   Transmission 3.00 (encryption required), see `tests/interop.rs`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod detect;
mod dh;
mod driver;
mod error;
mod handshake;
mod initiator;
mod keys;
mod policy;
mod rc4_stream;
mod responder;
mod stream;

pub use detect::{detect, Incoming, PLAINTEXT_PREFIX};
pub use dh::{DhBytes, PrivateKey, KEY_LEN, PRIVATE_KEY_BITS};
pub use driver::{
    accept, accept_with_rng, connect_encrypted, connect_encrypted_with_rng, Accepted,
};
pub use error::MseError;
pub use handshake::{
    Established, Handshake, Padding, PayloadCipher, MAX_INITIAL_PAYLOAD, MAX_PAD, VC,
};
pub use initiator::{Initiator, VC_SEARCH_LIMIT};
pub use keys::{
    key_a, key_b, obfuscated_req2, req1, req2, req3, Hash20, InfoHashLookup, KnownInfoHashes,
};
pub use policy::{CryptoMethod, Policy, CRYPTO_PLAINTEXT, CRYPTO_RC4};
pub use rc4_stream::{Rc4Stream, DISCARD};
pub use responder::{Responder, REQ1_SEARCH_LIMIT};
pub use stream::{EncryptedStream, WRITE_CHUNK};
