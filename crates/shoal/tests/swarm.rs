//! Swarm behaviour (issue 5), with every peer a separate process on
//! 127.0.0.1: the swarm effect measured against the minimum distribution
//! time (Kumar & Ross 2006), peer churn and the seeder leaving, a malicious
//! peer that sends corrupt blocks (smart-ban), and resume after `kill -9`
//! with the re-downloaded bytes counted by a proxy in front of the seeder.
//!
//! Every copy is checked by SHA-256; every process is killed by PID (with
//! its process group) when its handle drops.

mod common;

use common::*;
use serde_json::Value;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
const SIGINT: i32 = 2;

/// A process with its output in log files (see `common::Logged`).
type Node = Logged;

/// A test's working folder: `logs/` for process output, and the seeder's
/// content `seed/data.bin` (pseudo-random) with its sha256.
struct Workspace {
    work: tempfile::TempDir,
    logs: PathBuf,
    seed_dir: PathBuf,
    content: PathBuf,
    want: String,
}

impl Workspace {
    fn new(size: u64, seed: u64) -> Workspace {
        let work = tempdir();
        let logs = work.path().join("logs");
        std::fs::create_dir_all(&logs).expect("mkdir");
        let seed_dir = work.path().join("seed");
        let content = seed_dir.join("data.bin");
        write_file(&content, size as usize, seed);
        let want = sha256_file(&content);
        Workspace {
            work,
            logs,
            seed_dir,
            content,
            want,
        }
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// `shoal tracker` on a free port; returns it and its announce URL.
fn start_tracker(logs: &Path) -> (Node, String) {
    let port = free_port();
    let node = Node::spawn(
        "tracker",
        logs,
        shoal().args([
            "tracker",
            "--http",
            &format!("127.0.0.1:{port}"),
            "--announce-interval",
            "10",
            "--threads",
            "1",
        ]),
    );
    assert!(
        wait_for_tcp(port, Duration::from_secs(10)),
        "tracker did not start"
    );
    (node, format!("http://127.0.0.1:{port}/announce"))
}

/// `shoal create` a single-file torrent.
fn make_torrent(content: &Path, tracker: Option<&str>, piece_length: u64, out: &Path) {
    let mut cmd = shoal();
    cmd.arg("create").arg(content).arg("-o").arg(out);
    cmd.args(["--piece-length", &piece_length.to_string(), "--no-date"]);
    if let Some(t) = tracker {
        cmd.args(["-t", t]);
    }
    let o = run_with_timeout(&mut cmd, Duration::from_secs(30));
    assert!(o.status.success(), "shoal create failed: {}", stderr(&o));
}

/// `shoal seed` of `dir`'s complete data; returns it once seeding, and its
/// listening address.
fn start_seeder(
    name: &str,
    logs: &Path,
    torrent: &Path,
    dir: &Path,
    extra: &[&str],
) -> (Node, SocketAddr) {
    let mut node = Node::spawn(
        name,
        logs,
        shoal()
            .arg("seed")
            .arg(torrent)
            .arg("--dir")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra),
    );
    let addr = node.listening();
    node.wait_for("seeding ", Duration::from_secs(30));
    (node, addr)
}

/// `shoal download` into `dir`.
fn start_leecher(name: &str, logs: &Path, torrent: &Path, dir: &Path, extra: &[&str]) -> Node {
    std::fs::create_dir_all(dir).expect("mkdir");
    Node::spawn(
        name,
        logs,
        shoal()
            .arg("download")
            .arg(torrent)
            .arg("--dir")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--json"])
            .args(extra),
    )
}

/// Which pieces of `path` hold the original bytes. Shoal writes a piece
/// only once it has passed its hash check (and these torrents are far below
/// the write cache's spill threshold), so this is the set of verified
/// pieces as another process can see it.
fn pieces_on_disk(path: &Path, original: &[u8], piece_length: usize) -> Vec<bool> {
    let mut data = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(&mut data);
    }
    original
        .chunks(piece_length)
        .enumerate()
        .map(|(i, want)| {
            let start = i * piece_length;
            data.get(start..start + want.len()) == Some(want)
        })
        .collect()
}

