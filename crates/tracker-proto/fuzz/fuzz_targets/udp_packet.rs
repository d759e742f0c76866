//! Fuzz the BEP 15 packet parsers (requests and both response forms): any
//! bytes must give a value or an error, never a panic; a parsed announce
//! must re-encode to the same 98 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_tracker_proto::udp;

fuzz_target!(|data: &[u8]| {
    match udp::parse_request(data) {
        Ok(udp::Request::Announce(a)) => {
            let mut out = Vec::new();
            udp::write_announce_request(&mut out, &a);
            // Events other than 0..=3 read as "none", so compare the rest.
            assert_eq!(out[..80], data[..80]);
            assert_eq!(out[84..98], data[84..98]);
        }
        Ok(r) => {
            assert!(r.scrape_hashes().count() <= udp::MAX_SCRAPE_HASHES);
        }
        Err(_) => {}
    }
    let _ = udp::parse_response(data, false);
    let _ = udp::parse_response(data, true);
});
