//! Compact node and peer encodings (BEP 5, BEP 32).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::id::NodeId;

/// A node as carried in `nodes` / `nodes6`: its id and address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// The node's id.
    pub id: NodeId,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Encode an address as 6 (IPv4) or 18 (IPv6) bytes: address then port.
pub fn encode_addr(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr {
        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Decode a 6- or 18-byte compact address; `None` for any other length.
pub fn decode_addr(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        6 => {
            let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            let port = u16::from_be_bytes([b[4], b[5]]);
            Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        18 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[..16]);
            let port = u16::from_be_bytes([b[16], b[17]]);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(o),
                port,
                0,
                0,
            )))
        }
        _ => None,
    }
}

/// Decode the `nodes` (26 bytes each) or `nodes6` (38 bytes each) string,
/// keeping at most `max` entries. `None` if the length is not a multiple
/// of the entry size.
pub fn decode_nodes(b: &[u8], v6: bool, max: usize) -> Option<Vec<NodeInfo>> {
    let size = if v6 { 38 } else { 26 };
    if !b.len().is_multiple_of(size) {
        return None;
    }
    let mut out = Vec::with_capacity((b.len() / size).min(max));
    for chunk in b.chunks_exact(size).take(max) {
        let id = NodeId::from_slice(&chunk[..20])?;
        let addr = decode_addr(&chunk[20..])?;
        out.push(NodeInfo { id, addr });
    }
    Some(out)
}

/// Encode nodes of one family into a `nodes`/`nodes6` string.
pub fn encode_nodes<'a>(nodes: impl IntoIterator<Item = &'a NodeInfo>) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nodes {
        out.extend_from_slice(&n.id.0);
        encode_addr(&n.addr, &mut out);
    }
    out
}

/// Whether two addresses are of the same family.
pub fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_roundtrip() {
        for a in ["1.2.3.4:6881", "[2001:db8::1]:51413"] {
            let a: SocketAddr = a.parse().unwrap();
            let mut b = Vec::new();
            encode_addr(&a, &mut b);
            assert_eq!(decode_addr(&b), Some(a));
        }
        assert_eq!(decode_addr(&[1, 2, 3]), None);
    }

    #[test]
    fn nodes_roundtrip_and_bounds() {
        let n = NodeInfo {
            id: NodeId([7; 20]),
            addr: "9.9.9.9:1".parse().unwrap(),
        };
        let enc = encode_nodes(&vec![n; 10]);
        assert_eq!(enc.len(), 260);
        assert_eq!(decode_nodes(&enc, false, 3).unwrap().len(), 3);
        assert_eq!(decode_nodes(&enc, false, 100).unwrap()[9], n);
        assert!(decode_nodes(&enc[..25], false, 100).is_none());
        assert!(decode_nodes(&enc, true, 100).is_none());
    }
}
