//! BEP 15 handling through the sans-I/O `Tracker::handle_udp`.

use std::net::SocketAddr;

use shoal_tracker::{ConnectionIds, Kind, Tracker, TrackerConfig};
use shoal_tracker_proto::udp::*;
use shoal_tracker_proto::Event;

fn tracker() -> Tracker {
    Tracker::with_ids(TrackerConfig::default(), ConnectionIds::with_key(1, 2))
}

fn connect(t: &Tracker, src: SocketAddr, now: u32) -> u64 {
    let mut pkt = Vec::new();
    write_connect_request(&mut pkt, 77);
    let mut out = Vec::new();
    t.handle_udp(&pkt, src, now, &mut out);
    match parse_response(&out, false).unwrap() {
        Response::Connect {
            transaction_id: 77,
            connection_id,
        } => connection_id,
        r => panic!("{r:?}"),
    }
}

fn announce_pkt(
    conn: u64,
    ih: [u8; 20],
    port: u16,
    left: u64,
    event: Event,
    num_want: i32,
) -> Vec<u8> {
    let mut pkt = Vec::new();
    write_announce_request(
        &mut pkt,
        &AnnounceRequest {
            connection_id: conn,
            transaction_id: 5,
            info_hash: ih,
            peer_id: [1; 20],
            downloaded: 0,
            left,
            uploaded: 0,
            event,
            ip: 0,
            key: 0,
            num_want,
            port,
        },
    );
    pkt
}

fn send(t: &Tracker, pkt: &[u8], src: SocketAddr, now: u32) -> Response {
    let mut out = Vec::new();
    t.handle_udp(pkt, src, now, &mut out);
    assert!(out.len() <= MAX_DATAGRAM, "reply of {} bytes", out.len());
    parse_response(&out, src.is_ipv6()).unwrap()
}

#[test]
fn connect_then_announce_then_scrape() {
    let t = tracker();
    let a: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let b: SocketAddr = "10.0.0.2:4000".parse().unwrap();
    let ca = connect(&t, a, 1000);
    let cb = connect(&t, b, 1000);
    assert_ne!(ca, cb);
    let r = send(
        &t,
        &announce_pkt(ca, [3; 20], 6881, 0, Event::Started, -1),
        a,
        1000,
    );
    assert_eq!(
        r,
        Response::Announce {
            transaction_id: 5,
            interval: 1800,
            leechers: 0,
            seeders: 1,
            peers: vec![]
        }
    );
    // The port announced (not the source port) is what others get; the `ip` field is ignored.
    let mut pkt = announce_pkt(cb, [3; 20], 7000, 10, Event::Started, -1);
    pkt[84..88].copy_from_slice(&[1, 2, 3, 4]);
    let r = send(&t, &pkt, b, 1001);
    assert_eq!(
        r,
        Response::Announce {
            transaction_id: 5,
            interval: 1800,
            leechers: 1,
            seeders: 1,
            peers: vec!["10.0.0.1:6881".parse().unwrap()]
        }
    );
    let mut s = Vec::new();
    write_scrape_request(&mut s, ca, 9, &[[3; 20], [4; 20]]);
    let r = send(&t, &s, a, 1002);
    assert_eq!(
        r,
        Response::Scrape {
            transaction_id: 9,
            entries: vec![
                ScrapeCounts {
                    seeders: 1,
                    completed: 0,
                    leechers: 1
                },
                ScrapeCounts::default()
            ]
        }
    );
    assert_eq!(t.stats().get(Kind::UdpAnnounce), 2);
    assert_eq!(t.stats().get(Kind::UdpConnect), 2);
}

#[test]
fn connection_id_rejection() {
    let t = tracker();
    let a: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let spoofed: SocketAddr = "10.0.0.9:4000".parse().unwrap();
    let other_port: SocketAddr = "10.0.0.1:4001".parse().unwrap();
    let c = connect(&t, a, 1000);
    let err = |r: Response| matches!(r, Response::Error { ref message, .. } if message.contains("connection id"));
    // A made-up id, an id of another address, or of another port: refused.
    assert!(err(send(
        &t,
        &announce_pkt(12345, [3; 20], 1, 0, Event::None, -1),
        a,
        1000
    )));
    assert!(err(send(
        &t,
        &announce_pkt(c, [3; 20], 1, 0, Event::None, -1),
        spoofed,
        1000
    )));
    assert!(err(send(
        &t,
        &announce_pkt(c, [3; 20], 1, 0, Event::None, -1),
        other_port,
        1000
    )));
    assert_eq!(
        t.store().torrent_count(),
        0,
        "nothing stored for refused requests"
    );
    let mut s = Vec::new();
    write_scrape_request(&mut s, 1, 9, &[[3; 20]]);
    assert!(err(send(&t, &s, a, 1000)));
    // Valid for at least two minutes from issue, whenever in the window it was issued.
    for issued in [1000u32, 1079, 1080, 1199] {
        let c = connect(&t, a, issued);
        for later in [issued, issued + 60, issued + 120] {
            assert!(
                matches!(
                    send(
                        &t,
                        &announce_pkt(c, [3; 20], 1, 0, Event::None, -1),
                        a,
                        later
                    ),
                    Response::Announce { .. }
                ),
                "issued {issued} used {later}"
            );
        }
        // ...and not forever.
        assert!(err(send(
            &t,
            &announce_pkt(c, [3; 20], 1, 0, Event::None, -1),
            a,
            issued + 241
        )));
    }
    // A different key (another tracker process) does not accept our ids.
    let t2 = Tracker::with_ids(TrackerConfig::default(), ConnectionIds::with_key(3, 4));
    assert!(err(send(
        &t2,
        &announce_pkt(c, [3; 20], 1, 0, Event::None, -1),
        a,
        1000
    )));
}

