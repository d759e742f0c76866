//! Fuzz the HTTP tracker query parsers (announce and scrape) and the
//! response parsers: any bytes must give a value or an error, never a panic;
//! a parsed announce must survive a rebuild/reparse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_tracker_proto::http;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = http::parse_announce(data) {
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
        let q = url.split_once('?').map(|x| x.1).unwrap_or_default();
        let b = http::parse_announce(q.as_bytes()).expect("rebuilt query must parse");
        assert_eq!(
            (a.info_hash, a.peer_id, a.port, a.left),
            (b.info_hash, b.peer_id, b.port, b.left)
        );
    }
    let _ = http::parse_scrape(data, 70);
    let _ = http::parse_announce_response(data);
    let _ = http::parse_scrape_response(data);
});
