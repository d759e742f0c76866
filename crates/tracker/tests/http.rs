//! HTTP announce/scrape handling (sans I/O) and the HTTP/1.1 framing.

use std::net::{IpAddr, SocketAddr};

use shoal_tracker::http::{parse_head, write_response, HeadError, MAX_HEAD};
use shoal_tracker::{Kind, Tracker, TrackerConfig};
use shoal_tracker_proto::http::{
    parse_announce_response, parse_scrape_response, ResponseError, ScrapeEntry,
};
use shoal_tracker_proto::urlenc::encode;

fn q(ih: &[u8], port: u16, left: u64, extra: &str) -> String {
    format!(
        "/announce?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}{extra}",
        encode(ih),
        encode(b"-TT0001-abcdefghijkl")
    )
}

fn get(
    t: &Tracker,
    target: &str,
    src: &str,
) -> Result<shoal_tracker_proto::http::AnnounceResponse, ResponseError> {
    let mut out = Vec::new();
    let a = t.handle_http(
        target.as_bytes(),
        src.parse::<IpAddr>().unwrap(),
        0,
        &mut out,
    );
    assert_eq!(a.status, 200);
    parse_announce_response(&out)
}

fn failure(t: &Tracker, target: &str) -> String {
    match get(t, target, "10.0.0.1") {
        Err(ResponseError::Failure(f)) => f,
        r => panic!("expected failure for {target}: {r:?}"),
    }
}

