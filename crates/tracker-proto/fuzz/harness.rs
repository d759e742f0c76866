//! The checks shared by the tracker-proto fuzz targets and the corpus
//! replay test (`tests/fuzz_corpus.rs`): any bytes must give a value or an
//! error, never a panic, and what parses must survive a round trip.
#![allow(dead_code)]

use shoal_tracker_proto::{http, udp};

/// HTTP query and response parsers; a parsed announce must survive a
/// rebuild/reparse round trip. Returns whether `data` parsed as an announce.
pub fn http_query(data: &[u8]) -> bool {
    let parsed = match http::parse_announce(data) {
        Ok(a) => {
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
                    crypto: http::CryptoSupport::Unstated,
                },
            );
            let q = url.split_once('?').map(|x| x.1).unwrap_or_default();
            let b = http::parse_announce(q.as_bytes()).expect("rebuilt query must parse");
            assert_eq!(
                (a.info_hash, a.peer_id, a.port, a.left),
                (b.info_hash, b.peer_id, b.port, b.left)
            );
            true
        }
        Err(_) => false,
    };
    let _ = http::parse_scrape(data, 70);
    let _ = http::parse_announce_response(data);
    let _ = http::parse_scrape_response(data);
    parsed
}

/// BEP 15 request and response parsers; a parsed announce must re-encode
/// to the same 98 bytes. Returns whether `data` parsed as an announce.
pub fn udp_packet(data: &[u8]) -> bool {
    let announce = match udp::parse_request(data) {
        Ok(udp::Request::Announce(a)) => {
            let mut out = Vec::new();
            udp::write_announce_request(&mut out, &a);
            // Events other than 0..=3 read as "none", so compare the rest.
            assert_eq!(out[..80], data[..80]);
            assert_eq!(out[84..98], data[84..98]);
            true
        }
        Ok(r) => {
            assert!(r.scrape_hashes().count() <= udp::MAX_SCRAPE_HASHES);
            false
        }
        Err(_) => false,
    };
    let _ = udp::parse_response(data, false);
    let _ = udp::parse_response(data, true);
    announce
}
