//! `shoal download` / `shoal seed` against real clients on loopback:
//! Transmission 3.00, libtorrent 2.0 (python3-libtorrent), qBittorrent 4.5
//! (qbittorrent-nox) and aria2, alone and in a mixed swarm through `shoal tracker`; a multi-file torrent with
//! odd sizes and an empty file; magnet links (BEP 9 both ways); resume
//! after SIGINT and after SIGKILL; and `shoal demo`. Every test checks the
//! SHA-256 of every file it moved.
//!
//! Transmission 3.00 never dials a 127.x peer, so it is always the one
//! being dialed (by Shoal or libtorrent).

mod common;

use common::*;
use serde_json::Value;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Bound of every wait for one transfer.
const LIMIT: Duration = Duration::from_secs(60);
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// `shoal create` with the given piece length and trackers; returns the
/// info-hash.
fn create_torrent(content: &Path, out: &Path, piece_length: &str, trackers: &[String]) -> String {
    let mut cmd = shoal();
    cmd.arg("create").arg(content).arg("-o").arg(out);
    cmd.args(["--piece-length", piece_length, "--json"]);
    for t in trackers {
        cmd.args(["-t", t]);
    }
    let o = run_with_timeout(&mut cmd, LIMIT);
    assert!(o.status.success(), "shoal create: {}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).expect("create JSON");
    v["info_hash"].as_str().expect("info_hash").to_string()
}

/// Relative paths of every file under `root` (or `root` itself if a file).
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

/// Total size of the files under `root`.
fn content_len(root: &Path) -> u64 {
    files_under(root)
        .iter()
        .map(|f| std::fs::metadata(root.join(f)).map_or(0, |m| m.len()))
        .sum()
}

/// Every file of `original` exists in `copy` with the same SHA-256 (empty
/// files: exist and are empty).
fn assert_same_content(original: &Path, copy: &Path, who: &str) {
    for rel in files_under(original) {
        let (a, b) = (original.join(&rel), copy.join(&rel));
        assert!(b.is_file(), "{who}: {b:?} is missing");
        assert_eq!(
            sha256_file(&a),
            sha256_file(&b),
            "{who}: {rel:?} differs from the original"
        );
    }
}

/// Sum of `downloaded_from[].bytes` in a `shoal download --json` report.
fn bytes_from_peers(report: &Value) -> u64 {
    report["downloaded_from"]
        .as_array()
        .expect("downloaded_from")
        .iter()
        .map(|p| p["bytes"].as_u64().expect("bytes"))
        .sum()
}

/// `shoal seed` on 127.0.0.1 (announcing to the torrent's trackers, if
/// any); returns once it has checked its data and seeds.
fn shoal_seed(work: &Path, torrent: &Path, dir: &Path, extra: &[&str]) -> (Logged, SocketAddr) {
    let mut cmd = shoal();
    cmd.arg("seed").arg(torrent).arg("--dir").arg(dir);
    cmd.args(["--listen", "127.0.0.1:0"]).args(extra);
    let mut p = Logged::spawn("shoal-seed", work, &mut cmd);
    let addr = p.listening();
    p.wait_for("seeding ", LIMIT);
    (p, addr)
}

/// `shoal download` on 127.0.0.1 with `--json`.
fn shoal_download(work: &Path, name: &str, torrent: &Path, dir: &Path, extra: &[&str]) -> Logged {
    let mut cmd = shoal();
    cmd.arg("download").arg(torrent).arg("--dir").arg(dir);
    cmd.args(["--listen", "127.0.0.1:0", "--json"]).args(extra);
    Logged::spawn(name, work, &mut cmd)
}

/// A reference peer driven by a script in tests/scripts (same command
/// line for each: TORRENT DIR PORT [--seed] [--peer ADDR]...) on a free
/// port.
fn script_peer(
    script_name: &str,
    work: &Path,
    name: &str,
    torrent: &Path,
    dir: &Path,
    extra: &[&str],
) -> (Logged, u16) {
    let port = free_port();
    let mut cmd = Command::new(SYSTEM_PYTHON);
    cmd.arg(script(script_name)).arg(torrent).arg(dir);
    cmd.arg(port.to_string()).args(extra);
    // The test's own waits bound it; a seed must outlast all of them.
    cmd.args(["--timeout", "300"]);
    // Anything it leaves in a temporary directory goes with the test's.
    cmd.env("TMPDIR", work);
    (Logged::spawn(name, work, &mut cmd), port)
}

/// A libtorrent peer (tests/scripts/lt_node.py) on a free port.
fn libtorrent(
    work: &Path,
    name: &str,
    torrent: &Path,
    dir: &Path,
    extra: &[&str],
) -> (Logged, u16) {
    require_libtorrent();
    script_peer("lt_node.py", work, name, torrent, dir, extra)
}

/// A qbittorrent-nox peer (tests/scripts/qbt_node.py, driving its Web
/// API) on a free port.
fn qbittorrent(
    work: &Path,
    name: &str,
    torrent: &Path,
    dir: &Path,
    extra: &[&str],
) -> (Logged, u16) {
    require("qbittorrent-nox");
    script_peer("qbt_node.py", work, name, torrent, dir, extra)
}

/// A libtorrent seeder, returned once it seeds.
fn libtorrent_seed(work: &Path, torrent: &Path, dir: &Path) -> (Logged, u16) {
    let (mut p, port) = libtorrent(work, "lt-seed", torrent, dir, &["--seed"]);
    p.wait_for("seeding", LIMIT);
    (p, port)
}

/// A transmission-daemon with its own config dir: no DHT, LSD, PEX, uTP or
/// port mapping, RPC and peers on free loopback ports.
struct Transmission {
    logged: Logged,
    rpc: u16,
    port: u16,
}

impl Transmission {
    fn start(work: &Path, name: &str, download_dir: &Path) -> Transmission {
        Transmission::start_with_encryption(work, name, download_dir, 0)
    }

    /// With settings.json's `encryption`: 0 prefer plaintext, 1 prefer
    /// encryption (Transmission's default), 2 require it.
    fn start_with_encryption(
        work: &Path,
        name: &str,
        download_dir: &Path,
        encryption: u8,
    ) -> Transmission {
        require("transmission-daemon");
        require("transmission-remote");
        let (rpc, port) = (free_port(), free_port());
        let cfg = work.join(format!("{name}-config"));
        std::fs::create_dir_all(&cfg).expect("mkdir");
        let settings = serde_json::json!({
            "dht-enabled": false, "lpd-enabled": false, "utp-enabled": false,
            "pex-enabled": false, "port-forwarding-enabled": false,
            "peer-port": port, "peer-port-random-on-start": false,
            "rpc-port": rpc, "rpc-bind-address": "127.0.0.1",
            "rpc-authentication-required": false,
            "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
            "encryption": encryption, "download-dir": download_dir,
            "incomplete-dir-enabled": false, "ratio-limit-enabled": false,
            "idle-seeding-limit-enabled": false, "blocklist-enabled": false,
            "speed-limit-up-enabled": false, "speed-limit-down-enabled": false,
        });
        std::fs::write(cfg.join("settings.json"), settings.to_string()).expect("settings");
        let mut cmd = Command::new("transmission-daemon");
        cmd.arg("-f").arg("-g").arg(&cfg);
        let logged = Logged::spawn(name, work, &mut cmd);
        assert!(
            wait_for_tcp(rpc, Duration::from_secs(15)),
            "transmission-daemon did not start\n{}",
            logged.logs()
        );
        Transmission { logged, rpc, port }
    }

    fn remote(&self, args: &[&str]) -> String {
        let o = run_with_timeout(
            Command::new("transmission-remote")
                .arg(format!("127.0.0.1:{}", self.rpc))
                .args(args),
            Duration::from_secs(15),
        );
        assert!(
            o.status.success(),
            "transmission-remote {args:?}: {}",
            stderr(&o)
        );
        stdout(&o)
    }

    fn add(&self, torrent: &Path) {
        self.remote(&["-a", torrent.to_str().expect("utf-8 path")]);
    }

    /// Wait until torrent 1 is complete and verified.
    fn wait_complete(&self, limit: Duration) {
        let done = wait_until(limit, || {
            self.remote(&["-t", "1", "-i"])
                .contains("Percent Done: 100%")
        });
        assert!(
            done,
            "Transmission did not complete:\n{}\n{}",
            self.remote(&["-t", "1", "-i"]),
            self.logged.logs()
        );
    }
}

/// `shoal tracker` on 127.0.0.1 (HTTP, 10 s announce interval); returns
/// it and its HTTP address.
fn shoal_tracker(work: &Path) -> (Logged, SocketAddr) {
    shoal_tracker_at(work, "127.0.0.1:0")
}

/// `shoal tracker` with its HTTP side on `http` (10 s announce interval).
fn shoal_tracker_at(work: &Path, http: &str) -> (Logged, SocketAddr) {
    let mut cmd = shoal();
    cmd.args(["tracker", "--http", http, "--announce-interval", "10"]);
    let mut t = Logged::spawn("tracker", work, &mut cmd);
    t.wait_for("listening http on ", Duration::from_secs(15));
    let addr = t
        .stderr()
        .lines()
        .find_map(|l| l.split("listening http on ").nth(1))
        .and_then(|a| a.trim().parse().ok())
        .expect("tracker address");
    (t, addr)
}

/// The tracker's `/stats` JSON.
fn tracker_stats(addr: SocketAddr) -> Value {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).expect("connect tracker");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = write!(
        s,
        "GET /stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    );
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_default()
}

/// Single-file content of `len` bytes: returns (content dir, file path).
fn single_file(work: &Path, len: usize, seed: u64) -> (PathBuf, PathBuf) {
    let dir = work.join("seed");
    let file = dir.join("payload.bin");
    write_file(&file, len, seed);
    (dir, file)
}

#[test]
fn shoal_downloads_from_transmission() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 5 * MIB + 777, 1);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let tr = Transmission::start(work, "tr-seed", &seed_dir);
    tr.add(&torrent);
    tr.wait_complete(LIMIT);

    shoal_downloads_from(work, &seed_dir, &torrent, tr.port, "Transmission");
}

