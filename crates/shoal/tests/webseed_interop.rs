//! Web seeds (BEP 19) through `shoal download`, on loopback: a range-
//! capable HTTP server (tests/scripts/range_server.py) serves the files of
//! a torrent made by `mktorrent -w`; Shoal downloads it from the web seed
//! alone as aria2 does, from the web seed next to a libtorrent seeder, and
//! drops a web seed that serves corrupt data while the libtorrent seeder
//! completes the download. Every file is compared by SHA-256.

mod common;

use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Bound of every wait for one transfer.
const LIMIT: Duration = Duration::from_secs(60);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// The range server on `root`, and its address.
fn range_server(work: &Path, name: &str, root: &Path, extra: &[&str]) -> (Logged, SocketAddr) {
    let mut cmd = Command::new(SYSTEM_PYTHON);
    cmd.arg(script("range_server.py")).arg(root).args(extra);
    let mut p = Logged::spawn(name, work, &mut cmd);
    let addr = p.listening();
    (p, addr)
}

/// `mktorrent` of `content` with web seed `url` (and a tracker nobody
/// runs, since mktorrent wants one): 64 KiB pieces.
fn mktorrent(content: &Path, out: &Path, url: &str) {
    require("mktorrent");
    let mut cmd = Command::new("mktorrent");
    cmd.args(["-a", "http://127.0.0.1:9/announce", "-l", "16", "-w", url]);
    cmd.arg("-o").arg(out).arg(content);
    let o = run_with_timeout(&mut cmd, LIMIT);
    assert!(o.status.success(), "mktorrent: {}", stderr(&o));
}

/// `shoal download --json` on loopback with no tracker, DHT or LSD.
fn shoal_download(work: &Path, torrent: &Path, dir: &Path, extra: &[&str]) -> Logged {
    let mut cmd = shoal();
    cmd.arg("download").arg(torrent).arg("--dir").arg(dir);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--no-tracker",
        "--no-dht",
    ]);
    cmd.args(extra);
    Logged::spawn("shoal-download", work, &mut cmd)
}

/// Every file under `original` has the same SHA-256 under `copy`.
fn assert_same_content(original: &Path, copy: &Path, who: &str) {
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
    let mut files = Vec::new();
    walk(original, Path::new(""), &mut files);
    assert!(!files.is_empty());
    for rel in files {
        let (a, b) = (original.join(&rel), copy.join(&rel));
        assert!(b.is_file(), "{who}: {b:?} is missing");
        assert_eq!(sha256_file(&a), sha256_file(&b), "{who}: {rel:?} differs");
    }
}

fn bytes_from_peers(report: &Value) -> u64 {
    report["downloaded_from"]
        .as_array()
        .expect("downloaded_from")
        .iter()
        .map(|p| p["bytes"].as_u64().expect("bytes"))
        .sum()
}

/// A multi-file folder `pack` under `root` with odd sizes and names that
/// need percent-encoding.
fn pack(root: &Path) -> PathBuf {
    let pack = root.join("pack");
    write_file(&pack.join("a.bin"), 1_048_583, 1);
    write_file(&pack.join("sub dir/b #1.bin"), 300_001, 2);
    write_file(&pack.join("c%d.bin"), 77_777, 3);
    pack
}

#[test]
fn a_mktorrent_web_seed_downloads_in_shoal_as_in_aria2() {
    require("aria2c");
    let tmp = tempdir();
    let work = tmp.path();
    let www = work.join("www");
    let content = pack(&www);
    let (server, addr) = range_server(work, "http", &www, &[]);
    let torrent = work.join("t.torrent");
    mktorrent(&content, &torrent, &format!("http://{addr}/"));

    let out = work.join("shoal");
    let mut dl = shoal_download(work, &torrent, &out, &[]);
    let report = dl.finish_json(LIMIT);
    assert_same_content(&www, &out, "shoal from the web seed");
    let total = 1_048_583 + 300_001 + 77_777;
    assert_eq!(report["web_seed_bytes"].as_u64(), Some(total), "{report}");
    assert_eq!(report["web_seeds"][0]["url"], format!("http://{addr}/"));
    assert_eq!(report["web_seeds"][0]["bytes"].as_u64(), Some(total));
    assert_eq!(bytes_from_peers(&report), 0);
    let log = server.stderr();
    assert!(
        log.contains("GET /pack/sub%20dir/b%20%231.bin bytes="),
        "{log}"
    );

    // aria2 downloads the same torrent from the same web seed.
    let aria_out = work.join("aria2");
    let mut cmd = Command::new("aria2c");
    cmd.arg("--dir").arg(&aria_out).arg(&torrent).args([
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        "--seed-time=0",
        "--bt-stop-timeout=50",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=warn",
    ]);
    cmd.arg(format!("--listen-port={}", free_port()));
    let mut aria = Logged::spawn("aria2c", work, &mut cmd);
    let status = aria.finish(LIMIT);
    assert!(status.success(), "aria2c failed: {status}\n{}", aria.logs());
    assert_same_content(&www, &aria_out, "aria2 from the web seed");
}

