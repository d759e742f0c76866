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

impl MseError {
    /// Whether, on an outgoing connection under [`Policy::Prefer`], the
    /// failure looks like a peer that does not speak MSE (it hung up or
    /// never answered with a valid step 2/4), so a new plaintext
    /// connection is worth trying. Policy refusals and our own bad input
    /// are not.
    pub fn suggests_plaintext_retry(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            MseError::Closed | MseError::VcNotFound | MseError::InvalidPublicKey => true,
            MseError::Io(e) => matches!(
                e.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::BrokenPipe
            ),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_failures_suggest_plaintext() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(MseError::Io(reset).suggests_plaintext_retry());
        assert!(MseError::Closed.suggests_plaintext_retry());
        assert!(MseError::VcNotFound.suggests_plaintext_retry());
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(!MseError::Io(other).suggests_plaintext_retry());
        assert!(!MseError::EncryptionRefused.suggests_plaintext_retry());
        assert!(!MseError::InitialPayloadTooLong(70).suggests_plaintext_retry());
        assert!(!MseError::BadCryptoSelect {
            selected: 1,
            provided: 2
        }
        .suggests_plaintext_retry());
    }
}