/// `shoal download` from a reference peer that seeds alone on `port`:
/// the copy is identical, every byte came from that peer, and its client
/// was recognised as `client`.
fn shoal_downloads_from(work: &Path, seed_dir: &Path, torrent: &Path, port: u16, client: &str) {
    let out = work.join("out");
    let peer = format!("127.0.0.1:{port}");
    let mut dl = shoal_download(work, "shoal", torrent, &out, &["--peer", &peer]);
    let report = dl.finish_json(LIMIT);
    assert_same_content(seed_dir, &out, &format!("shoal from {client}"));
    assert_eq!(bytes_from_peers(&report), content_len(seed_dir), "{report}");
    let from = &report["downloaded_from"][0];
    assert_eq!(from["peer"], peer.as_str(), "{report}");
    assert!(
        from["client"].as_str().unwrap_or("").contains(client),
        "client not recognised: {report}"
    );
}

/// Starts a reference peer: (work, name, torrent, dir, extra arguments)
/// to the process and its port, like [`libtorrent`] and [`qbittorrent`].
type StartPeer = fn(&Path, &str, &Path, &Path, &[&str]) -> (Logged, u16);

/// A reference leecher (`peer`, started with `--peer` = a lone `shoal
/// seed`) downloads everything from Shoal.
fn downloads_from_shoal(work: &Path, seed_dir: &Path, torrent: &Path, peer: StartPeer) {
    let (_seed, addr) = shoal_seed(work, torrent, seed_dir, &[]);
    let out = work.join("out");
    let (mut leech, _) = peer(work, "leech", torrent, &out, &["--peer", &addr.to_string()]);
    let report = leech.finish_json(LIMIT);
    assert_same_content(seed_dir, &out, "reference client from shoal");
    assert_eq!(report["bytes"], content_len(seed_dir), "{report}");
}

