use std::net::SocketAddr;

use shoal_tracker_proto::http::*;
use shoal_tracker_proto::{urlenc, Event};

const IH: [u8; 20] = [
    0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x12,
    0x34, 0x56, 0x78, b'+',
];

fn q(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[test]
fn url_round_trip_through_parser() {
    let pid = *b"-SH0001-abcdefghijkl";
    let url = announce_url(
        "http://t.example/announce",
        &AnnounceQuery {
            info_hash: &IH,
            peer_id: &pid,
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: Event::Started,
            numwant: Some(80),
            key: Some(0xdeadbeef),
            tracker_id: Some(b"t id"),
            crypto: CryptoSupport::Unstated,
        },
    );
    let query = url.split_once('?').unwrap().1;
    let r = parse_announce(query.as_bytes()).unwrap();
    assert_eq!(r.info_hash, IH);
    assert_eq!(r.peer_id, pid);
    assert_eq!((r.port, r.uploaded, r.downloaded, r.left), (6881, 1, 2, 3));
    assert_eq!(r.event, Event::Started);
    assert_eq!(r.numwant, Some(80));
    assert_eq!(r.key, Some(&b"DEADBEEF"[..]));
    assert_eq!(urlenc::decode(r.tracker_id.unwrap()).unwrap(), b"t id");
    assert!(r.compact);
    // An existing query in the base URL is continued with '&'.
    let url2 = announce_url(
        "http://t/announce?passkey=x",
        &AnnounceQuery {
            key: None,
            tracker_id: None,
            numwant: None,
            event: Event::None,
            ..AnnounceQuery {
                info_hash: &IH,
                peer_id: &pid,
                port: 1,
                uploaded: 0,
                downloaded: 0,
                left: 0,
                event: Event::None,
                numwant: None,
                key: None,
                tracker_id: None,
                crypto: CryptoSupport::Unstated,
            }
        },
    );
    assert!(
        url2.starts_with("http://t/announce?passkey=x&info_hash="),
        "{url2}"
    );
    assert!(!url2.contains("event="));
    assert!(!url2.contains("crypto"), "{url2}");
}

/// `supportcrypto=1` (and `requirecrypto=1`) as Transmission sends them.
#[test]
fn crypto_support_in_the_announce_url() {
    let pid = *b"-SH0001-abcdefghijkl";
    let url = |crypto| {
        announce_url(
            "http://t/announce",
            &AnnounceQuery {
                info_hash: &IH,
                peer_id: &pid,
                port: 1,
                uploaded: 0,
                downloaded: 0,
                left: 0,
                event: Event::None,
                numwant: None,
                key: None,
                tracker_id: None,
                crypto,
            },
        )
    };
    let supported = url(CryptoSupport::Supported);
    assert!(supported.ends_with("&supportcrypto=1"), "{supported}");
    assert!(!supported.contains("requirecrypto"), "{supported}");
    let required = url(CryptoSupport::Required);
    assert!(
        required.ends_with("&supportcrypto=1&requirecrypto=1"),
        "{required}"
    );
    // The parser still reads such a query.
    let query = required.split_once('?').unwrap().1;
    assert_eq!(parse_announce(query.as_bytes()).unwrap().port, 1);
}

#[test]
fn raw_byte_decoding_including_unescaped_and_lowercase() {
    // Mixed: some bytes escaped (lower-case hex), printable ones raw.
    let query = "info_hash=%124Vx%9a%BC%de%f1%23Eg%89%ab%cd%ef%124Vx%2B&peer_id=ABCDEFGHIJKLMNOPQRST&port=1";
    let r = parse_announce(query.as_bytes()).unwrap();
    assert_eq!(r.info_hash, IH);
    // A literal '+' is the byte 0x2B.
    let query =
        "info_hash=%124Vx%9a%BC%de%f1%23Eg%89%ab%cd%ef%124Vx+&peer_id=ABCDEFGHIJKLMNOPQRST&port=1";
    assert_eq!(parse_announce(query.as_bytes()).unwrap().info_hash, IH);
}

fn base(extra: &str) -> Vec<u8> {
    q(&format!(
        "info_hash={}&peer_id={}&port=6881{extra}",
        urlenc::encode(&IH),
        urlenc::encode(b"-XX0000-000000000000")
    ))
}

#[test]
fn rejects_bad_requests_with_reasons() {
    let short = format!(
        "info_hash={}&peer_id=ABCDEFGHIJKLMNOPQRST&port=1",
        urlenc::encode(&IH[..19])
    );
    assert_eq!(
        parse_announce(short.as_bytes()),
        Err(QueryError::Invalid("info_hash"))
    );
    let long = format!(
        "info_hash={}&peer_id=ABCDEFGHIJKLMNOPQRST&port=1",
        urlenc::encode(&[0u8; 21])
    );
    assert_eq!(
        parse_announce(long.as_bytes()),
        Err(QueryError::Invalid("info_hash"))
    );
    assert_eq!(
        parse_announce(b"peer_id=ABCDEFGHIJKLMNOPQRST&port=1"),
        Err(QueryError::Missing("info_hash"))
    );
    assert_eq!(
        parse_announce(&base("&numwant=-1")).err(),
        Some(QueryError::Invalid("numwant"))
    );
    assert_eq!(
        parse_announce(&base("&event=bogus")).err(),
        Some(QueryError::Invalid("event"))
    );
    assert_eq!(
        parse_announce(&base("&uploaded=-5")).err(),
        Some(QueryError::Invalid("uploaded"))
    );
    assert_eq!(
        parse_announce(&base("&left=99999999999999999999999")).err(),
        Some(QueryError::Invalid("left"))
    );
    let bad_escape = format!(
        "info_hash=%G0{}&peer_id=ABCDEFGHIJKLMNOPQRST&port=1",
        "a".repeat(19)
    );
    assert_eq!(
        parse_announce(bad_escape.as_bytes()),
        Err(QueryError::Invalid("info_hash"))
    );
    let port0 = format!(
        "info_hash={}&peer_id=ABCDEFGHIJKLMNOPQRST&port=0",
        urlenc::encode(&IH)
    );
    assert_eq!(
        parse_announce(port0.as_bytes()),
        Err(QueryError::Invalid("port"))
    );
    let port_big = format!(
        "info_hash={}&peer_id=ABCDEFGHIJKLMNOPQRST&port=65536",
        urlenc::encode(&IH)
    );
    assert_eq!(
        parse_announce(port_big.as_bytes()),
        Err(QueryError::Invalid("port"))
    );
    // The failure text is what clients show.
    assert_eq!(
        QueryError::Invalid("numwant").to_string(),
        "invalid numwant"
    );
}

#[test]
fn options_and_defaults() {
    let b = base("");
    let r = parse_announce(&b).unwrap();
    assert_eq!(
        (r.event, r.compact, r.no_peer_id, r.numwant, r.left),
        (Event::None, true, false, None, 0)
    );
    let b = base("&compact=0&no_peer_id=1&numwant=99999999999&event=paused&event=started");
    let r = parse_announce(&b).unwrap();
    assert!(!r.compact && r.no_peer_id);
    assert_eq!(r.numwant, Some(u32::MAX));
    assert_eq!(r.event, Event::None, "first event wins; paused is no event");
    for (e, want) in [
        ("started", Event::Started),
        ("stopped", Event::Stopped),
        ("completed", Event::Completed),
        ("", Event::None),
    ] {
        assert_eq!(
            parse_announce(&base(&format!("&event={e}"))).unwrap().event,
            want
        );
    }
}

#[test]
fn huge_query_is_handled() {
    let mut big = base("&x=");
    big.extend(std::iter::repeat_n(b'a', 1 << 20));
    assert!(parse_announce(&big).is_ok());
    let mut big = vec![b'&'; 1 << 20];
    big.extend(base(""));
    assert!(parse_announce(&big).is_ok());
    assert!(parse_announce(&vec![b'%'; 1 << 20]).is_err());
}

#[test]
fn scrape_parse_and_caps() {
    let one = format!("info_hash={}", urlenc::encode(&IH));
    assert_eq!(parse_scrape(one.as_bytes(), 10).unwrap(), vec![IH]);
    let two = format!("{one}&info_hash={}", urlenc::encode(&[7; 20]));
    assert_eq!(parse_scrape(two.as_bytes(), 10).unwrap(), vec![IH, [7; 20]]);
    assert_eq!(
        parse_scrape(two.as_bytes(), 1),
        Err(QueryError::TooManyHashes(1))
    );
    assert_eq!(parse_scrape(b"", 1).unwrap(), Vec::<[u8; 20]>::new());
    assert!(parse_scrape(b"info_hash=abc", 1).is_err());
}

#[test]
fn scrape_url_rule() {
    assert_eq!(
        scrape_url("http://x/announce", &[]).unwrap(),
        "http://x/scrape"
    );
    assert_eq!(
        scrape_url("http://x/a/announce.php?k=1", &[[0x41; 20]]).unwrap(),
        format!("http://x/a/scrape.php?k=1&info_hash={}", "A".repeat(20))
    );
    assert_eq!(scrape_url("http://x/a", &[]), None);
    assert_eq!(scrape_url("http://x/announce/x", &[]), None);
}

#[test]
fn announce_response_round_trip() {
    let mut peers4 = Vec::new();
    shoal_tracker_proto::write_compact_v4(&mut peers4, [10, 0, 0, 1].into(), 6881);
    shoal_tracker_proto::write_compact_v4(&mut peers4, [10, 0, 0, 2].into(), 6882);
    let mut peers6 = Vec::new();
    shoal_tracker_proto::write_compact_v6(&mut peers6, "2001:db8::1".parse().unwrap(), 51413);
    let h = AnnounceHeader {
        interval: 1800,
        min_interval: Some(900),
        complete: 3,
        incomplete: 4,
        tracker_id: Some(b"abc"),
        warning: Some("be careful"),
    };
    for form in [PeerForm::Compact, PeerForm::Dict] {
        let mut out = Vec::new();
        write_announce_response(&mut out, &h, &peers4, &peers6, form);
        // Canonical bencode: keys sorted (the decoder accepts it and re-encoding gives the same bytes).
        let v = shoal_bencode::decode(&out).unwrap();
        assert_eq!(v.to_bencode(), out, "keys sorted");
        let r = parse_announce_response(&out).unwrap();
        assert_eq!(r.interval, 1800);
        assert_eq!(r.min_interval, Some(900));
        assert_eq!((r.complete, r.incomplete), (Some(3), Some(4)));
        assert_eq!(r.tracker_id.as_deref(), Some(&b"abc"[..]));
        assert_eq!(r.warning.as_deref(), Some("be careful"));
        let want: Vec<SocketAddr> = vec![
            "10.0.0.1:6881".parse().unwrap(),
            "10.0.0.2:6882".parse().unwrap(),
            "[2001:db8::1]:51413".parse().unwrap(),
        ];
        assert_eq!(r.peers, want);
    }
    let mut out = Vec::new();
    write_announce_response(
        &mut out,
        &AnnounceHeader {
            interval: 5,
            min_interval: None,
            complete: 0,
            incomplete: 0,
            tracker_id: None,
            warning: None,
        },
        &[],
        &[],
        PeerForm::Compact,
    );
    assert_eq!(
        out,
        b"d8:completei0e10:incompletei0e8:intervali5e5:peers0:e"
    );
}

#[test]
fn failure_reason_surfaces() {
    let mut out = Vec::new();
    write_failure(&mut out, "unregistered torrent");
    assert_eq!(out, b"d14:failure reason20:unregistered torrente");
    assert_eq!(
        parse_announce_response(&out),
        Err(ResponseError::Failure("unregistered torrent".into()))
    );
    assert_eq!(
        parse_scrape_response(&out),
        Err(ResponseError::Failure("unregistered torrent".into()))
    );
    assert!(parse_announce_response(b"garbage").is_err());
    assert!(parse_announce_response(b"le").is_err());
}

#[test]
fn scrape_response_round_trip() {
    let mut entries = vec![
        (
            [9; 20],
            ScrapeEntry {
                complete: 1,
                downloaded: 2,
                incomplete: 3,
            },
        ),
        ([1; 20], ScrapeEntry::default()),
        ([9; 20], ScrapeEntry::default()),
    ];
    let mut out = Vec::new();
    write_scrape_response(&mut out, &mut entries);
    let got = parse_scrape_response(&out).unwrap();
    assert_eq!(
        got,
        vec![
            ([1; 20], ScrapeEntry::default()),
            (
                [9; 20],
                ScrapeEntry {
                    complete: 1,
                    downloaded: 2,
                    incomplete: 3
                }
            )
        ]
    );
    assert_eq!(shoal_bencode::decode(&out).unwrap().to_bencode(), out);
}

#[test]
fn dict_peers_tolerate_junk() {
    let body = b"d8:intervali60e5:peersld2:ip7:1.2.3.44:porti80eed2:ip4:host4:porti1eed2:ip7:1.2.3.54:porti0eei5eee";
    let r = parse_announce_response(body).unwrap();
    assert_eq!(r.peers, vec!["1.2.3.4:80".parse::<SocketAddr>().unwrap()]);
}
