//! Swarm-store rules, driven by a fake clock (the `now` argument).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use shoal_tracker::store::*;
use shoal_tracker_proto::{parse_compact_v4, parse_compact_v6, Event};

const IH: [u8; 20] = [7; 20];

fn peer(i: u32) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 6881)
}

fn ann(p: SocketAddr, event: Event, seeder: bool) -> Announce {
    Announce {
        info_hash: IH,
        peer: p,
        event,
        seeder,
        numwant: None,
    }
}

fn go(s: &Store, a: &Announce, now: u32) -> (SwarmCounts, Vec<SocketAddr>) {
    let mut out = Vec::new();
    let c = s.announce(a, now, usize::MAX, &mut out).unwrap();
    let peers = if a.peer.ip().is_ipv4() {
        parse_compact_v4(&out)
    } else {
        parse_compact_v6(&out)
    };
    (c, peers)
}

#[test]
fn self_is_never_returned_and_counts_are_right() {
    let s = Store::new(StoreConfig::default());
    let (c, p) = go(&s, &ann(peer(1), Event::Started, false), 0);
    assert_eq!((c.seeders, c.leechers), (0, 1));
    assert!(p.is_empty(), "a lone peer gets nobody, not itself");
    for i in 2..=10 {
        go(&s, &ann(peer(i), Event::Started, i % 2 == 0), 0);
    }
    for i in 1..=10 {
        let (c, p) = go(&s, &ann(peer(i), Event::None, i % 2 == 0 && i != 1), 1);
        assert_eq!((c.seeders, c.leechers), (5, 5));
        assert!(!p.contains(&peer(i)), "peer {i} got itself back");
        let uniq: HashSet<_> = p.iter().collect();
        assert_eq!(uniq.len(), p.len(), "duplicates in sample");
    }
}

#[test]
fn seeders_get_only_leechers() {
    let s = Store::new(StoreConfig::default());
    for i in 0..20 {
        go(&s, &ann(peer(i), Event::Started, i < 10), 0);
    }
    let (_, p) = go(&s, &ann(peer(0), Event::None, true), 1);
    assert_eq!(p.len(), 10);
    assert!(
        p.iter().all(|a| (10..20).map(peer).any(|x| x == *a)),
        "a seeder got a seeder: {p:?}"
    );
    // A leecher gets both kinds (all 19 others).
    let (_, p) = go(&s, &ann(peer(15), Event::None, false), 1);
    assert_eq!(p.len(), 19);
}

#[test]
fn numwant_default_and_caps() {
    let s = Store::new(StoreConfig::default());
    for i in 0..500 {
        go(&s, &ann(peer(i), Event::Started, false), 0);
    }
    let (_, p) = go(&s, &ann(peer(0), Event::None, false), 0);
    assert_eq!(p.len(), 50, "default numwant");
    let mut a = ann(peer(0), Event::None, false);
    a.numwant = Some(1_000_000);
    assert_eq!(go(&s, &a, 0).1.len(), 200, "max numwant");
    a.numwant = Some(7);
    assert_eq!(go(&s, &a, 0).1.len(), 7);
    a.numwant = Some(0);
    assert_eq!(go(&s, &a, 0).1.len(), 0);
    // The caller's room (a datagram) caps too.
    let mut out = Vec::new();
    a.numwant = Some(200);
    s.announce(&a, 0, 3, &mut out).unwrap();
    assert_eq!(out.len(), 18);
}

#[test]
fn sample_is_random_and_covers_the_swarm() {
    let s = Store::new(StoreConfig::default());
    for i in 0..1000 {
        go(&s, &ann(peer(i), Event::Started, false), 0);
    }
    let mut seen = HashSet::new();
    let mut a = ann(peer(0), Event::None, false);
    a.numwant = Some(50);
    let first = go(&s, &a, 0).1;
    let mut differs = false;
    for _ in 0..100 {
        let p = go(&s, &a, 0).1;
        differs |= p != first;
        seen.extend(p);
    }
    assert!(differs, "the sample never changes");
    assert!(
        seen.len() > 900,
        "only {} of 999 peers ever sampled",
        seen.len()
    );
}

