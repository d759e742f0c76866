//! The one error type of the crate.

use crate::policy::Policy;

/// Why a handshake failed. Every variant is a reason to drop the peer.
#[derive(Debug, thiserror::Error)]
pub enum MseError {
    /// The peer's Diffie-Hellman public key is 0, 1, P-1 or not below P.
    #[error("the peer's Diffie-Hellman public key is degenerate or out of range")]
    InvalidPublicKey,
    /// The responder did not find `HASH('req1', S)` within 512 + 20 bytes after Ya.
    #[error("no HASH('req1', S) within 532 bytes after the peer's public key")]
    Req1NotFound,
    /// The initiator did not find the encrypted VC within 512 + 8 bytes after Yb.
    #[error("no encrypted verification constant within 520 bytes after the peer's public key")]
    VcNotFound,
    /// The responder knows no torrent whose `HASH('req2', info_hash)` the peer sent.
    #[error("the peer asked for a torrent we do not serve")]
    UnknownInfoHash,
    /// The decrypted verification constant is not 8 zero bytes.
    #[error("bad verification constant (wrong key or garbage)")]
    BadVc,
    /// A padding length above 512.
    #[error("padding length {0} is above 512")]
    PadTooLong(u16),
    /// The responder's `crypto_select` is not exactly one method we offered.
    #[error("the peer selected crypto method {selected:#x}, we offered {provided:#x}")]
    BadCryptoSelect {
        /// What the peer selected.
        selected: u32,
        /// What we offered.
        provided: u32,
    },
    /// The initiator offered no method our policy allows.
    #[error("the peer offers crypto methods {provided:#x}, none allowed by policy {policy:?}")]
    NoCommonMethod {
        /// What the peer offered.
        provided: u32,
        /// Our policy.
        policy: Policy,
    },
    /// The initial payload is longer than the 68 bytes peers accept.
    #[error("initial payload of {0} bytes is above the 68 that peers accept")]
    InitialPayloadTooLong(usize),
    /// The policy is [`Policy::Off`]: no encrypted handshake is made or accepted.
    #[error("encryption is turned off by policy")]
    EncryptionRefused,
    /// The policy is [`Policy::Require`] and the peer spoke plaintext.
    #[error("plaintext peer refused: encryption is required")]
    PlaintextRefused,
    /// The handshake was asked for its result before it finished.
    #[error("the handshake has not finished")]
    NotFinished,
    /// The connection closed before the handshake finished.
    #[error("the peer closed the connection during the handshake")]
    Closed,
    /// An I/O error from the underlying stream.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
