use shoal_tracker_proto::udp::*;
use shoal_tracker_proto::Event;

fn announce() -> AnnounceRequest {
    AnnounceRequest {
        connection_id: 0x1122334455667788,
        transaction_id: 42,
        info_hash: [1; 20],
        peer_id: [2; 20],
        downloaded: 3,
        left: 4,
        uploaded: 5,
        event: Event::Completed,
        ip: 0,
        key: 7,
        num_want: -1,
        port: 6881,
    }
}

#[test]
fn connect_round_trip() {
    let mut b = Vec::new();
    write_connect_request(&mut b, 99);
    assert_eq!(b.len(), 16);
    assert_eq!(&b[..8], &[0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80]);
    assert_eq!(
        parse_request(&b).unwrap(),
        Request::Connect { transaction_id: 99 }
    );
    b[0] = 1;
    assert_eq!(
        parse_request(&b).unwrap_err().error,
        UdpError::BadProtocolId
    );
    assert_eq!(parse_request(&b).unwrap_err().header, None);
    let mut r = Vec::new();
    write_connect_response(&mut r, 99, 0xabc);
    assert_eq!(
        parse_response(&r, false).unwrap(),
        Response::Connect {
            transaction_id: 99,
            connection_id: 0xabc
        }
    );
}

#[test]
fn announce_round_trip_and_truncation() {
    let mut b = Vec::new();
    write_announce_request(&mut b, &announce());
    assert_eq!(b.len(), ANNOUNCE_REQUEST_LEN);
    assert_eq!(parse_request(&b).unwrap(), Request::Announce(announce()));
    // BEP 41 options after the fixed part are ignored.
    let mut ext = b.clone();
    ext.extend_from_slice(&[2, 3, b'/', b'a', b'b', 0]);
    assert_eq!(parse_request(&ext).unwrap(), Request::Announce(announce()));
    for len in 0..ANNOUNCE_REQUEST_LEN {
        let e = parse_request(&b[..len]).unwrap_err();
        if len < 16 {
            assert_eq!(
                e,
                RequestError {
                    error: UdpError::TooShort,
                    header: None
                }
            );
        } else {
            assert_eq!(
                e,
                RequestError {
                    error: UdpError::Truncated("announce"),
                    header: Some((0x1122334455667788, 42))
                }
            );
        }
    }
}

#[test]
fn scrape_round_trip_and_cap() {
    let hashes: Vec<[u8; 20]> = (0..100u8).map(|i| [i; 20]).collect();
    let mut b = Vec::new();
    write_scrape_request(&mut b, 5, 6, &hashes);
    assert_eq!(b.len(), 16 + 20 * MAX_SCRAPE_HASHES);
    let r = parse_request(&b).unwrap();
    assert_eq!(r.scrape_hashes().count(), MAX_SCRAPE_HASHES);
    // A raw packet with more hashes than the cap is answered for the first 70 only.
    let mut raw = b[..16].to_vec();
    for h in &hashes {
        raw.extend_from_slice(h);
    }
    raw.extend_from_slice(&[1, 2, 3]);
    let r = parse_request(&raw).unwrap();
    let got: Vec<_> = r.scrape_hashes().collect();
    assert_eq!(got, hashes[..MAX_SCRAPE_HASHES].to_vec());
    assert_eq!(
        parse_request(&b[..16 + 19]).unwrap_err().error,
        UdpError::Truncated("scrape")
    );
    let mut resp = Vec::new();
    write_scrape_response_header(&mut resp, 6);
    write_scrape_entry(&mut resp, 1, 2, 3);
    write_scrape_entry(&mut resp, 4, 5, 6);
    assert_eq!(
        parse_response(&resp, false).unwrap(),
        Response::Scrape {
            transaction_id: 6,
            entries: vec![
                ScrapeCounts {
                    seeders: 1,
                    completed: 2,
                    leechers: 3
                },
                ScrapeCounts {
                    seeders: 4,
                    completed: 5,
                    leechers: 6
                }
            ]
        }
    );
}

#[test]
fn unknown_action_and_errors() {
    let mut b = vec![0u8; 16];
    b[11] = 9;
    b[15] = 1;
    assert_eq!(
        parse_request(&b).unwrap_err(),
        RequestError {
            error: UdpError::UnknownAction(9),
            header: Some((0, 1))
        }
    );
    let mut e = Vec::new();
    write_error_response(&mut e, 1, "nope");
    assert_eq!(
        parse_response(&e, false).unwrap(),
        Response::Error {
            transaction_id: 1,
            message: "nope".into()
        }
    );
    assert_eq!(parse_response(&e[..7], false), Err(UdpError::TooShort));
}

#[test]
fn announce_response_v4_v6() {
    let mut r = Vec::new();
    write_announce_response_header(&mut r, 3, 1800, 2, 1);
    shoal_tracker_proto::write_compact_v4(&mut r, [127, 0, 0, 1].into(), 1000);
    let got = parse_response(&r, false).unwrap();
    assert_eq!(
        got,
        Response::Announce {
            transaction_id: 3,
            interval: 1800,
            leechers: 2,
            seeders: 1,
            peers: vec!["127.0.0.1:1000".parse().unwrap()]
        }
    );
    let mut r = Vec::new();
    write_announce_response_header(&mut r, 3, 1800, 2, 1);
    shoal_tracker_proto::write_compact_v6(&mut r, "::1".parse().unwrap(), 1000);
    let got = parse_response(&r, true).unwrap();
    assert_eq!(
        got,
        Response::Announce {
            transaction_id: 3,
            interval: 1800,
            leechers: 2,
            seeders: 1,
            peers: vec!["[::1]:1000".parse().unwrap()]
        }
    );
    assert_eq!(MAX_PEERS_V4, 196);
    assert_eq!(MAX_PEERS_V6, 65);
}

proptest::proptest! {
    #[test]
    fn parse_request_never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let _ = parse_request(&b);
        let _ = parse_response(&b, false);
        let _ = parse_response(&b, true);
    }

    #[test]
    fn parse_announce_never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let _ = shoal_tracker_proto::http::parse_announce(&b);
        let _ = shoal_tracker_proto::http::parse_scrape(&b, 70);
        let _ = shoal_tracker_proto::http::parse_announce_response(&b);
    }
}