fn count(pieces: &[bool]) -> usize {
    pieces.iter().filter(|&&p| p).count()
}

/// Kumar & Ross: T* = max(F/u_s, F/min d_i, N·F/(u_s + Σu_i)), with
/// unlimited downloads (F/min d_i = 0).
fn t_star(f: u64, u_s: u64, u_i: &[u64]) -> f64 {
    let f = f as f64;
    let n = u_i.len() as f64;
    let sum: u64 = u_s + u_i.iter().sum::<u64>();
    (f / u_s as f64).max(n * f / sum as f64)
}

/// Wait until every node in `nodes` (indices `which`) has printed
/// `download complete`; returns when each did, from `start`. Panics if one
/// exits or `limit` passes.
fn wait_complete(
    nodes: &mut [Node],
    which: &[usize],
    start: Instant,
    limit: Duration,
) -> Vec<Option<f64>> {
    let mut done: Vec<Option<f64>> = vec![None; nodes.len()];
    loop {
        for &i in which {
            if done[i].is_some() {
                continue;
            }
            if nodes[i].completed() {
                done[i] = Some(start.elapsed().as_secs_f64());
                continue;
            }
            assert!(
                nodes[i].proc.is_running(),
                "{} exited before completing\n{}",
                nodes[i].name,
                nodes[i].logs()
            );
        }
        if which.iter().all(|&i| done[i].is_some()) {
            return done;
        }
        if start.elapsed() > limit {
            let logs: Vec<String> = which
                .iter()
                .filter(|&&i| done[i].is_none())
                .map(|&i| nodes[i].logs())
                .collect();
            panic!(
                "not every leecher completed within {limit:?}:\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stop leechers that keep seeding (`--seed`) with SIGINT: each must exit
/// with success and print its JSON summary; returns the summaries.
fn stop_seeding_leechers(nodes: &mut [Node], which: &[usize]) -> Vec<Value> {
    for &i in which {
        nodes[i].proc.signal(SIGINT);
    }
    which
        .iter()
        .map(|&i| {
            let status = nodes[i].finish(Duration::from_secs(15));
            assert!(
                status.success(),
                "{} exited with {status} after SIGINT\n{}",
                nodes[i].name,
                nodes[i].logs()
            );
            nodes[i].json()
        })
        .collect()
}

/// Seeder and 8 leechers all upload-limited to u: the leechers trade
/// pieces, so all finish far sooner than the 8·F/u a lone seeder needs.
#[test]
fn swarm_effect_beats_a_lone_seeder() {
    const F: u64 = 4 * MIB;
    const U: u64 = 512 * KIB;
    const N: usize = 8;
    const PIECE: u64 = 64 * KIB;
    let Workspace {
        work,
        logs,
        seed_dir,
        content,
        want,
    } = Workspace::new(F, 0x5EED_0005);

    let (_tracker, url) = start_tracker(&logs);
    let torrent = work.path().join("swarm.torrent");
    make_torrent(&content, Some(&url), PIECE, &torrent);
    let rate = U.to_string();
    let (_seeder, seeder_addr) = start_seeder(
        "seeder",
        &logs,
        &torrent,
        &seed_dir,
        &["--upload-limit", &rate],
    );

    // Leechers stay after completing (--seed), as in the model.
    let start = Instant::now();
    let mut leechers: Vec<Node> = (0..N)
        .map(|i| {
            start_leecher(
                &format!("leecher{i}"),
                &logs,
                &torrent,
                &work.path().join(format!("l{i}")),
                &["--upload-limit", &rate, "--seed"],
            )
        })
        .collect();
    let all: Vec<usize> = (0..N).collect();
    let done = wait_complete(&mut leechers, &all, start, Duration::from_secs(45));
    let t = done.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
    let reports = stop_seeding_leechers(&mut leechers, &all);

    for i in 0..N {
        let copy = work.path().join(format!("l{i}")).join("data.bin");
        assert_eq!(sha256_file(&copy), want, "leecher{i}'s copy differs");
    }
    let received: u64 = reports
        .iter()
        .map(|r| r["bytes"].as_u64().unwrap_or(0))
        .sum();
    // T* assumes the seeder sends every piece once: what it sends beyond F
    // (the same piece to several leechers) shows up directly in T.
    let from_seeder: u64 = reports.iter().map(|r| bytes_from(r, seeder_addr)).sum();
    let lone = N as f64 * F as f64 / U as f64;
    let ts = t_star(F, U, &[U; N]);
    println!(
        "swarm effect: F = {} MiB, u = {} KiB/s for the seeder and {N} leechers: \
         T = {t:.1} s, T* = {ts:.1} s, T/T* = {:.2}; a lone seeder needs {lone:.0} s; \
         completions (s): {:?}; {:.1} MiB received in all; the seeder sent {:.2} F",
        F / MIB,
        U / KIB,
        t / ts,
        done.iter()
            .map(|d| format!("{:.1}", d.unwrap_or(0.0)))
            .collect::<Vec<_>>(),
        received as f64 / MIB as f64,
        from_seeder as f64 / F as f64
    );
    assert!(
        t < 0.5 * lone,
        "the swarm took {t:.1} s, not far below the {lone:.0} s of a lone seeder"
    );
}

/// A third of the leechers are killed mid-way; then the seeder is killed
/// once the surviving leechers together hold every piece; the survivors
/// still finish, from each other.
#[test]
fn swarm_survives_churn_and_the_seeder_leaving() {
    const F: u64 = 4 * MIB;
    const PIECE: u64 = 64 * KIB;
    const N: usize = 6;
    const KILLED: usize = N / 3;
    // The seeder is faster than each leecher, so the survivors hold a full
    // copy between them well before any of them is complete.
    const U_SEED: u64 = MIB;
    const U_LEECH: u64 = 256 * KIB;
    let Workspace {
        work,
        logs,
        seed_dir,
        content,
        want,
    } = Workspace::new(F, 0xC40A11);
    let original = std::fs::read(&content).expect("read");

    let (_tracker, url) = start_tracker(&logs);
    let torrent = work.path().join("churn.torrent");
    make_torrent(&content, Some(&url), PIECE, &torrent);
    let (mut seeder, _) = start_seeder(
        "seeder",
        &logs,
        &torrent,
        &seed_dir,
        &["--upload-limit", &U_SEED.to_string()],
    );

    let start = Instant::now();
    let rate = U_LEECH.to_string();
    let copy = |i: usize| work.path().join(format!("l{i}")).join("data.bin");
    let mut leechers: Vec<Node> = (0..N)
        .map(|i| {
            start_leecher(
                &format!("leecher{i}"),
                &logs,
                &torrent,
                &work.path().join(format!("l{i}")),
                &["--upload-limit", &rate, "--seed"],
            )
        })
        .collect();
    let pieces = |i: usize| pieces_on_disk(&copy(i), &original, PIECE as usize);
    let total = original.len().div_ceil(PIECE as usize);

    // 1. Kill the first third (SIGKILL) once each holds a quarter of the
    //    pieces: they have been trading, and are far from done.
    let quarter = total / 4;
    let victims: Vec<usize> = (0..KILLED).collect();
    let ok = wait_until(Duration::from_secs(30), || {
        victims.iter().all(|&i| count(&pieces(i)) >= quarter)
    });
    assert!(ok, "the leechers to kill never reached 25%");
    for &i in &victims {
        let held = count(&pieces(i));
        leechers[i].proc.kill();
        println!(
            "churn: killed leecher{i} at {:.1} s holding {held}/{total} pieces",
            start.elapsed().as_secs_f64()
        );
        assert!(held < total, "leecher{i} was already complete when killed");
    }

    // 2. The seeder leaves (SIGKILL) once the survivors hold every piece
    //    between them.
    let survivors: Vec<usize> = (KILLED..N).collect();
    let ok = wait_until(Duration::from_secs(30), || {
        let mut union = vec![false; total];
        for &i in &survivors {
            for (u, p) in union.iter_mut().zip(pieces(i)) {
                *u |= p;
            }
        }
        union.iter().all(|&p| p)
    });
    assert!(
        ok,
        "the survivors never held a full copy between them\n{}",
        seeder.logs()
    );
    seeder.proc.kill();
    let held: Vec<usize> = survivors.iter().map(|&i| count(&pieces(i))).collect();
    println!(
        "churn: seeder killed at {:.1} s; survivors hold {held:?} of {total} pieces",
        start.elapsed().as_secs_f64()
    );
    assert!(
        held.iter().any(|&h| h < total),
        "every survivor was complete before the seeder left: the test proves nothing"
    );

    // 3. The survivors finish from each other, with correct data.
    let done = wait_complete(&mut leechers, &survivors, start, Duration::from_secs(60));
    let reports = stop_seeding_leechers(&mut leechers, &survivors);
    for &i in &survivors {
        assert_eq!(sha256_file(&copy(i)), want, "leecher{i}'s copy differs");
    }
    println!(
        "churn: survivors complete at {:?} s; received {:?} bytes",
        survivors
            .iter()
            .map(|&i| format!("{:.1}", done[i].unwrap_or(0.0)))
            .collect::<Vec<_>>(),
        reports
            .iter()
            .map(|r| r["bytes"].as_u64().unwrap_or(0))
            .collect::<Vec<_>>()
    );
}

/// `evil_seeder.py` on a free port of 127.0.0.2, serving corrupt blocks for
/// `corrupt`. Bans are by address, so the evil peer needs an address of
/// its own: every other peer of these tests is on 127.0.0.1.
fn start_evil(
    logs: &Path,
    torrent: &Path,
    content: &Path,
    corrupt: &[u32],
) -> (Node, SocketAddr, PathBuf) {
    let port = free_port();
    let log = logs.join("evil-connections.log");
    let list: Vec<String> = corrupt.iter().map(|p| p.to_string()).collect();
    let mut node = Node::spawn(
        "evil",
        logs,
        Command::new(SYSTEM_PYTHON)
            .arg(script("evil_seeder.py"))
            .arg("--torrent")
            .arg(torrent)
            .arg("--data")
            .arg(content)
            .args(["--host", "127.0.0.2", "--port", &port.to_string()])
            .args(["--corrupt", &list.join(",")])
            .arg("--log")
            .arg(&log),
    );
    node.wait_for("listening", Duration::from_secs(15));
    (node, SocketAddr::from(([127, 0, 0, 2], port)), log)
}

/// Lines of `shoal`'s stderr that record a ban.
fn ban_lines(err: &str) -> Vec<String> {
    err.lines()
        .filter(|l| l.contains("banning peer"))
        .map(str::to_string)
        .collect()
}

/// The evil peer's log: connections it accepted and saw closed.
fn evil_connections(log: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let n = |w: &str| text.lines().filter(|l| l.starts_with(w)).count();
    (n("connected "), n("closed "))
}

fn bytes_from(report: &Value, peer: SocketAddr) -> u64 {
    report["downloaded_from"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["peer"].as_str() == Some(&peer.to_string()))
        .map(|c| c["bytes"].as_u64().unwrap_or(0))
        .sum()
}

/// An evil peer (corrupt blocks for every fourth piece, everything else
/// right, unlimited) and an honest, slower seeder at once: the download
/// completes with correct data, the evil peer is banned (its connection
/// closed, never re-opened) and the honest one is not.
#[test]
fn malicious_peer_is_banned_and_honest_peer_is_not() {
    const F: u64 = 4 * MIB;
    const PIECE: u64 = 64 * KIB;
    let Workspace {
        work,
        logs,
        seed_dir,
        content,
        want,
    } = Workspace::new(F, 0xBAD_DA7A);
    let torrent = work.path().join("evil.torrent");
    make_torrent(&content, None, PIECE, &torrent);
    let corrupt: Vec<u32> = (0..(F / PIECE) as u32).step_by(4).collect();

    let (_evil, evil_addr, evil_log) = start_evil(&logs, &torrent, &content, &corrupt);
    let (_honest, honest_addr) = start_seeder(
        "honest",
        &logs,
        &torrent,
        &seed_dir,
        &["--no-tracker", "--upload-limit", "1M"],
    );
    let mut down = start_leecher(
        "downloader",
        &logs,
        &torrent,
        &work.path().join("down"),
        &[
            "--no-tracker",
            "--peer",
            &evil_addr.to_string(),
            "--peer",
            &honest_addr.to_string(),
        ],
    );
    let status = down.finish(Duration::from_secs(60));
    assert!(
        status.success(),
        "download failed ({status})\n{}",
        down.logs()
    );
    assert_eq!(
        sha256_file(&work.path().join("down").join("data.bin")),
        want,
        "the downloaded copy differs"
    );

    let err = down.stderr();
    let bans = ban_lines(&err);
    println!("malicious peer: ban records: {bans:#?}");
    assert!(
        bans.iter().any(|l| l.contains(&evil_addr.ip().to_string())),
        "the evil peer {evil_addr} was not banned\n{}",
        down.logs()
    );
    assert!(
        !bans
            .iter()
            .any(|l| l.contains(&honest_addr.ip().to_string())),
        "the honest peer {honest_addr} was banned\n{}",
        down.logs()
    );
    let ban_at = err.find("banning peer").unwrap_or(usize::MAX);
    let done_at = err.find("download complete").unwrap_or(0);
    assert!(
        ban_at < done_at,
        "the ban came only after completion\n{err}"
    );
    // The evil peer's script logs the close on its own schedule.
    wait_until(Duration::from_secs(10), || {
        evil_connections(&evil_log).1 >= 1
    });
    let (connected, closed) = evil_connections(&evil_log);
    assert_eq!(
        connected, 1,
        "the evil peer was connected {connected} times"
    );
    assert_eq!(closed, 1, "the evil peer's connection was not closed");
    let report = down.json();
    let honest_bytes = bytes_from(&report, honest_addr);
    println!(
        "malicious peer: {} B from the honest seeder, {} B from the evil one, {} B in all",
        honest_bytes,
        bytes_from(&report, evil_addr),
        report["bytes"]
    );
    assert!(honest_bytes > 0, "nothing came from the honest seeder");
}

/// The evil peer alone first (corrupt blocks for some pieces, the others
/// right): it alone sent the failing piece, so it is banned at once and the
/// download stalls; then an honest seeder dials in and the download
/// completes with correct data.
#[test]
fn sole_corrupt_sender_is_banned_then_honest_seeder_completes() {
    const F: u64 = 4 * MIB;
    const PIECE: u64 = 64 * KIB;
    let Workspace {
        work,
        logs,
        seed_dir,
        content,
        want,
    } = Workspace::new(F, 0x501E);
    let torrent = work.path().join("evil.torrent");
    make_torrent(&content, None, PIECE, &torrent);
    let corrupt: Vec<u32> = (3..(F / PIECE) as u32).step_by(5).collect();

    let (_evil, evil_addr, evil_log) = start_evil(&logs, &torrent, &content, &corrupt);
    let mut down = start_leecher(
        "downloader",
        &logs,
        &torrent,
        &work.path().join("down"),
        &["--no-tracker", "--peer", &evil_addr.to_string()],
    );
    let down_addr = down.listening();
    down.wait_for("banning peer", Duration::from_secs(30));
    assert!(
        !down.completed() && down.proc.is_running(),
        "completed with only the evil peer\n{}",
        down.logs()
    );
    let (_honest, honest_addr) = start_seeder(
        "honest",
        &logs,
        &torrent,
        &seed_dir,
        &["--no-tracker", "--peer", &down_addr.to_string()],
    );
    let status = down.finish(Duration::from_secs(60));
    assert!(
        status.success(),
        "download failed ({status})\n{}",
        down.logs()
    );
    assert_eq!(
        sha256_file(&work.path().join("down").join("data.bin")),
        want,
        "the downloaded copy differs"
    );
    let bans = ban_lines(&down.stderr());
    println!("sole corrupt sender: ban records: {bans:#?}");
    assert_eq!(bans.len(), 1, "expected one ban\n{}", down.logs());
    assert!(
        bans[0].contains(&evil_addr.ip().to_string()),
        "wrong peer banned: {}",
        bans[0]
    );
    // The evil peer's script logs the close on its own schedule.
    wait_until(Duration::from_secs(10), || {
        evil_connections(&evil_log).1 >= 1
    });
    let (connected, closed) = evil_connections(&evil_log);
    assert_eq!(
        connected, 1,
        "the evil peer was connected {connected} times"
    );
    assert_eq!(closed, 1, "the evil peer's connection was not closed");
    let report = down.json();
    let from_honest = report["downloaded_from"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["peer"].as_str() != Some(&evil_addr.to_string()))
        .map(|c| c["bytes"].as_u64().unwrap_or(0))
        .sum::<u64>();
    println!(
        "sole corrupt sender: {} B from the evil peer, {from_honest} B from the honest seeder ({honest_addr})",
        bytes_from(&report, evil_addr)
    );
    assert!(from_honest > 0, "nothing came from the honest seeder");
}

/// A TCP proxy on 127.0.0.1 in front of `target` that counts the bytes
/// sent from the target to whoever connected (the payload a downloader
/// receives, plus message framing). Stops accepting when dropped.
struct CountingProxy {
    port: u16,
    down: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl CountingProxy {
    fn start(target: SocketAddr) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let down = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s) = (down.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        if let Ok(server) = TcpStream::connect(target) {
                            Self::pipe(server, client, d.clone());
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        CountingProxy { port, down, stop }
    }

    /// Copy both ways; count what `server` sends.
    fn pipe(server: TcpStream, client: TcpStream, count: Arc<AtomicU64>) {
        let copy = |mut from: TcpStream, mut to: TcpStream, count: Option<Arc<AtomicU64>>| {
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    if let Some(c) = &count {
                        c.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
                let _ = from.shutdown(Shutdown::Both);
                let _ = to.shutdown(Shutdown::Both);
            });
        };
        let (s2, c2) = match (server.try_clone(), client.try_clone()) {
            (Ok(s), Ok(c)) => (s, c),
            _ => return,
        };
        copy(server, client, Some(count));
        copy(c2, s2, None);
    }

    fn bytes(&self) -> u64 {
        self.down.load(Ordering::Relaxed)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// xorshift64*, seeded from the clock (printed) or `SWARM_SEED`.
struct Rng(u64);

impl Rng {
    fn new() -> (Rng, u64) {
        let seed = std::env::var("SWARM_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        (Rng(seed | 1), seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// A rate-limited download killed with SIGKILL at five random points (each
/// run after a random F/12..F/6 bytes): every restart resumes from
/// what is on disk, the final copy is right, and all runs together fetch
/// at most F + one piece per kill (+ framing).
///
/// Bytes are counted by a proxy between the seeder and the downloader
/// (what the seeder sent to each run, including the runs killed before
/// they could report anything); the final run's own `--json` count is
/// checked against the proxy's.
#[test]
fn crash_resume_refetches_at_most_a_piece_per_kill() {
    const F: u64 = 8 * MIB;
    const PIECE: u64 = 256 * KIB;
    const KILLS: usize = 5;
    let (mut rng, seed) = Rng::new();
    println!("crash resume: seed {seed} (set SWARM_SEED to replay)");
    let Workspace {
        work,
        logs,
        seed_dir,
        content,
        want,
    } = Workspace::new(F, 0xC2A54);
    let torrent = work.path().join("resume.torrent");
    make_torrent(&content, None, PIECE, &torrent);
    let (_seeder, seeder_addr) = start_seeder(
        "seeder",
        &logs,
        &torrent,
        &seed_dir,
        &["--no-tracker", "--upload-limit", "2M"],
    );
    let proxy = CountingProxy::start(seeder_addr);
    let peer = format!("127.0.0.1:{}", proxy.port);
    let down_dir = work.path().join("down");

    // Each run is killed after it has received a random amount between
    // F/12 (a few pieces, so every run completes some) and F/6: the five
    // kills land between 42% and 83% of F in all, before completion.
    let points: Vec<u64> = (0..KILLS)
        .map(|_| F / 12 + rng.below(F / 6 - F / 12))
        .collect();
    println!("crash resume: bytes before each kill {points:?}");

    let mut found = Vec::new();
    let mut per_run = Vec::new();
    let started = Instant::now();
    for (run, &point) in points.iter().enumerate() {
        let before = proxy.bytes();
        let mut down = start_leecher(
            &format!("run{run}"),
            &logs,
            &torrent,
            &down_dir,
            &["--no-tracker", "--peer", &peer],
        );
        if run > 0 {
            found.push(resumed_pieces(&mut down));
        }
        let ok = wait_until(Duration::from_secs(20), || {
            proxy.bytes() - before >= point || !down.proc.is_running()
        });
        assert!(
            ok && down.proc.is_running(),
            "run {run} did not reach {point} B (proxy at {} B)\n{}",
            proxy.bytes(),
            down.logs()
        );
        down.proc.kill();
        // Bytes already in the proxy's hands when the kill landed.
        std::thread::sleep(Duration::from_millis(100));
        per_run.push(proxy.bytes() - before);
    }

    let before = proxy.bytes();
    let mut last = start_leecher(
        "final",
        &logs,
        &torrent,
        &down_dir,
        &["--no-tracker", "--peer", &peer],
    );
    found.push(resumed_pieces(&mut last));
    let status = last.finish(Duration::from_secs(30));
    assert!(
        status.success(),
        "final run failed ({status})\n{}",
        last.logs()
    );
    std::thread::sleep(Duration::from_millis(100));
    let final_proxy = proxy.bytes() - before;
    per_run.push(final_proxy);
    assert_eq!(
        sha256_file(&down_dir.join("data.bin")),
        want,
        "the resumed copy differs"
    );
    let report = last.json();
    let final_payload = report["bytes"].as_u64().unwrap_or(u64::MAX);
    let total: u64 = per_run.iter().sum();
    // Framing: 13 bytes of header per 16 KiB block, plus per connection a
    // handshake, extension handshake, bitfield and haves (< 2 KiB here).
    let slack = total.div_ceil(16 * KIB) * 13 + (KILLS as u64 + 1) * 2 * KIB;
    let bound = F + KILLS as u64 * PIECE + slack;
    println!(
        "crash resume: pieces found at each restart {found:?} of {}; bytes per run {per_run:?}; \
         total {total} B = F + {:.2} pieces (bound F + {KILLS} pieces + {slack} B framing); \
         final run reports {final_payload} B payload; {:.1} s",
        F / PIECE,
        (total as f64 - F as f64) / PIECE as f64,
        started.elapsed().as_secs_f64()
    );
    assert!(
        final_payload <= final_proxy,
        "the final run got {final_payload} B but only {final_proxy} B came through the proxy: \
         it bypassed the counting proxy"
    );
    for w in found.windows(2) {
        assert!(
            w[1] > w[0],
            "a restart did not resume past the previous one: {found:?}"
        );
    }
    assert!(
        total <= bound,
        "re-downloaded more than one piece per kill: {total} B > {bound} B"
    );
}

/// Wait for a restarted download's check and return how many pieces it
/// found on disk (0 if it printed no `found N of M pieces` line).
fn resumed_pieces(down: &mut Node) -> u64 {
    // The session starts peers right after the check; its progress
    // (or the `found` line) follows the `listening on` line.
    down.listening();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let err = down.stderr();
        let line = err
            .lines()
            .find(|l| l.starts_with("found ") && l.contains("pieces already on disk"));
        if let Some(line) = line {
            return line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
        if err.contains("downloading:") || !down.proc.is_running() || Instant::now() > deadline {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