#[test]
fn a_web_seed_and_a_libtorrent_seeder_both_serve_shoal() {
    require_libtorrent();
    let tmp = tempdir();
    let work = tmp.path();
    let www = work.join("www");
    let content = pack(&www);
    // A slow web seed (256 KiB/s: 5 s alone), so the peer has time to
    // join in.
    let (_server, addr) = range_server(work, "http", &www, &["--rate", "262144"]);
    let torrent = work.join("t.torrent");
    mktorrent(&content, &torrent, &format!("http://{addr}/"));
    let (_lt, port) = lt_seed(work, &torrent, &www, &["--up", "1048576"]);

    let out = work.join("shoal");
    let peer = format!("127.0.0.1:{port}");
    let mut dl = shoal_download(work, &torrent, &out, &["--peer", &peer]);
    let report = dl.finish_json(LIMIT);
    assert_same_content(&www, &out, "shoal from the web seed and libtorrent");
    let web = report["web_seed_bytes"].as_u64().expect("web_seed_bytes");
    let peers = bytes_from_peers(&report);
    assert!(web > 0 && peers > 0, "web {web}, peers {peers}: {report}");
}

#[test]
fn a_corrupt_web_seed_is_dropped_and_libtorrent_completes_the_download() {
    require_libtorrent();
    let tmp = tempdir();
    let work = tmp.path();
    let www = work.join("www");
    let content = pack(&www);
    let (_server, addr) = range_server(work, "http", &www, &["--corrupt"]);
    let torrent = work.join("t.torrent");
    mktorrent(&content, &torrent, &format!("http://{addr}/"));
    let (_lt, port) = lt_seed(work, &torrent, &www, &["--up", "2097152"]);

    let out = work.join("shoal");
    let peer = format!("127.0.0.1:{port}");
    let mut dl = shoal_download(work, &torrent, &out, &["--peer", &peer]);
    let report = dl.finish_json(LIMIT);
    assert_same_content(&www, &out, "shoal despite a corrupt web seed");
    let ws = &report["web_seeds"][0];
    assert_eq!(ws["status"], "dropped", "{report}");
    assert!(ws["bad_pieces"].as_u64().unwrap_or(0) >= 2, "{report}");
    // The libtorrent seeder on the same address was not banned: it sent
    // everything that was kept.
    let total = 1_048_583 + 300_001 + 77_777;
    assert!(bytes_from_peers(&report) > 0, "{report}");
    assert!(
        bytes_from_peers(&report) + report["web_seed_bytes"].as_u64().unwrap_or(0) >= total,
        "{report}"
    );
}

/// A libtorrent seeder of the torrent's content under `dir`, returned
/// once it seeds.
fn lt_seed(work: &Path, torrent: &Path, dir: &Path, extra: &[&str]) -> (Logged, u16) {
    let port = free_port();
    let mut cmd = Command::new(SYSTEM_PYTHON);
    cmd.arg(script("lt_node.py")).arg(torrent).arg(dir);
    cmd.arg(port.to_string()).arg("--seed").args(extra);
    cmd.args(["--timeout", "300"]);
    cmd.env("TMPDIR", work);
    let mut p = Logged::spawn("lt-seed", work, &mut cmd);
    p.wait_for("seeding", LIMIT);
    (p, port)
}
