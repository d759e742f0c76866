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
    // libtorrent 2.0's v2-only and hybrid torrents (with padding files).
    for (file, version) in [
        ("v2-single", shoal_metainfo::MetaVersion::V2),
        ("v2-multi", shoal_metainfo::MetaVersion::V2),
        ("hybrid-single", shoal_metainfo::MetaVersion::Hybrid),
        ("hybrid-multi", shoal_metainfo::MetaVersion::Hybrid),
    ] {
        let path = format!(
            "{}/fuzz/corpus/torrent_parse/{file}.torrent",
            env!("CARGO_MANIFEST_DIR")
        );
        let t = shoal_metainfo::Torrent::from_bytes(&std::fs::read(&path).expect("read"))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(t.meta_version(), version, "{file}");
        assert!(t.info_hash_v2().is_some(), "{file}");
    }
}

#[test]
fn replay_magnet_parse_corpus() {
    assert!(replay("magnet_parse", harness::magnet) >= 2);
}

#[test]
fn replay_merkle_proof_corpus() {
    assert!(replay("merkle_proof", harness::merkle_proof) >= 4);
}
