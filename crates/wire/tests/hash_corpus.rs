//! Replays the `hash_msg` fuzz corpus through its harness, so the seeds
//! and any crash artifacts copied there stay regression tests.

#[path = "../fuzz/hash_harness.rs"]
mod hash_harness;

#[test]
fn replay_hash_msg_corpus() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/hash_msg");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        hash_harness::run(&data);
        n += 1;
    }
    assert!(n >= 5, "corpus has {n} files");
    // The seeds parse as they say.
    let seed = |name: &str| {
        let data = std::fs::read(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/corpus/hash_msg")
                .join(name),
        )
        .unwrap();
        shoal_wire::HashMessage::parse(21 + data[0] % 3, &data[1..])
    };
    assert!(matches!(
        seed("request"),
        Ok(Some(shoal_wire::HashMessage::Request(_)))
    ));
    assert!(matches!(
        seed("hashes"),
        Ok(Some(shoal_wire::HashMessage::Hashes { ref hashes, .. })) if hashes.len() == 7
    ));
    assert!(seed("short").is_err() && seed("hashes-ragged").is_err());
}
