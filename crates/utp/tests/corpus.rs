//! Replays every file of the fuzz corpus through the fuzz harness, so seeds
//! and any crash artifacts copied into the corpus stay regression tests
//! under a plain `cargo test`.

use std::path::PathBuf;

#[path = "../fuzz/harness.rs"]
mod harness;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/utp_packet")
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
    use shoal_utp::packet::PacketType;
    let p = |name: &str| {
        let data = corpus_file(name);
        harness::check_roundtrip(&data)
            .map(|p| (p.header.ty, p.sack.map(<[u8]>::len), p.payload.len()))
    };
    assert_eq!(p("syn"), Some((PacketType::Syn, None, 0)));
    assert_eq!(p("data"), Some((PacketType::Data, None, 11)));
    assert_eq!(p("state-sack"), Some((PacketType::State, Some(4), 0)));
    assert_eq!(p("unknown-ext"), Some((PacketType::State, Some(4), 1)));
    for bad in [
        "truncated-ext",
        "too-short",
        "bad-version",
        "krpc",
        "many-ext",
    ] {
        assert_eq!(p(bad), None, "{bad}");
    }

    let mut buf = vec![0u8; 1000];
    let mut c = harness::feed_connection(&corpus_file("conn-inorder-fin"));
    assert_eq!(c.read(&mut buf), 100);
    assert!(c.is_eof());
    let mut c = harness::feed_connection(&corpus_file("conn-out-of-order"));
    assert_eq!(c.read(&mut buf), 120);
    assert_eq!(&buf[..3], b"aaa");
    assert_eq!(&buf[80..83], b"ccc");
    let c = harness::feed_connection(&corpus_file("conn-reset"));
    assert_eq!(c.state(), shoal_utp::State::Reset);
    let c = harness::feed_connection(&corpus_file("conn-ack-unsent"));
    assert_eq!(c.stats().dropped, 1);
}
