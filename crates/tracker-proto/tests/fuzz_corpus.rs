//! Replays the fuzz seed corpus (crates/tracker-proto/fuzz/corpus) through
//! the fuzz harness (`fuzz/harness.rs`), so CI covers it without a nightly
//! toolchain.

use std::path::Path;

#[path = "../fuzz/harness.rs"]
mod harness;

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
    let parsed = files("http_query")
        .iter()
        .filter(|d| harness::http_query(d))
        .count();
    assert!(parsed >= 3, "the corpus should hold valid announces too");
}

#[test]
fn udp_packet_corpus() {
    let announces = files("udp_packet")
        .iter()
        .filter(|d| harness::udp_packet(d))
        .count();
    assert!(announces >= 2);
}
