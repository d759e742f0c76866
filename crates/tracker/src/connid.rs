//! Stateless BEP 15 connection ids.
//!
//! A connection id is a keyed hash (SipHash-2-4 with a random per-process
//! key) of the source address and port and the current two-minute window.
//! The tracker keeps nothing per client: an id is accepted when it matches
//! the hash for the current or the previous window, so it stays valid for
//! between two and four minutes (BEP 15 asks for at least two), and a client
//! that never received our connect response (a spoofed source) cannot guess
//! it. Because the window number is hashed in, the effective key rotates
//! every window. Comparison is constant-time.

use std::hash::Hasher;
use std::net::SocketAddr;

/// Seconds per connection-id window.
pub const WINDOW_SECS: u32 = 120;

/// Makes and checks connection ids.
#[derive(Debug, Clone)]
pub struct ConnectionIds {
    k0: u64,
    k1: u64,
}

#[allow(deprecated)]
fn siphash(k0: u64, k1: u64, window: u32, src: &SocketAddr) -> u64 {
    // std's SipHasher is SipHash-2-4; deprecated only in favour of
    // unspecified-algorithm hashers, which we do not want here.
    let mut h = std::hash::SipHasher::new_with_keys(k0, k1);
    h.write_u32(window);
    match src.ip().to_canonical() {
        std::net::IpAddr::V4(ip) => h.write(&ip.octets()),
        std::net::IpAddr::V6(ip) => h.write(&ip.octets()),
    }
    h.write_u16(src.port());
    h.finish()
}

impl ConnectionIds {
    /// With a random key.
    pub fn new() -> ConnectionIds {
        use std::hash::BuildHasher;
        let s = std::collections::hash_map::RandomState::new();
        ConnectionIds::with_key(s.hash_one(1u8), s.hash_one(2u8))
    }

    /// With a given key (tests).
    pub fn with_key(k0: u64, k1: u64) -> ConnectionIds {
        ConnectionIds { k0, k1 }
    }

    /// The id to hand to `src` at time `now` (seconds).
    pub fn make(&self, src: &SocketAddr, now: u32) -> u64 {
        siphash(self.k0, self.k1, now / WINDOW_SECS, src)
    }

    /// Whether `id` is valid for `src` at time `now`: made in the current or
    /// the previous window. Each candidate is compared without early exit;
    /// the previous window's id is only computed when the current one does
    /// not match (which reveals nothing about the key).
    pub fn check(&self, id: u64, src: &SocketAddr, now: u32) -> bool {
        let w = now / WINDOW_SECS;
        if ct_eq(siphash(self.k0, self.k1, w, src), id) {
            return true;
        }
        ct_eq(siphash(self.k0, self.k1, w.wrapping_sub(1), src), id)
    }
}

/// Equality of two words without a data-dependent branch.
fn ct_eq(a: u64, b: u64) -> bool {
    let x = a ^ b;
    // Zero iff equal; fold to one bit.
    ((x | x.wrapping_neg()) >> 63) == 0
}

impl Default for ConnectionIds {
    fn default() -> Self {
        ConnectionIds::new()
    }
}