#[test]
fn shoal_downloads_from_libtorrent() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 7 * MIB + 12_345, 2);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "128K", &[]);
    let (_lt, port) = libtorrent_seed(work, &torrent, &seed_dir);
    shoal_downloads_from(work, &seed_dir, &torrent, port, "libtorrent");
}

#[test]
fn libtorrent_downloads_from_shoal() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 7 * MIB + 4321, 3);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    downloads_from_shoal(work, &seed_dir, &torrent, libtorrent);
}

/// libtorrent with encryption forced both ways (RC4 only) downloads from
/// a `shoal seed` at its default `--encryption prefer`: the seed accepts
/// its MSE handshake.
#[test]
fn libtorrent_requiring_encryption_downloads_from_shoal() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 3 * MIB + 99, 21);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let (_seed, addr) = shoal_seed(work, &torrent, &seed_dir, &[]);
    let out = work.join("out");
    let (mut leech, _) = libtorrent(
        work,
        "lt-forced",
        &torrent,
        &out,
        &["--enc", "forced", "--peer", &addr.to_string()],
    );
    let report = leech.finish_json(LIMIT);
    assert_same_content(&seed_dir, &out, "libtorrent (encryption forced) from shoal");
    assert_eq!(report["bytes"], content_len(&seed_dir), "{report}");
}

/// A libtorrent seed with encryption forced serves `shoal download` at
/// its defaults (it hangs up on the plaintext handshake; Shoal dials again
/// with MSE) and with `--encryption require`.
#[test]
fn shoal_downloads_from_libtorrent_requiring_encryption() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 3 * MIB + 7, 22);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let (mut lt, port) = libtorrent(
        work,
        "lt-seed-forced",
        &torrent,
        &seed_dir,
        &["--seed", "--enc", "forced"],
    );
    lt.wait_for("seeding", LIMIT);
    let peer = format!("127.0.0.1:{port}");
    for (n, extra) in [&[][..], &["--encryption", "require"][..]]
        .into_iter()
        .enumerate()
    {
        let out = work.join(format!("out{n}"));
        let mut args = vec!["--peer", peer.as_str()];
        args.extend_from_slice(extra);
        let mut dl = shoal_download(work, &format!("shoal{n}"), &torrent, &out, &args);
        let report = dl.finish_json(LIMIT);
        assert_same_content(&seed_dir, &out, "shoal from libtorrent (encryption forced)");
        assert_eq!(
            bytes_from_peers(&report),
            content_len(&seed_dir),
            "{report}"
        );
    }
}

