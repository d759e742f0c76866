//! 160-bit node ids, the XOR metric, and BEP 42 ids derived from an IP.

use std::fmt;
use std::net::IpAddr;

use rand::Rng;

/// A 160-bit key: a node id, or an info-hash (they share one key space).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 20]);

/// An info-hash, looked up in the same key space as node ids.
pub type InfoHash = NodeId;

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl NodeId {
    /// The id from exactly 20 bytes, or `None` for any other length.
    pub fn from_slice(b: &[u8]) -> Option<NodeId> {
        <[u8; 20]>::try_from(b).ok().map(NodeId)
    }

    /// A uniformly random id.
    pub fn random(rng: &mut impl Rng) -> NodeId {
        NodeId(rng.gen())
    }

    /// The XOR distance between two ids (compare distances with `Ord`).
    pub fn distance(&self, other: &NodeId) -> NodeId {
        let mut d = [0u8; 20];
        for (i, out) in d.iter_mut().enumerate() {
            *out = self.0[i] ^ other.0[i];
        }
        NodeId(d)
    }

    /// How many leading bits `self` and `other` share (160 if equal).
    pub fn common_prefix_len(&self, other: &NodeId) -> usize {
        for i in 0..20 {
            let x = self.0[i] ^ other.0[i];
            if x != 0 {
                return i * 8 + x.leading_zeros() as usize;
            }
        }
        160
    }

    /// Bit `i` (0 = most significant).
    pub fn bit(&self, i: usize) -> bool {
        (self.0[i / 8] >> (7 - i % 8)) & 1 == 1
    }

    /// A random id sharing exactly `prefix` leading bits with `self` (the
    /// next bit differs); used to refresh the bucket at that depth.
    pub fn random_with_prefix(&self, prefix: usize, rng: &mut impl Rng) -> NodeId {
        let mut id = NodeId::random(rng);
        if prefix >= 160 {
            return *self;
        }
        for i in 0..=prefix {
            let want = if i == prefix {
                !self.bit(i)
            } else {
                self.bit(i)
            };
            let mask = 1u8 << (7 - i % 8);
            if want {
                id.0[i / 8] |= mask;
            } else {
                id.0[i / 8] &= !mask;
            }
        }
        id
    }

    /// A BEP 42 id for a node whose external address is `ip`: the first 21
    /// bits come from CRC32-C of the masked address, the last byte holds the
    /// random `r` used, the rest is random.
    pub fn secure_for_ip(ip: IpAddr, rng: &mut impl Rng) -> NodeId {
        let r: u8 = rng.gen::<u8>();
        let crc = bep42_crc(ip, r);
        let mut id = NodeId::random(rng);
        id.0[0] = (crc >> 24) as u8;
        id.0[1] = (crc >> 16) as u8;
        id.0[2] = ((crc >> 8) as u8 & 0xf8) | (id.0[2] & 0x07);
        id.0[19] = r;
        id
    }

    /// Whether this id is valid for `ip` under BEP 42 (first 21 bits match).
    pub fn is_secure_for_ip(&self, ip: IpAddr) -> bool {
        let crc = bep42_crc(ip, self.0[19]);
        self.0[0] == (crc >> 24) as u8
            && self.0[1] == (crc >> 16) as u8
            && (self.0[2] & 0xf8) == ((crc >> 8) as u8 & 0xf8)
    }
}

/// CRC32-C of the BEP 42 masked address with `r`'s low 3 bits in the top
/// bits of the first byte.
fn bep42_crc(ip: IpAddr, r: u8) -> u32 {
    let r = r & 0x07;
    match ip {
        IpAddr::V4(v4) => {
            let mask = [0x03, 0x0f, 0x3f, 0xff];
            let mut b = v4.octets();
            for (x, m) in b.iter_mut().zip(mask) {
                *x &= m;
            }
            b[0] |= r << 5;
            crc32c::crc32c(&b)
        }
        IpAddr::V6(v6) => {
            let mask = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];
            let o = v6.octets();
            let mut b = [0u8; 8];
            for i in 0..8 {
                b[i] = o[i] & mask[i];
            }
            b[0] |= r << 5;
            crc32c::crc32c(&b)
        }
    }
}

/// Addresses exempt from BEP 42 enforcement and per-IP uniqueness: loopback,
/// private, link-local, shared (CGNAT), unique-local and unspecified ranges
/// (the ones libtorrent treats as local).
pub fn is_exempt(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_exempt(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Whether an address can be a DHT node or peer at all: not unspecified,
/// not multicast or broadcast, and a non-zero port is checked by the caller.
pub fn is_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn hex(s: &str) -> NodeId {
        let mut b = [0u8; 20];
        for (i, out) in b.iter_mut().enumerate() {
            *out = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        NodeId(b)
    }

    #[test]
    fn bep42_test_vectors() {
        // From BEP 42 (the middle bytes there are random; only the first 21
        // bits and the last byte matter).
        let vectors = [
            ("124.31.75.21", "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"),
            ("21.75.31.124", "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"),
            ("65.23.51.170", "a5d43220bc8f112a3d426c84764f8c2a1150e616"),
            ("84.124.73.14", "1b0321dd1bb1fe518101ceef99462b947a01ff41"),
            ("43.213.53.83", "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"),
        ];
        for (ip, id) in vectors {
            let ip: IpAddr = ip.parse().unwrap();
            let id = hex(id);
            assert!(id.is_secure_for_ip(ip), "{ip} {id}");
            let mut bad = id;
            bad.0[0] ^= 0x80;
            assert!(!bad.is_secure_for_ip(ip));
            // the crc prefix for the vector's r matches ours
            let crc = bep42_crc(ip, id.0[19]);
            assert_eq!(id.0[0], (crc >> 24) as u8);
        }
    }

    #[test]
    fn generated_ids_verify() {
        let mut rng = StdRng::seed_from_u64(1);
        for ip in ["1.2.3.4", "203.0.113.9", "2001:db8::1", "2a00:1450::5"] {
            let ip: IpAddr = ip.parse().unwrap();
            for _ in 0..50 {
                let id = NodeId::secure_for_ip(ip, &mut rng);
                assert!(id.is_secure_for_ip(ip));
            }
        }
        let a: IpAddr = "1.2.3.4".parse().unwrap();
        let b: IpAddr = "9.8.7.6".parse().unwrap();
        let misses = (0..100)
            .filter(|_| NodeId::secure_for_ip(a, &mut rng).is_secure_for_ip(b))
            .count();
        assert!(misses < 5, "ids for one IP should not verify for another");
    }

    #[test]
    fn distance_and_prefix() {
        let a = NodeId([0u8; 20]);
        let mut b = a;
        b.0[0] = 0x10;
        assert_eq!(a.common_prefix_len(&b), 3);
        assert_eq!(a.common_prefix_len(&a), 160);
        let mut c = a;
        c.0[19] = 1;
        assert!(a.distance(&c) < a.distance(&b));
        let mut rng = StdRng::seed_from_u64(2);
        for p in [0, 1, 7, 8, 100, 159] {
            let r = b.random_with_prefix(p, &mut rng);
            assert_eq!(b.common_prefix_len(&r), p);
        }
    }

    #[test]
    fn exempt_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
        ] {
            assert!(is_exempt(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.2.3.4", "8.8.8.8", "2001:db8::1", "100.128.0.1"] {
            assert!(!is_exempt(ip.parse().unwrap()), "{ip}");
        }
    }
}
