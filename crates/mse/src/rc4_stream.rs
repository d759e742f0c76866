//! RC4 as MSE uses it: keyed with a 20-byte key, the first 1024 bytes of
//! keystream thrown away, then applied in place.

use rc4::consts::U20;
use rc4::{KeyInit, Rc4, StreamCipher};

/// Bytes of keystream discarded after keying (MSE's "RC4-drop1024").
pub const DISCARD: usize = 1024;

/// One direction of an RC4 payload stream. Encryption and decryption are
/// the same operation: xor with the keystream.
pub struct Rc4Stream(Rc4<U20>);

impl std::fmt::Debug for Rc4Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rc4Stream(..)")
    }
}

impl Rc4Stream {
    /// RC4 keyed with `key`, past the first 1024 keystream bytes.
    pub fn new(key: &[u8; 20]) -> Rc4Stream {
        let mut cipher = Rc4::<U20>::new(key.into());
        let mut discard = [0u8; DISCARD];
        cipher.apply_keystream(&mut discard);
        Rc4Stream(cipher)
    }

    /// Xor `buf` with the next `buf.len()` keystream bytes, in place.
    pub fn apply(&mut self, buf: &mut [u8]) {
        self.0.apply_keystream(buf);
    }

    /// Advance the keystream by `n` bytes (for bytes that are skipped).
    pub fn skip(&mut self, mut n: usize) {
        let mut scratch = [0u8; 256];
        while n > 0 {
            let k = n.min(scratch.len());
            self.apply(&mut scratch[..k]);
            n -= k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discards_1024_bytes() {
        // keyA of the vector in keys::tests; keystream from a plain Python RC4.
        let key: [u8; 20] = [
            0x47, 0xfc, 0x80, 0xf0, 0x50, 0xfe, 0xe3, 0xac, 0xee, 0x59, 0x02, 0xcd, 0xf2, 0xcc,
            0x25, 0x3a, 0x90, 0x26, 0xbc, 0x76,
        ];
        let mut s = Rc4Stream::new(&key);
        let mut ks = [0u8; 16];
        s.apply(&mut ks);
        assert_eq!(
            ks,
            [
                0x79, 0x7d, 0x6a, 0x13, 0x21, 0xba, 0x40, 0x07, 0x85, 0x73, 0xef, 0xd4, 0x4d, 0xd1,
                0x0e, 0x2c
            ]
        );
        // Without the discard the keystream would start elsewhere.
        let mut plain = Rc4::<U20>::new((&key).into());
        let mut first = [0u8; 16];
        plain.apply_keystream(&mut first);
        assert_ne!(first, ks);
    }

    #[test]
    fn round_trip_and_skip() {
        let key = [9u8; 20];
        let mut enc = Rc4Stream::new(&key);
        let mut dec = Rc4Stream::new(&key);
        let msg = b"the quick brown fox".to_vec();
        let mut buf = msg.clone();
        enc.apply(&mut buf);
        assert_ne!(buf, msg);
        dec.apply(&mut buf);
        assert_eq!(buf, msg);
        let mut a = Rc4Stream::new(&key);
        let mut b = Rc4Stream::new(&key);
        let mut skipped = vec![0u8; 700];
        a.apply(&mut skipped);
        b.skip(700);
        let (mut x, mut y) = ([0u8; 8], [0u8; 8]);
        a.apply(&mut x);
        b.apply(&mut y);
        assert_eq!(x, y);
    }
}