/// `--encryption off` talks plaintext to a libtorrent seed at its default
/// settings (which prefer MSE but accept plaintext).
#[test]
fn shoal_without_encryption_downloads_from_default_libtorrent() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 2 * MIB + 5, 23);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let (mut lt, port) = libtorrent(work, "lt-seed", &torrent, &seed_dir, &["--seed"]);
    lt.wait_for("seeding", LIMIT);
    let out = work.join("out");
    let peer = format!("127.0.0.1:{port}");
    let mut dl = shoal_download(
        work,
        "shoal-off",
        &torrent,
        &out,
        &["--peer", &peer, "--encryption", "off"],
    );
    let report = dl.finish_json(LIMIT);
    assert_same_content(&seed_dir, &out, "shoal (encryption off) from libtorrent");
    assert_eq!(
        bytes_from_peers(&report),
        content_len(&seed_dir),
        "{report}"
    );
}

/// `shoal seed --encryption require` closes a plaintext handshake without
/// answering it, while a plaintext-only libtorrent cannot download.
#[test]
fn shoal_requiring_encryption_refuses_plaintext() {
    use std::io::{Read, Write};
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, MIB, 24);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let (_seed, addr) = shoal_seed(work, &torrent, &seed_dir, &["--encryption", "require"]);
    let info_hash = shoal_metainfo::Torrent::from_bytes(&std::fs::read(&torrent).unwrap())
        .unwrap()
        .info_hash
        .0;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut hs = Vec::from(&b"\x13BitTorrent protocol"[..]);
    hs.extend_from_slice(&[0u8; 8]);
    hs.extend_from_slice(&info_hash);
    hs.extend_from_slice(b"-XX0000-plaintextplt");
    s.write_all(&hs).unwrap();
    let mut buf = [0u8; 68];
    let got = s.read(&mut buf).unwrap_or(0);
    assert_eq!(got, 0, "a plaintext handshake got {got} bytes back");
}

/// `shoal download` at its defaults (MSE first) dials a libtorrent seed
/// that speaks plaintext only: libtorrent hangs up on the MSE handshake
/// and Shoal dials again in plaintext.
#[test]
fn shoal_falls_back_to_plaintext_for_a_peer_without_encryption() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, MIB + 3, 25);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let (mut lt, port) = libtorrent(
        work,
        "lt-seed-off",
        &torrent,
        &seed_dir,
        &["--seed", "--enc", "off"],
    );
    lt.wait_for("seeding", LIMIT);
    let peer = format!("127.0.0.1:{port}");
    let out = work.join("out");
    let report =
        shoal_download(work, "shoal", &torrent, &out, &["--peer", &peer]).finish_json(LIMIT);
    assert_same_content(&seed_dir, &out, "shoal from a plaintext-only libtorrent");
    assert_eq!(
        bytes_from_peers(&report),
        content_len(&seed_dir),
        "{report}"
    );
}

/// A Transmission with `"encryption": 2` (required), checked through its
/// own session info.
fn transmission_requiring_encryption(work: &Path, name: &str, dir: &Path) -> Transmission {
    let tr = Transmission::start_with_encryption(work, name, dir, 2);
    let info = tr.remote(&["-si"]);
    assert!(
        info.contains("Encryption: required"),
        "Transmission's settings were not applied:\n{info}"
    );
    tr
}

/// Transmission requiring encryption serves `shoal download` at its
/// defaults (which dials it: Transmission never dials 127.x).
#[test]
fn shoal_downloads_from_transmission_requiring_encryption() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 3 * MIB + 17, 26);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let tr = transmission_requiring_encryption(work, "tr-seed-enc", &seed_dir);
    tr.add(&torrent);
    tr.wait_complete(LIMIT);
    shoal_downloads_from(work, &seed_dir, &torrent, tr.port, "Transmission");
}

/// Transmission requiring encryption downloads from a `shoal seed` at its
/// defaults that dials it (`--peer`).
#[test]
fn transmission_requiring_encryption_downloads_from_shoal() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 3 * MIB + 71, 27);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let out = work.join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    let tr = transmission_requiring_encryption(work, "tr-leech-enc", &out);
    tr.add(&torrent);
    let peer = format!("127.0.0.1:{}", tr.port);
    let (_seed, _) = shoal_seed(work, &torrent, &seed_dir, &["--peer", &peer]);
    tr.wait_complete(LIMIT);
    assert_same_content(
        &seed_dir,
        &out,
        "Transmission (encryption required) from shoal",
    );
}

/// qBittorrent with encryption required (`Session\Encryption=1`, checked
/// through its Web API) serves `shoal download` and downloads from `shoal
/// seed`, both at Shoal's defaults.
#[test]
fn qbittorrent_requiring_encryption_both_ways() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 3 * MIB + 5, 28);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let (mut qbt, port) = qbittorrent(
        work,
        "qbt-seed-enc",
        &torrent,
        &seed_dir,
        &["--seed", "--enc", "required"],
    );
    qbt.wait_for("seeding", LIMIT);
    shoal_downloads_from(work, &seed_dir, &torrent, port, "qBittorrent");
    drop(qbt);

    let work2 = work.join("leech");
    std::fs::create_dir_all(&work2).expect("mkdir");
    let (_seed, addr) = shoal_seed(&work2, &torrent, &seed_dir, &[]);
    let out = work2.join("out");
    let (mut leech, _) = qbittorrent(
        &work2,
        "qbt-leech-enc",
        &torrent,
        &out,
        &["--enc", "required", "--peer", &addr.to_string()],
    );
    let report = leech.finish_json(LIMIT);
    assert_same_content(
        &seed_dir,
        &out,
        "qBittorrent (encryption required) from shoal",
    );
    assert_eq!(report["bytes"], content_len(&seed_dir), "{report}");
}

