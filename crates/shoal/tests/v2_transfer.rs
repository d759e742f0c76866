//! BitTorrent v2 (BEP 52) and hybrid transfers against libtorrent 2.0:
//! libtorrent creates the torrent (odd sizes, an empty file, and for a
//! hybrid its padding files), seeds it, and `shoal download` fetches every
//! file byte for byte; then `shoal seed` serves that copy to a libtorrent
//! leecher. Padding is never written to disk. With a magnet link
//! (`urn:btmh`, and both hashes for a hybrid) each side gets the info
//! dictionary and the piece layers (BEP 52 hash requests, proven against
//! each file's root) from the other. Loopback only, every wait bounded.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Bound of every wait for one transfer.
const LIMIT: Duration = Duration::from_secs(60);

/// libtorrent's `create_torrent`: `make CONTENT OUT PIECE v2|hybrid`.
const LT_MAKE: &str = r#"
import json, os, sys
import libtorrent as lt
content, out, piece, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fs = lt.file_storage()
lt.add_files(fs, content)
flags = lt.create_torrent.v2_only if kind == "v2" else 0
t = lt.create_torrent(fs, piece, flags=flags)
lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(content)))
open(out, "wb").write(lt.bencode(t.generate()))
ti = lt.torrent_info(out)
ih = ti.info_hashes()
pads = sum(1 for i in range(ti.files().num_files())
           if ti.files().file_flags(i) & lt.file_storage.flag_pad_file)
print(json.dumps({"v1": str(ih.v1) if ih.has_v1() else None, "v2": str(ih.v2),
                  "pads": pads, "magnet": lt.make_magnet_uri(ti)}))
"#;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// Let libtorrent make a `kind` torrent of `content`.
fn lt_make(work: &Path, content: &Path, out: &Path, kind: &str) -> Value {
    let py = work.join("lt_make.py");
    std::fs::write(&py, LT_MAKE).expect("write script");
    let o = run_with_timeout(
        Command::new(SYSTEM_PYTHON)
            .arg(&py)
            .arg(content)
            .arg(out)
            .arg("32768")
            .arg(kind),
        LIMIT,
    );
    assert!(o.status.success(), "libtorrent make: {}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).expect("make json")
}

/// Odd sizes, an empty file and a subfolder (multi), or one odd file.
/// Returns the path to share (inside `work/seed`).
fn content(work: &Path, multi: bool) -> PathBuf {
    let seed = work.join("seed");
    if multi {
        let root = seed.join("multi");
        write_file(&root.join("a.bin"), 100_003, 1);
        write_file(&root.join("empty"), 0, 2);
        write_file(&root.join("one"), 1, 3);
        write_file(&root.join("sub/b.dat"), 70_000, 4);
        write_file(&root.join("sub/c"), 32_768, 5);
        root
    } else {
        let f = seed.join("single.bin");
        write_file(&f, 150_001, 6);
        f
    }
}

/// Relative paths of every entry under `root` (files and symlinks).
fn files_under(root: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        let path = base.join(rel);
        if path.is_dir() {
            for e in std::fs::read_dir(&path).expect("read_dir") {
                walk(base, &rel.join(e.expect("entry").file_name()), out);
            }
        } else {
            out.push(rel.to_path_buf());
        }
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out);
    out.sort();
    out
}

/// `copy` holds exactly the files of `original` (nothing more: no padding
/// file), each with the same SHA-256.
fn assert_same_tree(original: &Path, copy: &Path, who: &str) {
    let want = files_under(original);
    let got: Vec<PathBuf> = files_under(copy)
        .into_iter()
        .filter(|p| !p.starts_with(".shoal"))
        .collect();
    assert_eq!(got, want, "{who}: different files");
    for rel in want {
        assert_eq!(
            sha256_file(&original.join(&rel)),
            sha256_file(&copy.join(&rel)),
            "{who}: {rel:?} differs"
        );
    }
}

