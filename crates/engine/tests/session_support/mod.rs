//! Fixtures for the session tests: content on disk, torrents made from it
//! with the real creator, and loopback sessions.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use shoal_engine::{AddTorrentOptions, Session, SessionConfig, TorrentHandle};
use shoal_metainfo::{CreateOptions, CreateProgress, Creator, Torrent};

/// Write `files` (relative path, size) under `root`, filled with seeded
/// random bytes.
pub fn write_content(root: &Path, files: &[(&str, usize)], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for (path, size) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut data = vec![0u8; *size];
        rng.fill_bytes(&mut data);
        std::fs::write(p, data).unwrap();
    }
}

/// A torrent of the file or directory at `path`.
pub fn make_torrent(path: &Path, piece_length: u64) -> Torrent {
    let creator = Creator::scan(path).unwrap();
    let opts = CreateOptions {
        piece_length: Some(piece_length),
        ..CreateOptions::default()
    };
    creator.create(&opts, &CreateProgress::default()).unwrap().1
}

/// A session on a loopback port chosen by the OS.
pub async fn session(upload_limit: Option<u64>, download_limit: Option<u64>) -> Session {
    let cfg = SessionConfig {
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        upload_limit,
        download_limit,
        ..SessionConfig::default()
    };
    Session::start(cfg).await.unwrap()
}

/// Add `torrent` with data under `dir`, dialing `peers`.
pub async fn add(
    s: &Session,
    torrent: &Torrent,
    dir: &Path,
    peers: Vec<SocketAddr>,
) -> TorrentHandle {
    let (h, _) = s
        .add_torrent(
            torrent.clone(),
            AddTorrentOptions {
                dir: dir.to_path_buf(),
                peers,
                use_trackers: false,
                check_progress: None,
                super_seed: false,
            },
        )
        .await
        .unwrap();
    h
}

/// Wait for completion, failing the test after `secs` seconds.
pub async fn complete_within(h: &TorrentHandle, secs: u64) {
    tokio::time::timeout(Duration::from_secs(secs), h.wait_complete())
        .await
        .unwrap_or_else(|_| panic!("not complete after {secs} s: {:?}", h.stats()))
        .unwrap();
}

/// Every file below `a` has the same bytes below `b`.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let mut n = 0;
    for entry in walk(a) {
        let rel = entry.strip_prefix(a).unwrap();
        let other = b.join(rel);
        let x = std::fs::read(&entry).unwrap();
        let y = std::fs::read(&other).unwrap_or_else(|e| panic!("{}: {e}", other.display()));
        assert!(x == y, "{} differs", rel.display());
        n += 1;
    }
    assert!(n > 0);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().is_some_and(|n| n == ".shoal") {
            continue;
        }
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
