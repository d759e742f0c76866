//! `shoal create` / `shoal info` against real tools: mktorrent,
//! transmission-create/-show and libtorrent (python3-libtorrent).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// The info-hash `transmission-show` reports.
fn transmission_hash(torrent: &Path) -> String {
    let out = run_with_timeout(Command::new("transmission-show").arg(torrent), LIMIT);
    assert!(
        out.status.success(),
        "transmission-show rejected {torrent:?}: {}",
        stderr(&out)
    );
    stdout(&out)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Hash: ").map(str::to_string))
        .unwrap_or_else(|| panic!("no hash in transmission-show output: {}", stdout(&out)))
}

/// libtorrent's view (and with `data`, a full recheck).
fn libtorrent_view(torrent: &Path, data: Option<&Path>) -> Value {
    let mut cmd = Command::new(SYSTEM_PYTHON);
    cmd.arg(script("lt_torrent.py")).arg(torrent);
    if let Some(d) = data {
        cmd.arg(d);
    }
    let out = run_with_timeout(&mut cmd, LIMIT);
    assert!(out.status.success(), "libtorrent failed: {}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).expect("libtorrent JSON")
}

fn shoal_info(torrent: &Path) -> Value {
    let out = run_with_timeout(shoal().arg("info").arg(torrent).arg("--json"), LIMIT);
    assert!(out.status.success(), "shoal info failed: {}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).expect("shoal JSON")
}

fn file_list(v: &Value) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("path").to_string(),
                f["length"].as_u64().expect("length"),
            )
        })
        .collect();
    files.sort();
    files
}

/// A sample tree: sizes not a multiple of the piece length, a zero-length
/// file, non-ASCII names, nested folders.
fn sample_tree(root: &Path) -> PathBuf {
    let d = root.join("Données été");
    write_file(&d.join("a.bin"), 1_000_003, 1);
    write_file(&d.join("sub/β-file.dat"), 77_777, 2);
    write_file(&d.join("sub/deeper/日本.txt"), 12_345, 3);
    std::fs::write(d.join("empty.txt"), b"").expect("empty file");
    d
}

#[test]
fn reference_made_torrents_read_the_same_in_shoal() {
    require("mktorrent");
    require("transmission-create");
    require("transmission-show");
    require_libtorrent();
    let tmp = tempdir();
    let dir = sample_tree(tmp.path());
    let single = tmp.path().join("single ü.bin");
    write_file(&single, 3_333_333, 9);

    let mut made = Vec::new();
    for (i, src) in [&dir, &single].into_iter().enumerate() {
        let mk = tmp.path().join(format!("mk{i}.torrent"));
        let out = run_with_timeout(
            Command::new("mktorrent")
                .args(["-a", "http://127.0.0.1:6969/announce", "-l", "15", "-o"])
                .arg(&mk)
                .arg(src),
            LIMIT,
        );
        assert!(out.status.success(), "mktorrent: {}", stderr(&out));
        made.push(mk);
        let tr = tmp.path().join(format!("tr{i}.torrent"));
        let out = run_with_timeout(
            Command::new("transmission-create")
                .args(["-t", "http://127.0.0.1:6969/announce", "-s", "64", "-o"])
                .arg(&tr)
                .arg(src),
            LIMIT,
        );
        assert!(
            out.status.success(),
            "transmission-create: {}",
            stderr(&out)
        );
        made.push(tr);
    }
    for t in &made {
        let ours = shoal_info(t);
        let hash = ours["info_hash"].as_str().expect("hash").to_string();
        assert_eq!(hash, transmission_hash(t), "{t:?} vs transmission-show");
        let lt = libtorrent_view(t, None);
        assert_eq!(
            hash,
            lt["info_hash"].as_str().expect("lt hash"),
            "{t:?} vs libtorrent"
        );
        assert_eq!(file_list(&ours), file_list(&lt), "{t:?} file list");
        assert_eq!(ours["piece_count"], lt["num_pieces"], "{t:?} piece count");
        // And shoal verify agrees the data matches.
        let out = run_with_timeout(
            shoal().arg("verify").arg(t).arg("--dir").arg(tmp.path()),
            LIMIT,
        );
        assert!(
            out.status.success(),
            "verify {t:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn shoal_made_torrents_are_accepted_by_transmission_and_libtorrent() {
    require("transmission-show");
    require_libtorrent();
    let tmp = tempdir();
    let dir = sample_tree(tmp.path());
    let single = tmp.path().join("lone.bin");
    write_file(&single, 5_000_001, 4);
    for (i, (src, piece)) in [(&dir, "16K"), (&single, "256K"), (&dir, "1M")]
        .into_iter()
        .enumerate()
    {
        let t = tmp.path().join(format!("s{i}.torrent"));
        let out = run_with_timeout(
            shoal()
                .arg("create")
                .arg(src)
                .arg("-o")
                .arg(&t)
                .args([
                    "-t",
                    "http://127.0.0.1:6969/announce",
                    "-t",
                    "udp://127.0.0.1:6969",
                ])
                .args([
                    "--piece-length",
                    piece,
                    "--private",
                    "--comment",
                    "interop",
                    "--json",
                ]),
            LIMIT,
        );
        assert!(out.status.success(), "shoal create: {}", stderr(&out));
        let created: Value = serde_json::from_str(stdout(&out).trim()).expect("create JSON");
        let hash = created["info_hash"].as_str().expect("hash").to_string();
        assert!(created["magnet"].as_str().expect("magnet").contains(&hash));
        assert_eq!(hash, transmission_hash(&t));
        let lt = libtorrent_view(&t, Some(tmp.path()));
        assert_eq!(hash, lt["info_hash"].as_str().expect("lt hash"));
        assert_eq!(file_list(&shoal_info(&t)), file_list(&lt));
        let pieces = lt["num_pieces"].as_u64().expect("num_pieces");
        assert!(pieces > 0);
        assert_eq!(
            lt["have_pieces"].as_u64(),
            Some(pieces),
            "libtorrent recheck found invalid pieces: {lt}"
        );
    }
}

#[test]
fn libtorrent_recheck_detects_corruption() {
    // The recheck in the test above must be able to fail: corrupt the data
    // and libtorrent must report fewer valid pieces.
    require_libtorrent();
    let tmp = tempdir();
    let file = tmp.path().join("c.bin");
    write_file(&file, 1 << 20, 5);
    let t = tmp.path().join("c.torrent");
    let out = run_with_timeout(
        shoal()
            .arg("create")
            .arg(&file)
            .arg("-o")
            .arg(&t)
            .args(["--piece-length", "64K"]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut data = std::fs::read(&file).expect("read");
    data[100_000] ^= 0xff;
    std::fs::write(&file, data).expect("write");
    let lt = libtorrent_view(&t, Some(tmp.path()));
    assert_eq!(lt["have_pieces"].as_u64(), Some(15), "{lt}");
    let out = run_with_timeout(
        shoal().arg("verify").arg(&t).arg("--dir").arg(tmp.path()),
        LIMIT,
    );
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("15 valid, 0 missing, 1 bad"),
        "{}",
        stdout(&out)
    );
}
