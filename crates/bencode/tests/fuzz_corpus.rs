//! Replays the fuzz corpus through the fuzz harness, so every CI run
//! covers the inputs the fuzzer found interesting.

#[path = "../fuzz/harness.rs"]
mod harness;

#[test]
fn replay_bencode_decode_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/bencode_decode");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("corpus dir") {
        let path = entry.expect("entry").path();
        harness::run(&std::fs::read(&path).expect("read"));
        n += 1;
    }
    assert!(n >= 5, "corpus has only {n} files");
}
