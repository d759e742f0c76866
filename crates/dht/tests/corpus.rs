//! Replays every file of the fuzz corpus through the fuzz harness, so the
//! seeds and any crash artifact copied into the corpus stay regression
//! tests under a plain `cargo test`.

use std::path::PathBuf;

#[path = "../fuzz/harness.rs"]
mod harness;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/krpc_decode")
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
    use shoal_dht::krpc::{Body, QueryKind, MAX_VALUES};
    let ok =
        |name: &str| harness::decode(&corpus_file(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let err = |name: &str| harness::decode(&corpus_file(name)).expect_err(name);
    assert!(matches!(ok("ping").body, Body::Query(q) if q.kind == QueryKind::Ping));
    assert!(ok("read-only-ping").read_only);
    assert!(
        matches!(ok("announce-implied").body, Body::Query(q) if matches!(q.kind, QueryKind::AnnouncePeer { implied_port: true, .. }))
    );
    assert!(
        matches!(ok("unknown-method").body, Body::Query(q) if matches!(q.kind, QueryKind::Unknown { .. }))
    );
    match ok("huge-values").body {
        Body::Response(r) => assert_eq!(r.values.len(), MAX_VALUES),
        other => panic!("{other:?}"),
    }
    match ok("response-nodes-values").body {
        Body::Response(r) => assert_eq!((r.nodes.len(), r.values.len()), (1, 1)),
        other => panic!("{other:?}"),
    }
    assert!(ok("response-nodes-values").requester_ip.is_some());
    let e = err("wrong-type-id");
    assert!(e.is_query && e.transaction_id.is_some(), "{e:?}");
    err("wrong-type-values");
    err("truncated");
    err("long-tid");
    err("deep-nesting");
}