#[test]
fn announce_compact_and_dict() {
    let t = Tracker::new(TrackerConfig::default());
    let r = get(&t, &q(&[1; 20], 1000, 5, "&event=started"), "10.0.0.1").unwrap();
    assert_eq!(
        (r.interval, r.min_interval, r.complete, r.incomplete),
        (1800, Some(900), Some(0), Some(1))
    );
    assert!(r.peers.is_empty());
    let r = get(&t, &q(&[1; 20], 2000, 0, "&event=started"), "10.0.0.2").unwrap();
    assert_eq!(
        r.peers,
        vec!["10.0.0.1:1000".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!((r.complete, r.incomplete), (Some(1), Some(1)));
    // Dictionary form on compact=0.
    let mut out = Vec::new();
    t.handle_http(
        q(&[1; 20], 3000, 5, "&compact=0").as_bytes(),
        "10.0.0.3".parse().unwrap(),
        0,
        &mut out,
    );
    let s = String::from_utf8_lossy(&out);
    assert!(s.contains("5:peersld2:ip8:10.0.0."), "{s}");
    assert_eq!(parse_announce_response(&out).unwrap().peers.len(), 2);
    // `ip` is ignored: the peer is the source address.
    let r = get(&t, &q(&[1; 20], 4000, 5, "&ip=6.6.6.6"), "10.0.0.4").unwrap();
    assert!(!r.peers.iter().any(|p| p.ip().to_string() == "6.6.6.6"));
    let r = get(&t, &q(&[1; 20], 5000, 5, ""), "10.0.0.5").unwrap();
    assert!(r.peers.contains(&"10.0.0.4:4000".parse().unwrap()));
    assert!(!r.peers.iter().any(|p| p.ip().to_string() == "6.6.6.6"));
}

#[test]
fn ipv6_peers_in_peers6() {
    let t = Tracker::new(TrackerConfig::default());
    get(&t, &q(&[1; 20], 1000, 5, ""), "2001:db8::1").unwrap();
    let mut out = Vec::new();
    t.handle_http(
        q(&[1; 20], 1001, 5, "").as_bytes(),
        "2001:db8::2".parse().unwrap(),
        0,
        &mut out,
    );
    let s = String::from_utf8_lossy(&out);
    assert!(s.contains("6:peers618:"), "{s}");
    let r = parse_announce_response(&out).unwrap();
    assert_eq!(
        r.peers,
        vec!["[2001:db8::1]:1000".parse::<SocketAddr>().unwrap()]
    );
}

#[test]
fn bad_requests_get_failure_reasons() {
    let t = Tracker::new(TrackerConfig::default());
    assert_eq!(failure(&t, &q(&[1; 19], 1000, 5, "")), "invalid info_hash");
    assert_eq!(
        failure(&t, &q(&[1; 20], 1000, 5, "&numwant=-1")),
        "invalid numwant"
    );
    assert_eq!(failure(&t, &q(&[1; 20], 0, 5, "")), "invalid port");
    assert_eq!(failure(&t, "/announce"), "missing info_hash");
    assert_eq!(failure(&t, "/announce?info_hash=%zz"), "invalid info_hash");
    let big = format!("{}&junk={}", q(&[1; 20], 1000, 5, ""), "x".repeat(1 << 20));
    assert!(
        get(&t, &big, "10.0.0.1").is_ok(),
        "the handler copes; the framing refuses it (see below)"
    );
    let mut out = Vec::new();
    let a = t.handle_http(b"/nothing", "10.0.0.1".parse().unwrap(), 0, &mut out);
    assert_eq!(a.status, 404);
    assert!(t.stats().get(Kind::HttpError) >= 6);
    assert_eq!(t.store().torrent_count(), 1);
}

#[test]
fn numwant_and_seeders_over_http() {
    let t = Tracker::new(TrackerConfig::default());
    for i in 0..300u32 {
        let ip = format!("10.0.{}.{}", i / 200, i % 200 + 1);
        get(&t, &q(&[1; 20], 1000, u64::from(i % 2), ""), &ip).unwrap();
    }
    assert_eq!(
        get(&t, &q(&[1; 20], 1000, 1, ""), "10.9.0.1")
            .unwrap()
            .peers
            .len(),
        50
    );
    assert_eq!(
        get(&t, &q(&[1; 20], 1000, 1, "&numwant=5000"), "10.9.0.1")
            .unwrap()
            .peers
            .len(),
        200
    );
    // A seeder gets leechers only (leechers announced left=1: odd i).
    let r = get(&t, &q(&[1; 20], 1000, 0, "&numwant=200"), "10.0.0.1").unwrap();
    assert_eq!(r.peers.len(), 151);
}

#[test]
fn whitelist_mode() {
    let cfg = TrackerConfig {
        whitelist: Some(
            shoal_tracker::parse_whitelist(&format!("# comment\n\n{}\n", "01".repeat(20)), "w")
                .unwrap(),
        ),
        ..Default::default()
    };
    let t = Tracker::new(cfg);
    assert!(get(&t, &q(&[1; 20], 1000, 5, ""), "10.0.0.1").is_ok());
    assert_eq!(
        failure(&t, &q(&[2; 20], 1000, 5, "")),
        "torrent not allowed"
    );
    assert!(shoal_tracker::parse_whitelist("xyz\n", "w").is_err());
}

#[test]
fn scrape_one_and_many() {
    let t = Tracker::new(TrackerConfig::default());
    get(&t, &q(&[1; 20], 1000, 0, "&event=completed"), "10.0.0.1").unwrap();
    get(&t, &q(&[1; 20], 1000, 5, ""), "10.0.0.2").unwrap();
    let mut out = Vec::new();
    let target = format!(
        "/scrape?info_hash={}&info_hash={}",
        encode(&[1; 20]),
        encode(&[2; 20])
    );
    t.handle_http(target.as_bytes(), "10.0.0.3".parse().unwrap(), 0, &mut out);
    let r = parse_scrape_response(&out).unwrap();
    assert_eq!(
        r,
        vec![
            (
                [1; 20],
                ScrapeEntry {
                    complete: 1,
                    downloaded: 1,
                    incomplete: 1
                }
            ),
            ([2; 20], ScrapeEntry::default())
        ]
    );
    out.clear();
    t.handle_http(b"/scrape", "10.0.0.3".parse().unwrap(), 0, &mut out);
    assert!(matches!(
        parse_scrape_response(&out),
        Err(ResponseError::Failure(_))
    ));
}

#[test]
fn stats_and_metrics() {
    let t = Tracker::new(TrackerConfig::default());
    get(&t, &q(&[1; 20], 1000, 0, ""), "10.0.0.1").unwrap();
    let mut out = Vec::new();
    let a = t.handle_http(b"/stats", "127.0.0.1".parse().unwrap(), 0, &mut out);
    assert_eq!(a.content_type, "application/json");
    let s = String::from_utf8(out.clone()).unwrap();
    assert!(
        s.contains("\"http_announce\":1")
            && s.contains("\"torrents\":1")
            && s.contains("\"seeders\":1"),
        "{s}"
    );
    t.handle_http(b"/metrics", "127.0.0.1".parse().unwrap(), 0, &mut out);
    let s = String::from_utf8(out).unwrap();
    assert!(
        s.contains("shoal_tracker_requests_total{kind=\"http_announce\"} 1"),
        "{s}"
    );
    assert!(s.contains("shoal_tracker_seeders 1"));
}

#[test]
fn framing_keep_alive_pipelining_and_limits() {
    let two = b"GET /announce?a=1 HTTP/1.1\r\nHost: x\r\n\r\nGET http://x:1/scrape?b HTTP/1.1\r\nConnection: close\r\n\r\n";
    let h = parse_head(two).unwrap().unwrap();
    assert_eq!(&two[h.target.clone()], b"/announce?a=1");
    assert!(h.keep_alive);
    let rest = &two[h.head_len..];
    let h2 = parse_head(rest).unwrap().unwrap();
    assert_eq!(&rest[h2.target.clone()], b"/scrape?b");
    assert!(!h2.keep_alive);
    assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost"), Ok(None));
    let h = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
    assert!(!h.keep_alive);
    let h = parse_head(b"GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.keep_alive);
    let h = parse_head(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap()
        .unwrap();
    assert_eq!(h.body_len, 5);
    assert_eq!(
        parse_head(b"POST / HTTP/1.1\r\n\r\n"),
        Err(HeadError::Method)
    );
    assert_eq!(
        parse_head(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Err(HeadError::Body)
    );
    assert_eq!(parse_head(b"GET /\r\n\r\n"), Err(HeadError::Malformed));
    assert_eq!(
        parse_head(b"\x00\x01\x02 \r\n\r\n"),
        Err(HeadError::Malformed)
    );
    // A 1 MB query string: refused once MAX_HEAD bytes are buffered.
    let mut big = b"GET /announce?".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1 << 20));
    assert_eq!(parse_head(&big[..MAX_HEAD - 1]), Ok(None));
    assert_eq!(parse_head(&big), Err(HeadError::TooLarge));
    assert_eq!(HeadError::TooLarge.status(), 414);
    let mut out = Vec::new();
    write_response(&mut out, 200, "text/plain", b"d1:ai1ee", true, false);
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nd1:ai1ee"
    );
    out.clear();
    write_response(&mut out, 200, "text/plain", b"d1:ai1ee", false, true);
    assert!(out.ends_with(b"Connection: close\r\n\r\n"));
}

proptest::proptest! {
    #[test]
    fn any_target_is_handled(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let t = Tracker::new(TrackerConfig::default());
        let mut target = b"/announce?".to_vec();
        target.extend(&b);
        let mut out = Vec::new();
        t.handle_http(&target, "127.0.0.1".parse().unwrap(), 0, &mut out);
        proptest::prop_assert!(shoal_bencode::decode(&out).is_ok());
        let _ = parse_head(&b);
    }
}
