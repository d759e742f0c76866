//! Replays every file of the fuzz corpus through the decoder harness, so
//! seeds and any crash artifacts copied into the corpus stay regression
//! tests under a plain `cargo test`.

use std::path::PathBuf;

#[path = "../fuzz/harness.rs"]
mod harness;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/wire_decode")
}

fn corpus_file(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(name)).unwrap()
}

#[test]
fn replay_every_corpus_file() {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus has only {} files", files.len());
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| harness::run(&data));
        assert!(result.is_ok(), "corpus file {} failed", path.display());
    }
}

#[test]
fn seeds_exercise_what_they_say() {
    let decode = |name: &str| {
        let data = corpus_file(name);
        let (mut dec, stream) = harness::decoder_for(&data);
        harness::decode_all(&mut dec, stream, stream.len())
    };
    let o = decode("simple-state");
    assert_eq!((o.messages.len(), o.error.is_none()), (5, true));
    let o = decode("fast");
    assert_eq!((o.messages.len(), o.error.is_none()), (6, true));
    let o = decode("extended-handshake");
    let Some(shoal_wire::Message::Extended { id: 0, payload }) = o.messages.first() else {
        panic!("{o:?}");
    };
    let hs = shoal_wire::ExtensionHandshake::parse(payload).unwrap();
    assert_eq!(hs.extension_id("ut_pex"), Some(2));
    assert!(decode("huge-prefix").error.is_some());
    assert!(decode("have-length-3").error.is_some());
    assert!(decode("not-negotiated").error.is_some());
    let o = decode("partial-tail");
    assert_eq!((o.messages.len(), o.leftover), (1, 7));
    let o = decode("big-request-limit");
    assert_eq!((o.messages.len(), o.error.is_none()), (1, true));
}
