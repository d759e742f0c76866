//! The encryption policy and the `crypto_provide` / `crypto_select` bits.

use crate::error::MseError;

/// `crypto_provide` / `crypto_select` bit for a plaintext payload stream.
pub const CRYPTO_PLAINTEXT: u32 = 0x01;
/// `crypto_provide` / `crypto_select` bit for an RC4 payload stream.
pub const CRYPTO_RC4: u32 = 0x02;

/// What the local side allows; see the crate documentation for the exact
/// semantics on outgoing and incoming connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Encrypted handshake first on outgoing connections, offering RC4 and
    /// plaintext payload; incoming plaintext and MSE both accepted. As
    /// responder it selects a plaintext payload when the initiator offers
    /// one (libtorrent's default, `prefer_rc4` off: the handshake is
    /// obfuscated, the payload costs no cipher), RC4 when that is all the
    /// initiator offers.
    #[default]
    Prefer,
    /// MSE with an RC4 payload only, both ways; plaintext peers refused.
    Require,
    /// Plaintext BitTorrent only: no MSE handshake made, MSE peers refused.
    Off,
}

/// How the payload stream is carried once the handshake is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CryptoMethod {
    /// The payload goes in the clear (plain BitTorrent, or MSE with
    /// `crypto_select` = plaintext: only the handshake was obfuscated).
    Plaintext,
    /// The payload goes through RC4.
    Rc4,
}

impl CryptoMethod {
    /// The method's `crypto_select` bit.
    pub fn bit(self) -> u32 {
        match self {
            CryptoMethod::Plaintext => CRYPTO_PLAINTEXT,
            CryptoMethod::Rc4 => CRYPTO_RC4,
        }
    }
}

impl Policy {
    /// The `crypto_provide` field an initiator with this policy sends.
    pub fn crypto_provide(self) -> Result<u32, MseError> {
        match self {
            Policy::Prefer => Ok(CRYPTO_PLAINTEXT | CRYPTO_RC4),
            Policy::Require => Ok(CRYPTO_RC4),
            Policy::Off => Err(MseError::EncryptionRefused),
        }
    }

    /// The responder's choice for the initiator's `crypto_provide`: under
    /// [`Policy::Prefer`] plaintext when offered, else RC4; under
    /// [`Policy::Require`] RC4 only.
    pub fn crypto_select(self, provided: u32) -> Result<CryptoMethod, MseError> {
        match self {
            Policy::Off => Err(MseError::EncryptionRefused),
            Policy::Prefer if provided & CRYPTO_PLAINTEXT != 0 => Ok(CryptoMethod::Plaintext),
            _ if provided & CRYPTO_RC4 != 0 => Ok(CryptoMethod::Rc4),
            policy => Err(MseError::NoCommonMethod { provided, policy }),
        }
    }

    /// Whether this policy accepts a plaintext BitTorrent connection.
    pub fn allows_plaintext(self) -> bool {
        self != Policy::Require
    }

    /// Whether this policy makes or accepts MSE handshakes.
    pub fn allows_mse(self) -> bool {
        self != Policy::Off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provide_follows_policy() {
        assert_eq!(Policy::Prefer.crypto_provide().unwrap(), 0x03);
        assert_eq!(Policy::Require.crypto_provide().unwrap(), 0x02);
        assert!(matches!(
            Policy::Off.crypto_provide(),
            Err(MseError::EncryptionRefused)
        ));
    }

    #[test]
    fn select_follows_policy() {
        for p in [Policy::Prefer, Policy::Require] {
            assert_eq!(p.crypto_select(0x02).unwrap(), CryptoMethod::Rc4);
            // Unknown future bits are ignored.
            assert_eq!(p.crypto_select(0xf2).unwrap(), CryptoMethod::Rc4);
        }
        assert_eq!(
            Policy::Require.crypto_select(0x03).unwrap(),
            CryptoMethod::Rc4
        );
        assert_eq!(
            Policy::Prefer.crypto_select(0x03).unwrap(),
            CryptoMethod::Plaintext
        );
        assert_eq!(
            Policy::Prefer.crypto_select(0x01).unwrap(),
            CryptoMethod::Plaintext
        );
        assert!(matches!(
            Policy::Require.crypto_select(0x01),
            Err(MseError::NoCommonMethod { provided: 1, .. })
        ));
        assert!(matches!(
            Policy::Prefer.crypto_select(0x04),
            Err(MseError::NoCommonMethod { .. })
        ));
        assert!(matches!(
            Policy::Off.crypto_select(0x03),
            Err(MseError::EncryptionRefused)
        ));
    }
}