/// A `shoal seed` at its default listen address (0.0.0.0 and [::] on one
/// port, no DHT) serves a libtorrent that dials it at [::1]; the seed
/// still binds only 127.0.0.1 when told so.
#[test]
fn libtorrent_downloads_from_shoal_over_ipv6() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 2 * MIB + 66, 29);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let mut cmd = shoal();
    cmd.arg("seed").arg(&torrent).arg("--dir").arg(&seed_dir);
    cmd.arg("--no-dht");
    let mut seed = Logged::spawn("shoal-seed", work, &mut cmd);
    let port = seed.listening().port();
    seed.wait_for(&format!("also listening on [::]:{port}"), LIMIT);
    seed.wait_for("seeding ", LIMIT);
    let out = work.join("out");
    let peer = format!("[::1]:{port}");
    let (mut leech, _) = libtorrent(
        work,
        "lt-leech-v6",
        &torrent,
        &out,
        &["--host", "::1", "--peer", &peer],
    );
    let report = leech.finish_json(LIMIT);
    assert_same_content(&seed_dir, &out, "libtorrent from shoal over [::1]");
    assert_eq!(report["bytes"], content_len(&seed_dir), "{report}");
    drop(seed);

    // An explicit IPv4 address is the only one bound.
    let (_seed4, addr) = shoal_seed(work, &torrent, &seed_dir, &[]);
    assert!(std::net::TcpStream::connect(("::1", addr.port())).is_err());
}

/// `shoal download` on [::1] from a libtorrent seed on [::1].
#[test]
fn shoal_downloads_from_libtorrent_over_ipv6() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 2 * MIB + 67, 30);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let (mut lt, port) = libtorrent(
        work,
        "lt-seed-v6",
        &torrent,
        &seed_dir,
        &["--seed", "--host", "::1"],
    );
    lt.wait_for("seeding", LIMIT);
    let out = work.join("out");
    let peer = format!("[::1]:{port}");
    let mut cmd = shoal();
    cmd.arg("download").arg(&torrent).arg("--dir").arg(&out);
    cmd.args(["--listen", "[::1]:0", "--json", "--peer", &peer]);
    let report = Logged::spawn("shoal-v6", work, &mut cmd).finish_json(LIMIT);
    assert_same_content(&seed_dir, &out, "shoal from libtorrent over [::1]");
    assert_eq!(
        bytes_from_peers(&report),
        content_len(&seed_dir),
        "{report}"
    );
    assert_eq!(
        report["downloaded_from"][0]["peer"],
        peer.as_str(),
        "{report}"
    );
}

/// `shoal tracker` on [::1] answers with `peers6` (BEP 7): a `shoal
/// download` that knows no peer finds a Shoal and a libtorrent seed on
/// [::1] through it and downloads from them.
#[test]
fn tracker_peers6_lead_shoal_to_seeds_on_ipv6() {
    let tmp = tempdir();
    let work = tmp.path();
    let (_tracker, taddr) = shoal_tracker_at(work, "[::1]:0");
    let url = format!("http://{taddr}/announce");
    let (seed_dir, file) = single_file(work, 4 * MIB + 9, 31);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[url]);
    let mut cmd = shoal();
    cmd.arg("seed").arg(&torrent).arg("--dir").arg(&seed_dir);
    cmd.args(["--listen", "[::1]:0", "--upload-limit", "1M"]);
    let mut seed = Logged::spawn("shoal-seed-v6", work, &mut cmd);
    let seed_addr = seed.listening();
    seed.wait_for("seeding ", LIMIT);
    let (mut lt, lt_port) = libtorrent(
        work,
        "lt-seed-v6",
        &torrent,
        &seed_dir,
        &["--seed", "--host", "::1", "--up", "1048576"],
    );
    lt.wait_for("seeding", LIMIT);
    let announced = wait_until(Duration::from_secs(20), || {
        tracker_stats(taddr)["seeders"].as_u64() == Some(2)
    });
    assert!(
        announced,
        "the seeds never announced: {}",
        tracker_stats(taddr)
    );

    let out = work.join("out");
    let mut cmd = shoal();
    cmd.arg("download").arg(&torrent).arg("--dir").arg(&out);
    cmd.args(["--listen", "[::1]:0", "--json"]);
    let report = Logged::spawn("shoal-leech-v6", work, &mut cmd).finish_json(LIMIT);
    assert_same_content(&seed_dir, &out, "shoal through peers6");
    assert_eq!(
        bytes_from_peers(&report),
        content_len(&seed_dir),
        "{report}"
    );
    let mut from: Vec<String> = report["downloaded_from"]
        .as_array()
        .expect("downloaded_from")
        .iter()
        .map(|p| p["peer"].as_str().unwrap_or("").to_string())
        .collect();
    from.sort();
    let mut want = vec![seed_addr.to_string(), format!("[::1]:{lt_port}")];
    want.sort();
    assert_eq!(from, want, "{report}");
}