#[test]
fn stopped_removes_at_once() {
    let s = Store::new(StoreConfig::default());
    go(&s, &ann(peer(1), Event::Started, false), 0);
    go(&s, &ann(peer(2), Event::Started, true), 0);
    let (c, p) = go(&s, &ann(peer(1), Event::Stopped, false), 1);
    assert_eq!((c.seeders, c.leechers), (1, 0));
    assert!(p.is_empty());
    let (c, _) = go(&s, &ann(peer(2), Event::Stopped, true), 1);
    assert_eq!((c.seeders, c.leechers), (0, 0));
    assert_eq!(s.torrent_count(), 0, "an empty torrent is dropped");
    assert_eq!(s.peer_count(), 0);
    // Stopping an unknown peer or torrent is harmless.
    assert_eq!(
        go(&s, &ann(peer(3), Event::Stopped, false), 1).0,
        SwarmCounts::default()
    );
    assert_eq!(s.torrent_count(), 0);
}

#[test]
fn completed_counts_downloads_once() {
    let s = Store::new(StoreConfig::default());
    go(&s, &ann(peer(1), Event::Started, false), 0);
    let (c, _) = go(&s, &ann(peer(1), Event::Completed, true), 1);
    assert_eq!((c.seeders, c.leechers, c.downloaded), (1, 0, 1));
    // Repeating it as a seeder does not count again.
    assert_eq!(
        go(&s, &ann(peer(1), Event::Completed, true), 2)
            .0
            .downloaded,
        1
    );
    // A new peer announcing completed with nothing left counts.
    assert_eq!(
        go(&s, &ann(peer(2), Event::Completed, true), 2)
            .0
            .downloaded,
        2
    );
    // Becoming a seeder without the event does not count.
    go(&s, &ann(peer(3), Event::Started, false), 2);
    assert_eq!(go(&s, &ann(peer(3), Event::None, true), 2).0.downloaded, 2);
    assert_eq!(
        s.scrape(&IH),
        SwarmCounts {
            seeders: 3,
            leechers: 0,
            downloaded: 2
        }
    );
    // A seeder that starts leeching again (new data) moves back.
    let (c, _) = go(&s, &ann(peer(3), Event::None, false), 2);
    assert_eq!((c.seeders, c.leechers), (2, 1));
}

#[test]
fn peers_expire_after_timeout_with_fake_clock() {
    let cfg = StoreConfig {
        peer_timeout: 100,
        ..StoreConfig::default()
    };
    let s = Store::new(cfg);
    go(&s, &ann(peer(1), Event::Started, false), 1000);
    go(&s, &ann(peer(2), Event::Started, false), 1050);
    assert_eq!(s.sweep(1100), 0, "not yet expired at exactly the timeout");
    assert_eq!(s.sweep(1101), 1, "peer 1 expired");
    let (c, p) = go(&s, &ann(peer(2), Event::None, false), 1101);
    assert_eq!(c.leechers, 1);
    assert!(p.is_empty());
    // Re-announcing refreshes.
    assert_eq!(s.sweep(1200), 0);
    assert_eq!(s.sweep(1202), 1);
    assert_eq!(s.torrent_count(), 0);
    assert_eq!(s.peer_count(), 0);
    // Across the 16-bit wrap of the stamp.
    go(&s, &ann(peer(3), Event::Started, false), 65_530);
    assert_eq!(s.sweep(65_600), 0);
    assert_eq!(s.sweep(65_631), 1);
}

#[test]
fn peers_keyed_by_address_and_port_and_family() {
    let s = Store::new(StoreConfig::default());
    let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1000);
    let b = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1001);
    let v6: SocketAddr = "[2001:db8::1]:1000".parse().unwrap();
    let mapped: SocketAddr = "[::ffff:10.0.0.1]:1000".parse().unwrap();
    go(&s, &ann(a, Event::Started, false), 0);
    go(&s, &ann(b, Event::Started, false), 0);
    let (c, p) = go(&s, &ann(v6, Event::Started, false), 0);
    assert_eq!(c.leechers, 3);
    assert!(p.is_empty(), "an IPv6 peer gets IPv6 peers only");
    // The v4-mapped form is the same peer as `a`.
    let (c, p) = go(&s, &ann(mapped, Event::None, false), 0);
    assert_eq!(c.leechers, 3);
    assert_eq!(
        parse_compact_v4(&{
            let mut o = Vec::new();
            s.announce(&ann(a, Event::None, false), 0, 10, &mut o)
                .unwrap();
            o
        }),
        vec![b]
    );
    let _ = p;
    let v6b: SocketAddr = "[2001:db8::2]:1000".parse().unwrap();
    let (_, p) = go(&s, &ann(v6b, Event::Started, false), 0);
    assert_eq!(p, vec![v6]);
}

