//! Replays the fuzz seed corpus (crates/tracker-proto/fuzz/corpus) through
//! the same parsers and checks the fuzz targets do, so CI covers them
//! without a nightly toolchain.

use std::path::Path;

use shoal_tracker_proto::{http, udp};

fn files(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    assert!(out.len() >= 5, "corpus {target} too small");
    out
}

#[test]
fn http_query_corpus() {
    let mut parsed = 0;
    for data in files("http_query") {
        if let Ok(a) = http::parse_announce(&data) {
            parsed += 1;
            let url = http::announce_url(
                "http://t/announce",
                &http::AnnounceQuery {
                    info_hash: &a.info_hash,
                    peer_id: &a.peer_id,
                    port: a.port,
                    uploaded: a.uploaded,
                    downloaded: a.downloaded,
                    left: a.left,
                    event: a.event,
                    numwant: a.numwant,
                    key: None,
                    tracker_id: None,
                },
            );
            let q = url.split_once('?').unwrap().1;
            let b = http::parse_announce(q.as_bytes()).unwrap();
            assert_eq!(
                (a.info_hash, a.peer_id, a.port, a.left),
                (b.info_hash, b.peer_id, b.port, b.left)
            );
        }
        let _ = http::parse_scrape(&data, 70);
        let _ = http::parse_announce_response(&data);
        let _ = http::parse_scrape_response(&data);
    }
    assert!(parsed >= 3, "the corpus should hold valid announces too");
}

#[test]
fn udp_packet_corpus() {
    let mut announces = 0;
    for data in files("udp_packet") {
        match udp::parse_request(&data) {
            Ok(udp::Request::Announce(a)) => {
                announces += 1;
                let mut out = Vec::new();
                udp::write_announce_request(&mut out, &a);
                assert_eq!(out[..80], data[..80]);
                assert_eq!(out[84..98], data[84..98]);
            }
            Ok(r) => assert!(r.scrape_hashes().count() <= udp::MAX_SCRAPE_HASHES),
            Err(_) => {}
        }
        let _ = udp::parse_response(&data, false);
        let _ = udp::parse_response(&data, true);
    }
    assert!(announces >= 2);
}