fn lt_node(work: &Path, name: &str, torrent: &str, dir: &Path, extra: &[&str]) -> (Logged, u16) {
    require_libtorrent();
    let port = free_port();
    let mut cmd = Command::new(SYSTEM_PYTHON);
    cmd.arg(script("lt_node.py")).arg(torrent).arg(dir);
    cmd.arg(port.to_string()).args(extra);
    cmd.args(["--timeout", "300"]);
    cmd.env("TMPDIR", work);
    (Logged::spawn(name, work, &mut cmd), port)
}

/// libtorrent makes and seeds a `kind` torrent; Shoal downloads it (from
/// the .torrent, or from its magnet link), then seeds its copy to a
/// libtorrent leecher.
fn round_trip(kind: &str, multi: bool, magnet: bool) {
    let tmp = tempdir();
    let work = tmp.path();
    let src = content(work, multi);
    let torrent = work.join("t.torrent");
    let made = lt_make(work, &src, &torrent, kind);
    if kind == "hybrid" && multi {
        assert!(made["pads"].as_u64().unwrap_or(0) > 0, "no padding: {made}");
    }
    let case = format!("{kind} multi={multi} magnet={magnet}");
    let seed_dir = work.join("seed");
    let t = torrent.to_str().expect("utf-8").to_string();
    let (mut lt_seed, port) = lt_node(work, "lt-seed", &t, &seed_dir, &["--seed"]);
    lt_seed.wait_for("seeding", LIMIT);

    // Shoal downloads from libtorrent.
    let out = work.join("out");
    let peer = format!("127.0.0.1:{port}");
    let what = if magnet {
        made["magnet"].as_str().expect("magnet").to_string()
    } else {
        t.clone()
    };
    let mut dl = Logged::spawn(
        "shoal-dl",
        work,
        shoal()
            .arg("download")
            .arg(&what)
            .arg("--dir")
            .arg(&out)
            .args(["--listen", "127.0.0.1:0", "--json", "--no-dht"])
            .args(["--peer", &peer]),
    );
    let report = dl.finish_json(LIMIT);
    let expected_hash = match kind {
        "v2" => made["v2"].as_str().expect("v2")[..40].to_string(),
        _ => made["v1"].as_str().expect("v1").to_string(),
    };
    assert_eq!(report["info_hash"], expected_hash.as_str(), "{case}");
    assert_same_tree(&seed_dir, &out, &format!("{case}: shoal from libtorrent"));
    drop(lt_seed);

    // Shoal seeds its copy to a libtorrent leecher.
    let mut seed = Logged::spawn(
        "shoal-seed",
        work,
        shoal()
            .arg("seed")
            .arg(&torrent)
            .arg("--dir")
            .arg(&out)
            .args(["--listen", "127.0.0.1:0", "--no-dht"]),
    );
    let addr = seed.listening();
    seed.wait_for("seeding ", LIMIT);
    let out2 = work.join("out2");
    let (mut leech, _) = lt_node(
        work,
        "lt-leech",
        &what,
        &out2,
        &["--peer", &addr.to_string()],
    );
    let r = leech.finish_json(LIMIT);
    assert!(r["bytes"].as_u64().unwrap_or(0) > 0, "{case}: {r}");
    assert_same_tree(&seed_dir, &out2, &format!("{case}: libtorrent from shoal"));
}

#[test]
fn v2_single_file_both_ways_with_libtorrent() {
    round_trip("v2", false, false);
}

#[test]
fn v2_multi_file_both_ways_with_libtorrent() {
    round_trip("v2", true, false);
}

#[test]
fn hybrid_single_file_both_ways_with_libtorrent() {
    round_trip("hybrid", false, false);
}

#[test]
fn hybrid_multi_file_with_padding_both_ways_with_libtorrent() {
    round_trip("hybrid", true, false);
}

#[test]
fn v2_magnet_both_ways_with_libtorrent() {
    round_trip("v2", true, true);
}

#[test]
fn hybrid_magnet_both_ways_with_libtorrent() {
    round_trip("hybrid", true, true);
}