#[test]
fn malformed_packets() {
    let t = tracker();
    let a: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let c = connect(&t, a, 0);
    let mut out = Vec::new();
    // Too short for a header: dropped silently.
    for len in 0..16 {
        t.handle_udp(&[0u8; 16][..len], a, 0, &mut out);
        assert!(out.is_empty());
    }
    // Connect without the magic: dropped.
    t.handle_udp(&[0u8; 16], a, 0, &mut out);
    assert!(out.is_empty());
    // Truncated announce: error with the transaction id.
    let full = announce_pkt(c, [3; 20], 1, 0, Event::None, -1);
    for len in 16..ANNOUNCE_REQUEST_LEN {
        let r = send(&t, &full[..len], a, 0);
        assert!(
            matches!(
                r,
                Response::Error {
                    transaction_id: 5,
                    ..
                }
            ),
            "{len}: {r:?}"
        );
    }
    // Unknown action.
    let mut pkt = full.clone();
    pkt[11] = 7;
    assert!(
        matches!(send(&t, &pkt, a, 0), Response::Error { ref message, .. } if message.contains("unknown action"))
    );
    // Port 0.
    assert!(
        matches!(send(&t, &announce_pkt(c, [3; 20], 0, 0, Event::None, -1), a, 0), Response::Error { ref message, .. } if message.contains("port"))
    );
    assert_eq!(t.store().torrent_count(), 0);
    assert!(t.stats().get(Kind::UdpDropped) >= 17);
}

#[test]
fn reply_fits_one_datagram_v4_and_v6() {
    let mut cfg = TrackerConfig::default();
    cfg.store.max_numwant = 1000;
    cfg.store.max_peers_per_ip = 0;
    let t = Tracker::with_ids(cfg, ConnectionIds::with_key(1, 2));
    for (base, fam_max) in [("10.0.", MAX_PEERS_V4), ("2001:db8::", MAX_PEERS_V6)] {
        for i in 0..400u32 {
            let src: SocketAddr = if base.contains(':') {
                format!("[{base}{:x}]:1", i + 1).parse().unwrap()
            } else {
                format!("{base}{}.{}:1", i / 250, i % 250 + 1)
                    .parse()
                    .unwrap()
            };
            let c = connect(&t, src, 0);
            let r = send(
                &t,
                &announce_pkt(c, [9; 20], 1000, 5, Event::Started, 1000),
                src,
                0,
            );
            let Response::Announce { peers, .. } = r else {
                panic!()
            };
            assert_eq!(peers.len(), (i as usize).min(fam_max));
        }
    }
}

#[test]
fn numwant_minus_one_is_default_and_whitelist() {
    let cfg = TrackerConfig {
        whitelist: Some([[1; 20]].into_iter().collect()),
        ..Default::default()
    };
    let t = Tracker::with_ids(cfg, ConnectionIds::with_key(1, 2));
    for i in 0..80u32 {
        let src: SocketAddr = format!("10.1.0.{}:1", i + 1).parse().unwrap();
        let c = connect(&t, src, 0);
        let r = send(
            &t,
            &announce_pkt(c, [1; 20], 1000, 5, Event::Started, -1),
            src,
            0,
        );
        let Response::Announce { peers, .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!(peers.len(), (i as usize).min(50));
    }
    let src: SocketAddr = "10.2.0.1:1".parse().unwrap();
    let c = connect(&t, src, 0);
    assert!(
        matches!(send(&t, &announce_pkt(c, [2; 20], 1000, 5, Event::Started, -1), src, 0), Response::Error { ref message, .. } if message.contains("not allowed"))
    );
}

#[test]
fn scrape_capped_at_70() {
    let t = tracker();
    let a: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let c = connect(&t, a, 0);
    let mut pkt = Vec::new();
    pkt.extend_from_slice(&c.to_be_bytes());
    pkt.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    pkt.extend_from_slice(&1u32.to_be_bytes());
    for i in 0..200u8 {
        pkt.extend_from_slice(&[i; 20]);
    }
    let Response::Scrape { entries, .. } = send(&t, &pkt, a, 0) else {
        panic!()
    };
    assert_eq!(entries.len(), 70);
}

#[test]
fn one_client_100k_info_hashes_is_bounded() {
    let t = tracker();
    let a: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let c = connect(&t, a, 0);
    let (mut ok, mut refused) = (0, 0);
    let mut out = Vec::new();
    for i in 0..100_000u32 {
        let mut ih = [0u8; 20];
        ih[..4].copy_from_slice(&i.to_be_bytes());
        t.handle_udp(
            &announce_pkt(c, ih, 6881, 1, Event::Started, -1),
            a,
            0,
            &mut out,
        );
        match parse_response(&out, false).unwrap() {
            Response::Announce { .. } => ok += 1,
            Response::Error { message, .. } => {
                assert_eq!(message, "too many torrents from your address");
                refused += 1
            }
            r => panic!("{r:?}"),
        }
    }
    let cap = t.config().store.max_peers_per_ip as usize;
    assert_eq!((ok, refused), (cap, 100_000 - cap));
    assert_eq!(t.store().torrent_count(), cap);
    assert!(t.store().totals().peer_bytes <= cap * 16);
}

proptest::proptest! {
    #[test]
    fn any_datagram_is_handled(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1500), v6 in proptest::prelude::any::<bool>()) {
        let t = tracker();
        let src: SocketAddr = if v6 { "[::1]:5".parse().unwrap() } else { "127.0.0.1:5".parse().unwrap() };
        let mut out = Vec::new();
        t.handle_udp(&b, src, 0, &mut out);
        proptest::prop_assert!(out.len() <= MAX_DATAGRAM);
    }
}
