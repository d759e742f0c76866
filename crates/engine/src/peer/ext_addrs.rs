//! The addresses our extension handshake (BEP 10) carries on one
//! connection: `yourip`, the peer's address as we see it (so a peer behind
//! NAT learns its public address), and our own address on that
//! connection's family in `ipv4` or `ipv6`, when it is one a remote peer
//! could dial (not loopback, unspecified or link-local).

use std::net::{IpAddr, SocketAddr};

use shoal_wire::ExtensionHandshake;

/// The torrent's extension handshake `base` for a connection with `peer`
/// whose local end is `local` (if known).
pub(crate) fn for_connection(
    base: &ExtensionHandshake,
    peer: SocketAddr,
    local: Option<SocketAddr>,
) -> ExtensionHandshake {
    let mut ext = base.clone();
    ext.yourip = Some(peer.ip().to_canonical());
    match local.map(|l| l.ip().to_canonical()) {
        Some(IpAddr::V4(ip))
            if !(ip.is_loopback() || ip.is_unspecified() || ip.is_link_local()) =>
        {
            ext.ipv4 = Some(ip);
        }
        Some(IpAddr::V6(ip))
            if !(ip.is_loopback() || ip.is_unspecified() || is_link_local_v6(ip)) =>
        {
            ext.ipv6 = Some(ip);
        }
        _ => {}
    }
    ext
}

/// fe80::/10 (`Ipv6Addr::is_unicast_link_local` needs a newer Rust than
/// the workspace's).
fn is_link_local_v6(ip: std::net::Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn yourip_is_the_peer_and_our_address_goes_in_its_family() {
        let base = ExtensionHandshake {
            v: Some("Shoal".into()),
            ..ExtensionHandshake::default()
        };
        let e = for_connection(
            &base,
            sa("[2001:db8::7]:6881"),
            Some(sa("[2001:db8::1]:51413")),
        );
        assert_eq!(e.yourip, Some("2001:db8::7".parse().unwrap()));
        assert_eq!(e.ipv6, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(e.ipv4, None);
        assert_eq!(e.v.as_deref(), Some("Shoal"));
        // And it survives the wire.
        let back = ExtensionHandshake::parse(&e.to_bencode()).unwrap();
        assert_eq!((back.yourip, back.ipv6), (e.yourip, e.ipv6));

        let e = for_connection(&base, sa("198.51.100.9:1"), Some(sa("192.0.2.1:2")));
        assert_eq!(e.yourip, Some("198.51.100.9".parse().unwrap()));
        assert_eq!(e.ipv4, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(e.ipv6, None);
    }

    #[test]
    fn mapped_peers_are_ipv4_and_local_only_addresses_are_not_sent() {
        let base = ExtensionHandshake::default();
        let e = for_connection(&base, sa("[::ffff:198.51.100.9]:1"), Some(sa("[::1]:2")));
        assert_eq!(e.yourip, Some("198.51.100.9".parse().unwrap()));
        assert_eq!((e.ipv4, e.ipv6), (None, None));
        let e = for_connection(&base, sa("127.0.0.1:1"), Some(sa("127.0.0.1:2")));
        assert_eq!(e.yourip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!((e.ipv4, e.ipv6), (None, None));
        let e = for_connection(&base, sa("[fe80::1]:1"), Some(sa("[fe80::2]:2")));
        assert_eq!(e.ipv6, None);
        assert_eq!(for_connection(&base, sa("10.0.0.1:1"), None).ipv4, None);
    }
}
