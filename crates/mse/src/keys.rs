//! The hashes of the handshake and the RC4 keys derived from the secret.
//!
//! `HASH` is SHA-1 of the concatenated arguments; `S` is the 96-byte shared
//! secret and `SKEY` the torrent's info-hash.

use std::collections::HashMap;
use std::sync::Arc;

use sha1::{Digest, Sha1};

use crate::dh::DhBytes;

/// A 20-byte SHA-1 digest (also the size of an info-hash).
pub type Hash20 = [u8; 20];

fn hash(parts: &[&[u8]]) -> Hash20 {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// `HASH('req1', S)`: the responder's synchronisation point.
pub fn req1(secret: &DhBytes) -> Hash20 {
    hash(&[b"req1", secret])
}

/// `HASH('req2', SKEY)`: identifies the torrent without revealing it.
pub fn req2(info_hash: &Hash20) -> Hash20 {
    hash(&[b"req2", info_hash])
}

/// `HASH('req3', S)`: the mask over `req2` on the wire.
pub fn req3(secret: &DhBytes) -> Hash20 {
    hash(&[b"req3", secret])
}

/// `HASH('req2', SKEY) xor HASH('req3', S)`, as the initiator sends it.
pub fn obfuscated_req2(info_hash: &Hash20, secret: &DhBytes) -> Hash20 {
    xor(&req2(info_hash), &req3(secret))
}

/// Byte-wise xor of two digests.
pub fn xor(a: &Hash20, b: &Hash20) -> Hash20 {
    let mut out = [0u8; 20];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// `HASH('keyA', S, SKEY)`: the RC4 key of what the initiator sends.
pub fn key_a(secret: &DhBytes, info_hash: &Hash20) -> Hash20 {
    hash(&[b"keyA", secret, info_hash])
}

/// `HASH('keyB', S, SKEY)`: the RC4 key of what the responder sends.
pub fn key_b(secret: &DhBytes, info_hash: &Hash20) -> Hash20 {
    hash(&[b"keyB", secret, info_hash])
}

/// How a responder finds the torrent an initiator asks for: given
/// `HASH('req2', info_hash)` (already unmasked), the info-hash, if served.
pub trait InfoHashLookup {
    /// The served info-hash whose `HASH('req2', ..)` is `req2_hash`.
    fn info_hash_for_req2(&self, req2_hash: &Hash20) -> Option<Hash20>;
}

/// The info-hashes a responder serves, indexed by `HASH('req2', ..)` so an
/// incoming handshake finds its torrent in one map lookup.
#[derive(Debug, Clone, Default)]
pub struct KnownInfoHashes {
    by_req2: HashMap<Hash20, Hash20>,
}

impl KnownInfoHashes {
    /// An index of `info_hashes`.
    pub fn new<I: IntoIterator<Item = Hash20>>(info_hashes: I) -> KnownInfoHashes {
        let mut known = KnownInfoHashes::default();
        for ih in info_hashes {
            known.insert(ih);
        }
        known
    }

    /// Serve `info_hash` too.
    pub fn insert(&mut self, info_hash: Hash20) {
        self.by_req2.insert(req2(&info_hash), info_hash);
    }

    /// Stop serving `info_hash`.
    pub fn remove(&mut self, info_hash: &Hash20) {
        self.by_req2.remove(&req2(info_hash));
    }

    /// How many info-hashes are served.
    pub fn len(&self) -> usize {
        self.by_req2.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_req2.is_empty()
    }
}

impl InfoHashLookup for KnownInfoHashes {
    fn info_hash_for_req2(&self, req2_hash: &Hash20) -> Option<Hash20> {
        self.by_req2.get(req2_hash).copied()
    }
}

/// A plain list: one SHA-1 per entry and lookup (fine for a few torrents).
impl InfoHashLookup for [Hash20] {
    fn info_hash_for_req2(&self, req2_hash: &Hash20) -> Option<Hash20> {
        self.iter().copied().find(|ih| &req2(ih) == req2_hash)
    }
}

impl<const N: usize> InfoHashLookup for [Hash20; N] {
    fn info_hash_for_req2(&self, req2_hash: &Hash20) -> Option<Hash20> {
        self[..].info_hash_for_req2(req2_hash)
    }
}

impl InfoHashLookup for Vec<Hash20> {
    fn info_hash_for_req2(&self, req2_hash: &Hash20) -> Option<Hash20> {
        self[..].info_hash_for_req2(req2_hash)
    }
}

impl<T: InfoHashLookup + ?Sized> InfoHashLookup for &T {
    fn info_hash_for_req2(&self, req2_hash: &Hash20) -> Option<Hash20> {
        (**self).info_hash_for_req2(req2_hash)
    }
}

impl<T: InfoHashLookup + ?Sized> InfoHashLookup for Arc<T> {
    fn info_hash_for_req2(&self, req2_hash: &Hash20) -> Option<Hash20> {
        (**self).info_hash_for_req2(req2_hash)
    }
}

impl<T: InfoHashLookup + ?Sized> InfoHashLookup for std::sync::RwLock<T> {
    /// A poisoned lock finds nothing.
    fn info_hash_for_req2(&self, req2_hash: &Hash20) -> Option<Hash20> {
        self.read().ok()?.info_hash_for_req2(req2_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The secret of the DH vector in `dh::tests` (computed with Python).
    fn secret() -> DhBytes {
        unhex("d05ed96a95215a89b44073afe5d0b1626289ac01cff7849392948b2470b346547e944d7562a897ae86976bc389999083ec09572dbdc8ed7f6a0a86a1aa42a3ca04209b72d8239890360435640643b76479ed7836f1857963fcc7cb72084c3ab4")
            .try_into()
            .unwrap()
    }

    // Vectors computed independently with Python's hashlib.
    #[test]
    fn known_hashes_and_keys() {
        let s = secret();
        let ih = [0xab; 20];
        assert_eq!(hex(&req1(&s)), "78fffb0f23055a793ff7609f359e04e383ec3505");
        assert_eq!(hex(&req2(&ih)), "debcbb002ca1ef763a10a40caaeab1f00a565dbe");
        assert_eq!(hex(&req3(&s)), "3b47152f695ef0d8d12be9fba7fd92922faf45e8");
        assert_eq!(
            hex(&key_a(&s, &ih)),
            "47fc80f050fee3acee5902cdf2cc253a9026bc76"
        );
        assert_eq!(
            hex(&key_b(&s, &ih)),
            "8e9cdaedaf1f732aab6e0b2f83cfb9a683296809"
        );
        let ob = obfuscated_req2(&ih, &s);
        assert_eq!(xor(&ob, &req3(&s)), req2(&ih));
    }

    #[test]
    fn lookups_find_only_known_hashes() {
        let a = [1u8; 20];
        let b = [2u8; 20];
        let c = [3u8; 20];
        let mut known = KnownInfoHashes::new([a, b]);
        assert_eq!(known.len(), 2);
        assert_eq!(known.info_hash_for_req2(&req2(&a)), Some(a));
        assert_eq!(known.info_hash_for_req2(&req2(&b)), Some(b));
        assert_eq!(known.info_hash_for_req2(&req2(&c)), None);
        // The raw info-hash is not a key: only its req2 hash is.
        assert_eq!(known.info_hash_for_req2(&a), None);
        known.remove(&a);
        assert_eq!(known.info_hash_for_req2(&req2(&a)), None);
        let list = vec![a, b];
        assert_eq!(list.info_hash_for_req2(&req2(&b)), Some(b));
        assert_eq!([a, b].info_hash_for_req2(&req2(&c)), None);
        let shared = Arc::new(std::sync::RwLock::new(KnownInfoHashes::new([c])));
        assert_eq!(shared.info_hash_for_req2(&req2(&c)), Some(c));
    }
}