#[test]
fn per_ip_cap_bounds_one_client() {
    let cfg = StoreConfig {
        max_peers_per_ip: 1000,
        ..StoreConfig::default()
    };
    let s = Store::new(cfg);
    let p = peer(1);
    let mut errs = 0;
    for i in 0..100_000u32 {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        let a = Announce {
            info_hash: h,
            peer: p,
            event: Event::Started,
            seeder: false,
            numwant: None,
        };
        match s.announce(&a, 0, 50, &mut Vec::new()) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e, StoreError::TooManyForIp);
                errs += 1;
            }
        }
    }
    assert_eq!(errs, 99_000);
    assert_eq!(s.torrent_count(), 1000);
    assert_eq!(s.peer_count(), 1000);
    assert_eq!(s.entries_for(p.ip()), 1000);
    // Others are not affected.
    assert!(s
        .announce(&ann(peer(2), Event::Started, false), 0, 50, &mut Vec::new())
        .is_ok());
    // Memory stays bounded: at most the capped entries.
    assert!(s.totals().peer_bytes <= 1001 * 8 * 2);
    // Expiry gives the budget back.
    assert_eq!(s.sweep(100_000 % 65536), 1001);
    assert_eq!(s.entries_for(p.ip()), 0);
    assert_eq!(s.torrent_count(), 0);
    // An IPv6 client is counted per /64.
    let cfg = StoreConfig {
        max_peers_per_ip: 10,
        ..StoreConfig::default()
    };
    let s = Store::new(cfg);
    for i in 0..20u16 {
        let a: SocketAddr = format!("[2001:db8:0:1::{i:x}]:1000").parse().unwrap();
        let r = s.announce(&ann(a, Event::Started, false), 0, 50, &mut Vec::new());
        assert_eq!(r.is_ok(), i < 10, "{i}");
    }
}

#[test]
fn global_caps() {
    let cfg = StoreConfig {
        max_torrents: 5,
        max_peers: 8,
        ..StoreConfig::default()
    };
    let s = Store::new(cfg);
    for t in 0..5u8 {
        let a = Announce {
            info_hash: [t; 20],
            peer: peer(1),
            event: Event::Started,
            seeder: false,
            numwant: None,
        };
        s.announce(&a, 0, 50, &mut Vec::new()).unwrap();
    }
    let a = Announce {
        info_hash: [9; 20],
        peer: peer(1),
        event: Event::Started,
        seeder: false,
        numwant: None,
    };
    assert_eq!(
        s.announce(&a, 0, 50, &mut Vec::new()),
        Err(StoreError::Full)
    );
    for i in 2..5 {
        let a = Announce {
            info_hash: [0; 20],
            peer: peer(i),
            event: Event::Started,
            seeder: false,
            numwant: None,
        };
        s.announce(&a, 0, 50, &mut Vec::new()).unwrap();
    }
    let a = Announce {
        info_hash: [0; 20],
        peer: peer(9),
        event: Event::Started,
        seeder: false,
        numwant: None,
    };
    assert_eq!(
        s.announce(&a, 0, 50, &mut Vec::new()),
        Err(StoreError::Full)
    );
    // Existing peers keep announcing.
    let a = Announce {
        info_hash: [0; 20],
        peer: peer(2),
        event: Event::None,
        seeder: false,
        numwant: None,
    };
    assert!(s.announce(&a, 0, 50, &mut Vec::new()).is_ok());
}

#[test]
fn memory_per_peer_is_small() {
    let s = Store::new(StoreConfig {
        max_peers_per_ip: 0,
        ..StoreConfig::default()
    });
    for i in 0..100_000u32 {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&(i % 10_000).to_be_bytes());
        let a = Announce {
            info_hash: h,
            peer: peer(i),
            event: Event::Started,
            seeder: i % 3 == 0,
            numwant: Some(0),
        };
        s.announce(&a, 0, 0, &mut Vec::new()).unwrap();
    }
    let t = s.totals();
    assert_eq!(t.torrents, 10_000);
    assert_eq!(t.seeders + t.leechers, 100_000);
    // 8 bytes a peer plus growth slack.
    let per_peer = t.peer_bytes as f64 / 100_000.0;
    assert!(
        per_peer <= 12.0,
        "{per_peer} bytes of peer vectors per peer"
    );
}