#[test]
fn shoal_downloads_from_qbittorrent() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 6 * MIB + 999, 21);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "256K", &[]);
    let (mut qbt, port) = qbittorrent(work, "qbt-seed", &torrent, &seed_dir, &["--seed"]);
    qbt.wait_for("seeding", LIMIT);
    shoal_downloads_from(work, &seed_dir, &torrent, port, "qBittorrent");
}

#[test]
fn qbittorrent_downloads_from_shoal() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 6 * MIB + 4321, 22);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    downloads_from_shoal(work, &seed_dir, &torrent, qbittorrent);
}

/// BEP 6 allowed-fast: a libtorrent seed that unchokes nobody still lets
/// each peer fetch its allowed-fast set (libtorrent's default: 5 pieces).
/// Shoal asks for those pieces while choked, and for nothing else.
#[test]
fn allowed_fast_pieces_from_a_libtorrent_that_chokes_everyone() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 4 * MIB, 23);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let (mut lt, port) = libtorrent(
        work,
        "lt-seed",
        &torrent,
        &seed_dir,
        &["--seed", "--unchoke-slots", "0"],
    );
    lt.wait_for("seeding", LIMIT);

    let mut cmd = shoal();
    cmd.arg("download")
        .arg(&torrent)
        .arg("--dir")
        .arg(work.join("out"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--peer",
        &format!("127.0.0.1:{port}"),
    ]);
    cmd.env("SHOAL_PROGRESS_INTERVAL_MS", "200");
    let mut dl = Logged::spawn("shoal", work, &mut cmd);
    dl.wait_for("(5/64 pieces)", LIMIT);
    // Still choked: nothing beyond the allowed set arrives.
    std::thread::sleep(Duration::from_secs(3));
    let err = dl.stderr();
    assert!(
        !err.contains("(6/64 pieces)") && !dl.completed(),
        "got more than the allowed-fast set from a peer that chokes us\n{}",
        dl.logs()
    );
    dl.proc.signal(2);
    let status = dl.finish(LIMIT);
    assert!(!status.success(), "an interrupted download exits non-zero");
}

/// BEP 16: a super-seeding Shoal shows no bitfield and offers pieces a
/// few at a time; a libtorrent and a Shoal leecher still get everything.
#[test]
fn libtorrent_and_shoal_download_from_a_super_seed() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 5 * MIB + 777, 11);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let (seed, addr) = shoal_seed(work, &torrent, &seed_dir, &["--super-seed"]);
    let peer = addr.to_string();

    let lt_out = work.join("lt-out");
    let (mut lt, _) = libtorrent(work, "lt-leech", &torrent, &lt_out, &["--peer", &peer]);
    let shoal_out = work.join("shoal-out");
    let mut leech = shoal_download(
        work,
        "shoal-leech",
        &torrent,
        &shoal_out,
        &["--peer", &peer],
    );
    let lt_report = lt.finish_json(LIMIT);
    let report = leech.finish_json(LIMIT);
    assert_same_content(&seed_dir, &lt_out, "libtorrent from a super-seed");
    assert_same_content(&seed_dir, &shoal_out, "shoal from a super-seed");
    assert_eq!(lt_report["bytes"], 5 * MIB as u64 + 777, "{lt_report}");
    assert_eq!(
        report["bytes"],
        5 * MIB as u64 + 777,
        "{report}\n{}",
        seed.logs()
    );
}

