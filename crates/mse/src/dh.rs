//! Diffie-Hellman on the 768-bit MSE prime with generator 2.
//!
//! Private keys are 160 bits (as the spec asks) drawn from the caller's
//! RNG; public keys and the shared secret travel as 96-byte big-endian
//! numbers. Exponentiation is Montgomery-form and constant-time
//! (`crypto-bigint`), so timing does not leak the private key.

use crypto_bigint::modular::constant_mod::ResidueParams;
use crypto_bigint::{const_residue, impl_modulus, Encoding, U768};
use rand::{CryptoRng, RngCore};

use crate::error::MseError;

/// Length of a public key and of the shared secret, in bytes.
pub const KEY_LEN: usize = 96;

/// Bits in a private key.
pub const PRIVATE_KEY_BITS: usize = 160;

impl_modulus!(
    MsePrime,
    U768,
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563"
);

/// A public key or shared secret as sent on the wire.
pub type DhBytes = [u8; KEY_LEN];

/// A 160-bit Diffie-Hellman private key.
#[derive(Clone)]
pub struct PrivateKey(U768);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// A fresh random private key.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> PrivateKey {
        let mut bytes = [0u8; KEY_LEN];
        rng.fill_bytes(&mut bytes[KEY_LEN - PRIVATE_KEY_BITS / 8..]);
        PrivateKey(U768::from_be_bytes(bytes))
    }

    /// A private key from its 20 big-endian bytes (for tests and vectors).
    pub fn from_bytes(bytes: [u8; PRIVATE_KEY_BITS / 8]) -> PrivateKey {
        let mut full = [0u8; KEY_LEN];
        full[KEY_LEN - bytes.len()..].copy_from_slice(&bytes);
        PrivateKey(U768::from_be_bytes(full))
    }

    /// `2^x mod P`, 96 bytes big-endian.
    pub fn public_key(&self) -> DhBytes {
        let two = U768::from_u8(2);
        let base = const_residue!(two, MsePrime);
        base.pow_bounded_exp(&self.0, PRIVATE_KEY_BITS)
            .retrieve()
            .to_be_bytes()
    }

    /// `Y^x mod P` for the peer's public key `Y`, 96 bytes big-endian.
    ///
    /// A `Y` of 0, 1, P-1 or not below P is refused: it would make the
    /// secret predictable (no honest peer sends one).
    pub fn shared_secret(&self, their_public: &DhBytes) -> Result<DhBytes, MseError> {
        let y = U768::from_be_bytes(*their_public);
        let p_minus_1 = MsePrime::MODULUS.wrapping_sub(&U768::ONE);
        if y <= U768::ONE || y >= p_minus_1 {
            return Err(MseError::InvalidPublicKey);
        }
        let base = const_residue!(y, MsePrime);
        Ok(base
            .pow_bounded_exp(&self.0, PRIVATE_KEY_BITS)
            .retrieve()
            .to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn key(start: u8) -> PrivateKey {
        let mut b = [0u8; 20];
        for (i, x) in b.iter_mut().enumerate() {
            *x = start + i as u8;
        }
        PrivateKey::from_bytes(b)
    }

    // Vectors computed independently with Python's pow(2, x, P).
    #[test]
    fn known_public_key_and_secret() {
        let a = key(1);
        let b = key(101);
        assert_eq!(
            hex(&a.public_key()),
            "96e112dab29e8c5272accb9b17b26887ce54a144a4e3b697c7d159b7a817e556b0918db2b4c658e02a87f7e5fb14b18a553e084cbf3dad2d30f16596ccb982d406258c61b30c5c1dae2ddc60bdbd48d79896312aad63238c39e1a633821eb693"
        );
        let s = a.shared_secret(&b.public_key()).unwrap();
        assert_eq!(
            hex(&s),
            "d05ed96a95215a89b44073afe5d0b1626289ac01cff7849392948b2470b346547e944d7562a897ae86976bc389999083ec09572dbdc8ed7f6a0a86a1aa42a3ca04209b72d8239890360435640643b76479ed7836f1857963fcc7cb72084c3ab4"
        );
    }

    #[test]
    fn both_sides_agree() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..4 {
            let a = PrivateKey::generate(&mut rng);
            let b = PrivateKey::generate(&mut rng);
            let sa = a.shared_secret(&b.public_key()).unwrap();
            let sb = b.shared_secret(&a.public_key()).unwrap();
            assert_eq!(sa, sb);
            assert_ne!(a.public_key(), b.public_key());
        }
    }

    #[test]
    fn private_key_is_160_bits() {
        let mut rng = StdRng::seed_from_u64(1);
        let k = PrivateKey::generate(&mut rng);
        let bytes = k.0.to_be_bytes();
        assert!(bytes[..KEY_LEN - 20].iter().all(|&b| b == 0));
        assert!(bytes[KEY_LEN - 20..].iter().any(|&b| b != 0));
    }

    #[test]
    fn degenerate_public_keys_refused() {
        let k = key(1);
        let p = MsePrime::MODULUS;
        let mut bad = vec![[0u8; KEY_LEN], U768::ONE.to_be_bytes()];
        bad.push(p.wrapping_sub(&U768::ONE).to_be_bytes());
        bad.push(p.to_be_bytes());
        bad.push([0xff; KEY_LEN]);
        for y in bad {
            assert!(matches!(
                k.shared_secret(&y),
                Err(MseError::InvalidPublicKey)
            ));
        }
        let mut two = [0u8; KEY_LEN];
        two[KEY_LEN - 1] = 2;
        assert!(k.shared_secret(&two).is_ok());
    }
}
