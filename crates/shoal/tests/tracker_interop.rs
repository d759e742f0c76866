//! `shoal tracker` with real clients on loopback: Transmission seeds, a
//! libtorrent session downloads, and they can only find each other through
//! the tracker (DHT, LSD, PEX sources and uTP are off). One test over HTTP,
//! one over UDP (BEP 15). Transmission 3.00 never dials 127.x peers learned
//! from a tracker, so it is the seeder and libtorrent dials it.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// A running `shoal tracker` on loopback ports chosen by the OS.
pub struct ShoalTracker {
    pub proc: Proc,
    pub http: SocketAddr,
    pub udp: SocketAddr,
}

/// Start `shoal tracker` with `extra` arguments and read its bound
/// addresses from stderr (it writes them to a file we poll).
pub fn start_shoal_tracker(dir: &Path, extra: &[&str]) -> ShoalTracker {
    let log = dir.join("tracker.log");
    let f = std::fs::File::create(&log).unwrap();
    let proc = Proc::spawn(
        shoal()
            .args(["tracker", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
            .args(extra)
            .env("SHOAL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(f),
    );
    let mut addrs = (None, None);
    let ok = wait_until(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        for l in text.lines() {
            if let Some(a) = l.strip_prefix("shoal tracker: listening http on ") {
                addrs.0 = a.trim().parse().ok();
            }
            if let Some(a) = l.strip_prefix("shoal tracker: listening udp on ") {
                addrs.1 = a.trim().parse().ok();
            }
        }
        addrs.0.is_some() && addrs.1.is_some()
    });
    assert!(
        ok,
        "shoal tracker did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    ShoalTracker {
        proc,
        http: addrs.0.unwrap(),
        udp: addrs.1.unwrap(),
    }
}

/// GET a path from an HTTP server and return the body.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn json_field(stats: &str, key: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(stats).unwrap_or_default();
    v.get(key)
        .and_then(|x| x.as_u64())
        .or_else(|| v["requests"].get(key).and_then(|x| x.as_u64()))
        .unwrap_or(0)
}

fn transmission_to_libtorrent(udp: bool) {
    require("transmission-daemon");
    require("transmission-remote");
    require("transmission-create");
    require_libtorrent();
    let dir = tempdir();
    let t = start_shoal_tracker(dir.path(), &["--announce-interval", "10"]);
    let announce = if udp {
        format!("udp://{}", t.udp)
    } else {
        format!("http://{}/announce", t.http)
    };

    // 6 MiB of data, a torrent for it announcing only to our tracker.
    let seed_dir = dir.path().join("seed");
    let data = seed_dir.join("payload.bin");
    write_file(&data, 6 << 20, 0x5eed);
    let torrent = dir.path().join("payload.torrent");
    let out = run_with_timeout(
        Command::new("transmission-create")
            .arg("-o")
            .arg(&torrent)
            .args(["-s", "64", "-t", &announce])
            .arg(&data),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "transmission-create: {}",
        stderr(&out)
    );

    // Transmission seeds it.
    let (rpc, peer) = (free_port(), free_port());
    let cfg = dir.path().join("tr-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let _tr = Proc::spawn(
        Command::new("transmission-daemon")
            .args([
                "-f",
                "-T",
                "-O",
                "-Y",
                "--no-utp",
                "-M",
                "-i",
                "127.0.0.1",
                "-r",
                "127.0.0.1",
            ])
            .arg("-g")
            .arg(&cfg)
            .arg("-w")
            .arg(&seed_dir)
            .args(["-p", &rpc.to_string(), "-P", &peer.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(
        wait_for_tcp(rpc, Duration::from_secs(15)),
        "transmission-daemon did not start"
    );
    let out = run_with_timeout(
        Command::new("transmission-remote")
            .arg(format!("127.0.0.1:{rpc}"))
            .arg("-a")
            .arg(&torrent),
        Duration::from_secs(15),
    );
    assert!(
        out.status.success(),
        "transmission-remote -a: {} {}",
        stdout(&out),
        stderr(&out)
    );

    // Wait until the tracker knows Transmission as a seeder.
    let seen = wait_until(Duration::from_secs(25), || {
        json_field(&http_get(t.http, "/stats"), "seeders") >= 1
    });
    assert!(
        seen,
        "Transmission never announced as a seeder: {}",
        http_get(t.http, "/stats")
    );

    // libtorrent downloads it, finding Transmission only through the tracker.
    let get_dir = dir.path().join("get");
    std::fs::create_dir_all(&get_dir).unwrap();
    let lt_port = free_port();
    let out = run_with_timeout(
        Command::new(SYSTEM_PYTHON)
            .arg(script("lt_peer.py"))
            .arg("--torrent")
            .arg(&torrent)
            .arg("--save")
            .arg(&get_dir)
            .args(["--port", &lt_port.to_string(), "--timeout", "40"]),
        Duration::from_secs(50),
    );
    let log = stdout(&out);
    assert!(
        out.status.success(),
        "libtorrent did not finish:\n{}\n{}",
        log.lines().rev().take(25).collect::<Vec<_>>().join("\n"),
        stderr(&out)
    );
    assert_eq!(
        sha256_file(&get_dir.join("payload.bin")),
        sha256_file(&data),
        "downloaded data differs"
    );

    let stats = http_get(t.http, "/stats");
    let kind = if udp { "udp_announce" } else { "http_announce" };
    assert!(
        json_field(&stats, kind) >= 2,
        "expected {kind} from both clients: {stats}"
    );
    if udp {
        assert_eq!(json_field(&stats, "http_announce"), 0, "{stats}");
        assert!(json_field(&stats, "udp_connect") >= 2, "{stats}");
    }
}

#[test]
fn tracker_http_transmission_seeds_libtorrent_downloads() {
    transmission_to_libtorrent(false);
}

#[test]
fn tracker_udp_transmission_seeds_libtorrent_downloads() {
    transmission_to_libtorrent(true);
}

#[test]
fn tracker_sigterm_and_address_in_use() {
    let dir = tempdir();
    let mut t = start_shoal_tracker(dir.path(), &[]);
    // A second tracker on the same port fails with a clear message.
    let out = run_with_timeout(
        shoal().args(["tracker", "--http", &t.http.to_string()]),
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cannot bind http") && err.contains("address in use"),
        "{err}"
    );
    // SIGTERM: a clean exit, promptly.
    t.proc.signal(15);
    let st = t
        .proc
        .wait_timeout(Duration::from_secs(5))
        .expect("tracker did not exit on SIGTERM");
    assert!(st.success(), "{st:?}");
    let log = std::fs::read_to_string(dir.path().join("tracker.log")).unwrap();
    assert!(log.contains("shutting down"), "{log}");
    // SIGINT too.
    let mut t = start_shoal_tracker(dir.path(), &[]);
    t.proc.signal(2);
    assert!(t
        .proc
        .wait_timeout(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
}

#[test]
fn tracker_whitelist_and_metrics_from_the_cli() {
    let dir = tempdir();
    // A malformed whitelist is refused at start with the line number.
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "# ok\nnot-a-hash\n").unwrap();
    let out = run_with_timeout(
        shoal()
            .args(["tracker", "--http", "127.0.0.1:0", "--whitelist"])
            .arg(&bad),
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.txt:2"), "{}", stderr(&out));

    let wl = dir.path().join("wl.txt");
    std::fs::write(&wl, format!("{}\n", "ab".repeat(20))).unwrap();
    let wl_arg = wl.to_str().unwrap().to_string();
    let t = start_shoal_tracker(
        dir.path(),
        &["--whitelist", &wl_arg, "--announce-interval", "60"],
    );
    let listed = "%AB".repeat(20);
    let other = "%CD".repeat(20);
    let ok = http_get(
        t.http,
        &format!("/announce?info_hash={listed}&peer_id=-XX0000-000000000000&port=7000&left=1"),
    );
    assert!(
        ok.starts_with("d8:complete") && ok.contains("8:intervali60e"),
        "{ok}"
    );
    let refused = http_get(
        t.http,
        &format!("/announce?info_hash={other}&peer_id=-XX0000-000000000000&port=7000&left=1"),
    );
    assert_eq!(refused, "d14:failure reason19:torrent not allowede");
    // The tracker re-executed itself once with the allocator's options
    // (same PID) so an idle tracker returns freed memory.
    let env = std::fs::read(format!("/proc/{}/environ", t.proc.pid())).unwrap_or_default();
    let env = String::from_utf8_lossy(&env);
    assert!(
        env.contains("MIMALLOC_PURGE_DELAY=0") && env.contains("SHOAL_TRACKER_ALLOC_SET=1"),
        "{env}"
    );
    let metrics = http_get(t.http, "/metrics");
    assert!(
        metrics.contains("shoal_tracker_requests_total{kind=\"http_announce\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("shoal_tracker_leechers 1"), "{metrics}");
}
