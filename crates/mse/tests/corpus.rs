//! Replays every file of the fuzz corpus through the handshake harness, so
//! seeds and any crash artifacts copied into the corpus stay regression
//! tests under a plain `cargo test`.

use std::path::PathBuf;

#[path = "../fuzz/harness.rs"]
mod harness;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/mse_handshake")
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
    assert!(files.len() >= 8, "corpus has only {} files", files.len());
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| harness::run(&data));
        assert!(result.is_ok(), "corpus file {} failed", path.display());
    }
}

#[test]
fn seeds_exercise_what_they_say() {
    use shoal_mse::MseError;
    let side = |name: &str| {
        let data = corpus_file(name);
        let chunk = 1 + usize::from(data[1] % 64);
        match data[0] % 3 {
            0 => harness::run_responder(&data[1..], chunk, u64::from(data[0])),
            _ => harness::run_initiator(&data[1..], chunk, u64::from(data[0])),
        }
    };
    let pair = |name: &str| {
        let data = corpus_file(name);
        let chunk = 1 + usize::from(data[1] % 64);
        harness::run_corrupted_pair(&data[1..], chunk)
    };
    assert!(matches!(
        side("responder-ff-ya").error,
        Some(MseError::InvalidPublicKey)
    ));
    assert!(matches!(
        side("responder-endless-pad").error,
        Some(MseError::Req1NotFound)
    ));
    assert!(matches!(
        side("initiator-endless-pad").error,
        Some(MseError::VcNotFound)
    ));
    let short = side("responder-short");
    assert!(short.error.is_none() && !short.finished);
    let clean = pair("pair-clean");
    assert!(clean.a.is_ok() && clean.b.is_ok());
    assert!(matches!(pair("pair-flip-vc").b, Err(MseError::BadVc)));
    assert!(matches!(
        pair("pair-flip-req2").b,
        Err(MseError::UnknownInfoHash)
    ));
    // A wrong Yb gives A another secret: B cannot find A's req1 (PadA of
    // 400 puts step 3's end past the bound), and A never gets step 4.
    let yb = pair("pair-flip-yb");
    assert!(matches!(yb.b, Err(MseError::Req1NotFound)), "{:?}", yb.b);
    assert!(matches!(yb.a, Err(MseError::NotFinished)));
    // Padding is not covered by anything: flipping it changes nothing.
    let pad = pair("pair-flip-pad");
    assert!(pad.a.is_ok() && pad.b.is_ok());
}
