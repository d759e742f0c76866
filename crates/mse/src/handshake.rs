//! What both sides of the handshake share: limits, padding, the result,
//! and the [`Handshake`] trait a driver moves bytes through.

use rand::{CryptoRng, Rng, RngCore};

use crate::error::MseError;
use crate::keys::Hash20;
use crate::policy::CryptoMethod;
use crate::rc4_stream::Rc4Stream;

/// The longest padding the spec allows (PadA, PadB, PadC, PadD).
pub const MAX_PAD: usize = 512;

/// The verification constant: 8 zero bytes, encrypted.
pub const VC: [u8; 8] = [0; 8];

/// The longest initial payload (IA) an initiator sends: libtorrent drops a
/// peer whose `len(IA)` is above 68, the size of a BitTorrent handshake.
pub const MAX_INITIAL_PAYLOAD: usize = 68;

/// Padding lengths a side uses. Random by default ([`Padding::random`]);
/// fixed lengths are for tests and for reproducing a given peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Padding {
    /// PadA (initiator) or PadB (responder): after the public key.
    pub after_key: usize,
    /// PadC (initiator) or PadD (responder): inside the encrypted part.
    pub encrypted: usize,
}

impl Padding {
    /// Both lengths uniform in 0..=512.
    pub fn random<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Padding {
        Padding {
            after_key: rng.gen_range(0..=MAX_PAD),
            encrypted: rng.gen_range(0..=MAX_PAD),
        }
    }

    /// No padding at all.
    pub fn none() -> Padding {
        Padding {
            after_key: 0,
            encrypted: 0,
        }
    }

    /// These lengths, each capped at 512.
    pub(crate) fn capped(self) -> Padding {
        Padding {
            after_key: self.after_key.min(MAX_PAD),
            encrypted: self.encrypted.min(MAX_PAD),
        }
    }
}

/// `len` random bytes.
pub(crate) fn random_bytes<R: RngCore + ?Sized>(rng: &mut R, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// The RC4 streams of an RC4 payload, one per direction.
#[derive(Debug)]
pub struct PayloadCipher {
    /// Encrypts what we send.
    pub outgoing: Rc4Stream,
    /// Decrypts what we receive.
    pub incoming: Rc4Stream,
}

/// A finished handshake.
#[derive(Debug)]
pub struct Established {
    /// How the payload is carried from here on.
    pub method: CryptoMethod,
    /// The RC4 streams, present exactly when `method` is RC4. They continue
    /// where the handshake left them: apply them to every payload byte.
    pub cipher: Option<PayloadCipher>,
    /// The torrent (`SKEY`) both sides proved they know.
    pub info_hash: Hash20,
    /// Responder: the initiator's initial payload (IA), decrypted: the
    /// first bytes of its BitTorrent stream. Initiator: empty.
    pub initial_payload: Vec<u8>,
}

/// A handshake side, driven by moving bytes: feed what arrives, send what
/// [`Handshake::take_output`] hands out, until [`Handshake::is_finished`].
pub trait Handshake {
    /// Consume the start of `input`, returning how many bytes were used.
    /// Never consumes past the end of the handshake: bytes after it are
    /// payload and stay with the caller. Fewer than `input.len()` bytes
    /// used means the handshake finished.
    fn feed(&mut self, input: &[u8]) -> Result<usize, MseError>;

    /// Bytes to send now (empty when there is nothing).
    fn take_output(&mut self) -> Vec<u8>;

    /// Whether the handshake is complete (take the output first).
    fn is_finished(&self) -> bool;

    /// The result, once finished and the output taken.
    fn finish(self) -> Result<Established, MseError>;
}
