//! Write tokens (BEP 5): a hash of the requester's IP, the info-hash and a
//! secret that rotates every 5 minutes; tokens made with the previous
//! secret are still accepted, so a token lives 5 to 10 minutes.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use sha1::{Digest, Sha1};

use crate::id::NodeId;

/// How often the secret changes.
pub const ROTATION: Duration = Duration::from_secs(5 * 60);
/// Token length in bytes.
pub const TOKEN_LEN: usize = 8;

/// The current and previous secrets.
#[derive(Debug)]
pub struct Tokens {
    current: [u8; 16],
    previous: [u8; 16],
    rotated_at: Instant,
}

impl Tokens {
    /// Fresh secrets.
    pub fn new(rng: &mut impl Rng, now: Instant) -> Tokens {
        Tokens {
            current: rng.gen(),
            previous: rng.gen(),
            rotated_at: now,
        }
    }

    fn make(secret: &[u8; 16], ip: IpAddr, info_hash: &NodeId) -> [u8; TOKEN_LEN] {
        let mut h = Sha1::new();
        h.update(secret);
        match ip {
            IpAddr::V4(v4) => h.update(v4.octets()),
            IpAddr::V6(v6) => h.update(v6.octets()),
        }
        h.update(info_hash.0);
        let d = h.finalize();
        let mut out = [0u8; TOKEN_LEN];
        out.copy_from_slice(&d[..TOKEN_LEN]);
        out
    }

    /// The token to hand `ip` for `info_hash`.
    pub fn issue(&self, ip: IpAddr, info_hash: &NodeId) -> Vec<u8> {
        Self::make(&self.current, ip, info_hash).to_vec()
    }

    /// Whether `token` is one we issued to `ip` for `info_hash` with the
    /// current or previous secret.
    pub fn verify(&self, ip: IpAddr, info_hash: &NodeId, token: &[u8]) -> bool {
        token == Self::make(&self.current, ip, info_hash)
            || token == Self::make(&self.previous, ip, info_hash)
    }

    /// When the secret next changes.
    pub fn next_rotation(&self) -> Instant {
        self.rotated_at + ROTATION
    }

    /// Rotate if due.
    pub fn maybe_rotate(&mut self, now: Instant, rng: &mut impl Rng) {
        if now >= self.next_rotation() {
            self.previous = self.current;
            self.current = rng.gen();
            self.rotated_at = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn tokens_live_one_rotation_more() {
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(1);
        let mut t = Tokens::new(&mut rng, t0);
        let ip: IpAddr = "1.2.3.4".parse().unwrap();
        let ih = NodeId([1; 20]);
        let tok = t.issue(ip, &ih);
        assert!(t.verify(ip, &ih, &tok));
        assert!(!t.verify("1.2.3.5".parse().unwrap(), &ih, &tok));
        assert!(!t.verify(ip, &NodeId([2; 20]), &tok));
        assert!(!t.verify(ip, &ih, b"short"));
        t.maybe_rotate(t0 + Duration::from_secs(60), &mut rng);
        assert_eq!(t.issue(ip, &ih), tok, "no rotation before 5 minutes");
        t.maybe_rotate(t0 + ROTATION, &mut rng);
        assert!(t.verify(ip, &ih, &tok), "previous secret accepted");
        assert_ne!(t.issue(ip, &ih), tok);
        t.maybe_rotate(t0 + ROTATION * 2, &mut rng);
        assert!(!t.verify(ip, &ih, &tok), "two rotations later it is gone");
    }
}
