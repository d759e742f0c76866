//! Telling a plaintext BitTorrent handshake from an MSE one on an
//! incoming connection, from its first bytes.

use crate::error::MseError;
use crate::policy::Policy;

/// The bytes that open a plaintext handshake: 19, "BitTorrent protocol".
pub const PLAINTEXT_PREFIX: &[u8; 20] = b"\x13BitTorrent protocol";

/// What an incoming connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// A plaintext BitTorrent handshake.
    Plaintext,
    /// Anything else: taken as MSE (its first bytes are Ya).
    Encrypted,
}

/// Classify an incoming connection from the bytes received so far, within
/// what `policy` accepts.
///
/// `Ok(None)`: too few bytes to tell (at most 20 are ever needed; an MSE
/// peer always sends at least 96 before waiting, so this cannot stall).
/// [`Policy::Require`] refuses plaintext ([`MseError::PlaintextRefused`]),
/// [`Policy::Off`] refuses MSE ([`MseError::EncryptionRefused`]).
pub fn detect(first_bytes: &[u8], policy: Policy) -> Result<Option<Incoming>, MseError> {
    let n = first_bytes.len().min(PLAINTEXT_PREFIX.len());
    let kind = if first_bytes[..n] != PLAINTEXT_PREFIX[..n] {
        Incoming::Encrypted
    } else if n == PLAINTEXT_PREFIX.len() {
        Incoming::Plaintext
    } else {
        return Ok(None);
    };
    match kind {
        Incoming::Plaintext if !policy.allows_plaintext() => Err(MseError::PlaintextRefused),
        Incoming::Encrypted if !policy.allows_mse() => Err(MseError::EncryptionRefused),
        _ => Ok(Some(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_needs_the_whole_prefix() {
        let hs = b"\x13BitTorrent protocol\0\0\0\0\0\0\0\0";
        for n in 0..20 {
            assert_eq!(detect(&hs[..n], Policy::Prefer).unwrap(), None, "{n}");
        }
        assert_eq!(
            detect(&hs[..20], Policy::Prefer).unwrap(),
            Some(Incoming::Plaintext)
        );
        assert_eq!(detect(hs, Policy::Off).unwrap(), Some(Incoming::Plaintext));
    }

    #[test]
    fn anything_else_is_mse_as_soon_as_it_differs() {
        assert_eq!(
            detect(&[0x42], Policy::Prefer).unwrap(),
            Some(Incoming::Encrypted)
        );
        assert_eq!(
            detect(b"\x13BitTorrent pro7", Policy::Require).unwrap(),
            Some(Incoming::Encrypted)
        );
        assert_eq!(detect(b"\x13Bit", Policy::Require).unwrap(), None);
    }

    #[test]
    fn policy_refusals() {
        assert!(matches!(
            detect(PLAINTEXT_PREFIX, Policy::Require),
            Err(MseError::PlaintextRefused)
        ));
        assert!(matches!(
            detect(&[0u8; 96], Policy::Off),
            Err(MseError::EncryptionRefused)
        ));
    }
}