#[test]
fn aria2_downloads_from_shoal() {
    require("aria2c");
    let tmp = tempdir();
    let work = tmp.path();
    let (_tracker, taddr) = shoal_tracker(work);
    let url = format!("http://{taddr}/announce");
    let (seed_dir, file) = single_file(work, 6 * MIB + 99, 4);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[url]);
    let (seed, _) = shoal_seed(work, &torrent, &seed_dir, &[]);
    let announced = wait_until(Duration::from_secs(15), || {
        tracker_stats(taddr)["seeders"].as_u64() == Some(1)
    });
    assert!(announced, "shoal seed never announced\n{}", seed.logs());

    // aria2 has no --peer: it finds the seeder through the tracker.
    let out = work.join("out");
    let mut cmd = Command::new("aria2c");
    cmd.arg("--dir").arg(&out).arg(&torrent).args([
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
    assert!(
        status.success(),
        "aria2c failed: {status}\n{}\n{}",
        aria.logs(),
        seed.logs()
    );
    assert_same_content(&seed_dir, &out, "aria2 from shoal");
}

/// One Shoal seeder (upload limited so that leechers must trade) and
/// leechers of Shoal, libtorrent and Transmission, all through `shoal
/// tracker`.
#[test]
fn mixed_swarm_through_shoal_tracker() {
    let tmp = tempdir();
    let work = tmp.path();
    let (_tracker, taddr) = shoal_tracker(work);
    let url = format!("http://{taddr}/announce");
    let (seed_dir, file) = single_file(work, 6 * MIB + 5, 5);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[url]);
    let (_seed, _) = shoal_seed(work, &torrent, &seed_dir, &["--upload-limit", "2M"]);

    // Transmission first: the others learn it from the tracker and dial it.
    let tr_dir = work.join("tr");
    std::fs::create_dir_all(&tr_dir).expect("mkdir");
    let tr = Transmission::start(work, "tr-leech", &tr_dir);
    tr.add(&torrent);
    let announced = wait_until(Duration::from_secs(20), || {
        tracker_stats(taddr)["leechers"].as_u64() == Some(1)
    });
    assert!(
        announced,
        "Transmission never announced: {}",
        tracker_stats(taddr)
    );

    // The others stay after completing, so that nobody is left without a source.
    let (sh_dir, lt_dir) = (work.join("shoal"), work.join("lt"));
    let mut sh = shoal_download(work, "shoal-leech", &torrent, &sh_dir, &["--seed"]);
    let (mut lt, _) = libtorrent(work, "lt-leech", &torrent, &lt_dir, &["--stay"]);
    sh.wait_for("download complete", LIMIT);
    lt.wait_for("\"seconds\"", LIMIT);
    tr.wait_complete(LIMIT);

    assert_same_content(&seed_dir, &sh_dir, "shoal leecher");
    assert_same_content(&seed_dir, &lt_dir, "libtorrent leecher");
    assert_same_content(&seed_dir, &tr_dir, "Transmission leecher");
}

/// Files of odd sizes across 16 KiB pieces, with an empty file and nested
/// directories: Shoal seeds to libtorrent and downloads from libtorrent;
/// both sides end with every file, the empty one included.
#[test]
fn multi_file_odd_sizes_with_libtorrent() {
    let tmp = tempdir();
    let work = tmp.path();
    let content = work.join("seed").join("odd");
    let sizes: [(&str, usize); 7] = [
        ("empty.txt", 0),
        ("a/one.bin", 1),
        ("a/b/prime.bin", 65_537),
        ("c.bin", 100_003),
        ("d/e/f.bin", 262_145),
        ("tail.bin", 16 * KIB - 1),
        ("z/last.bin", 3),
    ];
    for (i, (rel, len)) in sizes.iter().enumerate() {
        write_file(&content.join(rel), *len, 100 + i as u64);
    }
    let torrent = work.join("odd.torrent");
    create_torrent(&content, &torrent, "16K", &[]);

    // Shoal seeds, libtorrent downloads.
    let (_seed, addr) = shoal_seed(work, &torrent, &work.join("seed"), &[]);
    let lt_out = work.join("lt");
    let peer = addr.to_string();
    let (mut lt, _) = libtorrent(work, "lt-leech", &torrent, &lt_out, &["--peer", &peer]);
    lt.finish_json(LIMIT);
    assert_same_content(&content, &lt_out.join("odd"), "libtorrent from shoal");

    // libtorrent seeds, Shoal downloads.
    let (_lt_seed, port) = libtorrent_seed(work, &torrent, &work.join("seed"));
    let out = work.join("out");
    let peer = format!("127.0.0.1:{port}");
    let mut dl = shoal_download(work, "shoal", &torrent, &out, &["--peer", &peer]);
    dl.finish_json(LIMIT);
    assert_same_content(&content, &out.join("odd"), "shoal from libtorrent");
}

/// A magnet link (info-hash only): the metadata comes over BEP 9 from
/// the peer, in both directions with libtorrent.
#[test]
fn magnet_links_with_libtorrent() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 3 * MIB + 333, 8);
    let torrent = work.join("t.torrent");
    let hash = create_torrent(&file, &torrent, "32K", &[]);
    let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=payload.bin");

    // Shoal fetches metadata and data from libtorrent.
    let (_lt, port) = libtorrent_seed(work, &torrent, &seed_dir);
    let out = work.join("shoal");
    let peer = format!("127.0.0.1:{port}");
    let mut cmd = shoal();
    cmd.arg("download").arg(&magnet).arg("--dir").arg(&out);
    cmd.args(["--listen", "127.0.0.1:0", "--json", "--peer", &peer]);
    let report = Logged::spawn("shoal-magnet", work, &mut cmd).finish_json(LIMIT);
    assert_eq!(report["info_hash"], hash.as_str(), "{report}");
    assert_same_content(&seed_dir, &out, "shoal from a magnet link");

    // libtorrent fetches metadata and data from Shoal.
    let (_seed, addr) = shoal_seed(work, &torrent, &seed_dir, &[]);
    let lt_out = work.join("lt");
    let peer = addr.to_string();
    let (mut lt, _) = libtorrent(
        work,
        "lt-magnet",
        Path::new(&magnet),
        &lt_out,
        &["--peer", &peer],
    );
    lt.finish_json(LIMIT);
    assert_same_content(&seed_dir, &lt_out, "libtorrent from a magnet link");
}

