//! Replays the fuzz corpora through the fuzz harness, so every CI run
//! covers the inputs the fuzzer found interesting.

#[path = "../fuzz/harness.rs"]
mod harness;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = format!("{}/fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        check(&std::fs::read(entry.expect("entry").path()).expect("read"));
        n += 1;
    }
    n
}

#[test]
fn replay_torrent_parse_corpus() {
    assert!(replay("torrent_parse", harness::torrent) >= 4);
    // The corpus holds real torrents that must parse.
    let real = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/corpus/torrent_parse/multi.torrent"
    );
    assert!(shoal_metainfo::Torrent::from_bytes(&std::fs::read(real).expect("read")).is_ok());
}

#[test]
fn replay_magnet_parse_corpus() {
    assert!(replay("magnet_parse", harness::magnet) >= 2);
}