/// A magnet link whose metadata comes from Transmission.
#[test]
fn magnet_link_from_transmission() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, MIB + 1, 9);
    let torrent = work.join("t.torrent");
    let hash = create_torrent(&file, &torrent, "16K", &[]);
    let tr = Transmission::start(work, "tr-seed", &seed_dir);
    tr.add(&torrent);
    tr.wait_complete(LIMIT);

    let out = work.join("out");
    let peer = format!("127.0.0.1:{}", tr.port);
    let mut cmd = shoal();
    cmd.arg("download")
        .arg(format!("magnet:?xt=urn:btih:{hash}"));
    cmd.arg("--dir").arg(&out);
    cmd.args(["--listen", "127.0.0.1:0", "--json", "--peer", &peer]);
    let report = Logged::spawn("shoal-magnet", work, &mut cmd).finish_json(LIMIT);
    assert_eq!(bytes_from_peers(&report), MIB as u64 + 1, "{report}");
    assert_same_content(&seed_dir, &out, "shoal from a magnet link");
}

/// Stop a rate-limited download half way with `signal`, check what is on
/// disk, restart it unlimited: it completes and fetches only what was
/// missing.
fn resume_after(signal: i32) {
    const PIECE: u64 = 64 * 1024;
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, file) = single_file(work, 8 * MIB, 7);
    let torrent = work.join("t.torrent");
    create_torrent(&file, &torrent, "64K", &[]);
    let pieces = 128;
    let (_lt, port) = libtorrent_seed(work, &torrent, &seed_dir);
    let out = work.join("out");
    let peer = format!("127.0.0.1:{port}");

    let args = ["--peer", &peer, "--download-limit", "1M"];
    let mut first = shoal_download(work, "first", &torrent, &out, &args);
    // Progress lines come every few seconds; stop once past 25%.
    let started = Instant::now();
    let halfway = wait_until(LIMIT, || {
        first
            .stderr()
            .lines()
            .filter_map(|l| {
                l.split("% (")
                    .next()?
                    .rsplit(' ')
                    .next()?
                    .parse::<f64>()
                    .ok()
            })
            .any(|p| p >= 25.0)
    });
    assert!(halfway, "no progress past 25%\n{}", first.logs());
    first.proc.signal(signal);
    let status = first.finish(Duration::from_secs(15));
    assert!(
        !status.success(),
        "an interrupted download must not report success"
    );
    eprintln!("stopped after {:?}: {status}", started.elapsed());

    // What is really on disk now.
    let o = run_with_timeout(
        shoal()
            .arg("verify")
            .arg(&torrent)
            .arg("--dir")
            .arg(&out)
            .arg("--json"),
        LIMIT,
    );
    let v: Value = serde_json::from_str(stdout(&o).trim())
        .unwrap_or_else(|_| panic!("verify JSON: {} {}", stdout(&o), stderr(&o)));
    let valid = v["valid"].as_u64().expect("valid");
    assert!(
        valid > 0 && valid < pieces,
        "{valid} of {pieces} pieces on disk"
    );

    let mut second = shoal_download(work, "second", &torrent, &out, &["--peer", &peer]);
    let report = second.finish_json(LIMIT);
    assert_same_content(&seed_dir, &out, "resumed download");
    let missing = (pieces - valid) * PIECE;
    let fetched = report["bytes"].as_u64().expect("bytes");
    eprintln!("{valid} of {pieces} pieces on disk after the stop; restart fetched {fetched} bytes ({missing} missing)");
    assert!(
        fetched <= missing + 2 * PIECE,
        "fetched {fetched} bytes, but only {missing} were missing\n{}",
        second.logs()
    );
    assert_eq!(bytes_from_peers(&report), fetched, "{report}");
    assert!(
        second
            .stderr()
            .contains(&format!("found {valid} of {pieces} pieces")),
        "restart did not find the {valid} pieces on disk\n{}",
        second.logs()
    );
}

#[test]
fn resume_after_sigint() {
    resume_after(2);
}

#[test]
fn resume_after_sigkill() {
    resume_after(9);
}

#[test]
fn demo_runs_and_summarizes() {
    let started = Instant::now();
    let o = run_with_timeout(shoal().arg("demo"), LIMIT);
    let text = stdout(&o);
    assert!(
        o.status.success(),
        "shoal demo failed:\n{text}\n{}",
        stderr(&o)
    );
    assert!(started.elapsed() < LIMIT);
    assert_eq!(text.matches("identical").count(), 4, "{text}");
    assert!(text.contains("copies verified"), "{text}");
}
