//! `shoal demo`: a whole swarm on loopback, for a new user.
//!
//! Makes sample content (a few MiB in several files) in a temporary
//! directory, starts a tracker (in this process), then one seeder and
//! several leechers as child processes of this same binary (`shoal seed`,
//! `shoal download`), all on 127.0.0.1 with upload limits so that the
//! leechers must trade pieces among themselves. It shows each leecher's
//! progress, checks every copy byte for byte and prints who got how much
//! from whom. Everything it started is stopped and its directory removed.
//!
//! The seeder gets a copy of the torrent without the tracker (same
//! info-hash) and never dials out: every connection to it is dialed by a
//! leecher at its listening address, so a leecher's `--json` report tells
//! bytes from the seeder apart from bytes from other leechers.

use crate::size::parse_size;
use anyhow::{bail, ensure, Context};
use shoal_metainfo::{CreateOptions, CreateProgress, Creator};
use shoal_tracker::server::{Server, ServerOptions};
use shoal_tracker::{Tracker, TrackerConfig};
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Options of `shoal demo` (none needed).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of leechers.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub leechers: u32,
    /// Upload limit of the seeder and of each leecher (e.g. 512K, 1M).
    #[arg(long, default_value = "1M", value_parser = parse_size)]
    pub rate: u64,
}

/// Give up (and stop everything) after this long.
const DEADLINE: Duration = Duration::from_secs(60);
/// Name of the shared content (a directory).
const NAME: &str = "shoal-demo";
const MIB: f64 = 1048576.0;

/// Run `shoal demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let work = WorkDir::new()?;
    let content = work.0.join("seeder").join(NAME);
    let total = make_sample(&content)?;

    let server = Server::start(
        Tracker::new(TrackerConfig::with_interval(10)),
        &ServerOptions {
            http: vec![([127, 0, 0, 1], 0).into()],
            udp: vec![],
            threads: 1,
        },
    )?;
    let url = format!("http://{}/announce", server.http_addrs()[0]);
    let with_tracker = work.0.join("demo.torrent");
    let without_tracker = work.0.join("demo-seeder.torrent");
    let pieces = make_torrent(&content, Some(&url), &with_tracker)?;
    make_torrent(&content, None, &without_tracker)?;

    let exe = std::env::current_exe().context("cannot find the shoal binary")?;
    let rate = args.rate.to_string();
    let mut seeder = Peer::spawn(
        "seeder",
        Command::new(&exe)
            .arg("seed")
            .arg(&without_tracker)
            .arg("--dir")
            .arg(content.parent().context("content dir")?)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--upload-limit",
                &rate,
                "--no-dht",
            ]),
    )?;
    let seeder_addr = seeder.wait_listening(Duration::from_secs(10))?;
    println!(
        "shoal demo: {} in {} files ({pieces} pieces), tracker {url}, seeder {seeder_addr}",
        fmt_mib(total),
        count_files(&content)?,
    );
    println!(
        "uploads limited to {}/s each: alone the seeder would need {:.0} s to serve {} leechers",
        fmt_mib(args.rate),
        total as f64 * f64::from(args.leechers) / args.rate as f64,
        args.leechers
    );

    let mut leechers = Vec::new();
    for i in 1..=args.leechers {
        let dir = work.0.join(format!("leecher{i}"));
        std::fs::create_dir_all(&dir)?;
        let peer = Peer::spawn(
            &format!("leecher{i}"),
            Command::new(&exe)
                .arg("download")
                .arg(&with_tracker)
                .arg("--dir")
                .arg(&dir)
                .args([
                    "--listen",
                    "127.0.0.1:0",
                    "--upload-limit",
                    &rate,
                    "--no-dht",
                ])
                .args(["--peer", &seeder_addr.to_string(), "--json", "--seed"])
                // Progress lines twice a second, for the once-a-second view.
                .env(crate::progress::PROGRESS_INTERVAL_ENV, "500"),
        )?;
        leechers.push((peer, dir));
    }

    watch(&mut leechers, started)?;
    drop(seeder);
    server.shutdown();

    // Check every copy and sum up who got what from whom.
    println!();
    println!("leecher     time   from seeder   from leechers   check");
    let (mut sum_seeder, mut sum_peers) = (0u64, 0u64);
    for (peer, dir) in &leechers {
        let report = peer.report()?;
        let (from_seeder, from_peers) = split_sources(&report, seeder_addr);
        same_tree(&content, &dir.join(NAME))
            .with_context(|| format!("{}'s copy differs from the original", peer.name))?;
        println!(
            "{:<10} {:>5.1} s  {:>11}  {:>14}   identical",
            peer.name,
            report["seconds"].as_f64().unwrap_or(0.0),
            fmt_mib(from_seeder),
            fmt_mib(from_peers)
        );
        sum_seeder += from_seeder;
        sum_peers += from_peers;
    }
    let all = (sum_seeder + sum_peers).max(1) as f64;
    println!(
        "done in {:.1} s: {} copies verified; {:.0}% of the data came from other leechers, \
         {:.0}% from the seeder",
        started.elapsed().as_secs_f64(),
        leechers.len(),
        100.0 * sum_peers as f64 / all,
        100.0 * sum_seeder as f64 / all,
    );
    Ok(())
}

/// Show the leechers' progress until all have completed (each stays,
/// seeding to the others, until then), then stop them; fails if one fails
/// or the deadline passes.
fn watch(leechers: &mut [(Peer, PathBuf)], started: Instant) -> anyhow::Result<()> {
    let bars = std::io::stdout().is_terminal().then(|| {
        let multi = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template("{prefix:<10} [{bar:40}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bars: Vec<_> = leechers
            .iter()
            .map(|(p, _)| {
                let b = multi.add(indicatif::ProgressBar::new(1000));
                b.set_style(style.clone());
                b.set_prefix(p.name.clone());
                b
            })
            .collect();
        (multi, bars)
    });
    let mut last_line = Instant::now();
    loop {
        let mut downloading = 0;
        for (i, (peer, _)) in leechers.iter_mut().enumerate() {
            if let Some(s) = peer.child.try_wait()? {
                bail!("{} exited early ({s}):\n{}", peer.name, peer.log_tail());
            }
            peer.finished = peer.finished || peer.out.lock().is_ok_and(|o| o.complete);
            let (percent, status) = if peer.finished {
                (100.0, "done, seeding to the others".to_string())
            } else {
                downloading += 1;
                (peer.percent(), peer.detail())
            };
            if let Some((_, bars)) = &bars {
                bars[i].set_position((percent * 10.0) as u64);
                bars[i].set_message(format!("{percent:5.1}% {status}"));
            }
        }
        if bars.is_none() && (last_line.elapsed() >= Duration::from_secs(1) || downloading == 0) {
            last_line = Instant::now();
            let cols: Vec<String> = leechers
                .iter()
                .map(|(p, _)| format!("{} {:5.1}%", p.name, p.percent()))
                .collect();
            println!(
                "{:5.1} s  {}",
                started.elapsed().as_secs_f64(),
                cols.join("  ")
            );
        }
        if downloading == 0 {
            for b in bars.iter().flat_map(|(_, bars)| bars) {
                b.finish();
            }
            for (peer, _) in leechers.iter_mut() {
                peer.interrupt()?;
            }
            return Ok(());
        }
        ensure!(
            started.elapsed() < DEADLINE,
            "the swarm did not finish within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Bytes a leecher got from the seeder and from everyone else.
fn split_sources(report: &serde_json::Value, seeder: SocketAddr) -> (u64, u64) {
    let mut split = (0, 0);
    for from in report["downloaded_from"].as_array().into_iter().flatten() {
        let bytes = from["bytes"].as_u64().unwrap_or(0);
        let peer = from["peer"]
            .as_str()
            .and_then(|p| p.parse::<SocketAddr>().ok());
        if peer == Some(seeder) {
            split.0 += bytes;
        } else {
            split.1 += bytes;
        }
    }
    split
}

/// A child `shoal` process, killed on drop, whose output is collected by
/// reader threads.
struct Peer {
    name: String,
    child: Child,
    out: Arc<Mutex<Output>>,
    /// Has every piece.
    finished: bool,
}

/// What a child printed so far.
#[derive(Default)]
struct Output {
    /// The address from its `listening on ADDR` line.
    listening: Option<SocketAddr>,
    /// Whether it said `download complete`.
    complete: bool,
    /// The last percentage seen on stderr.
    percent: f64,
    /// What followed that percentage (pieces, rates, peers).
    detail: String,
    /// The last lines of stderr, for error messages.
    tail: Vec<String>,
    /// All of stdout.
    stdout: String,
}

impl Peer {
    fn spawn(name: &str, cmd: &mut Command) -> anyhow::Result<Peer> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start the {name}"))?;
        let out = Arc::new(Mutex::new(Output::default()));
        if let Some(mut stdout) = child.stdout.take() {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = stdout.read_to_string(&mut s);
                if let Ok(mut o) = out.lock() {
                    o.stdout = s;
                }
            });
        }
        if let Some(stderr) = child.stderr.take() {
            let out = out.clone();
            std::thread::spawn(move || {
                // Progress lines may end in '\r' (a bar) or '\n'.
                let mut reader = BufReader::new(stderr);
                let mut buf = Vec::new();
                while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                    for line in String::from_utf8_lossy(&buf).split('\r') {
                        if let Ok(mut o) = out.lock() {
                            o.saw_line(line.trim());
                        }
                    }
                    buf.clear();
                }
            });
        }
        Ok(Peer {
            name: name.to_string(),
            child,
            out,
            finished: false,
        })
    }

    fn wait_listening(&mut self, limit: Duration) -> anyhow::Result<SocketAddr> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(a) = self.out.lock().ok().and_then(|o| o.listening) {
                return Ok(a);
            }
            if let Some(s) = self.child.try_wait()? {
                bail!("the {} exited ({s}):\n{}", self.name, self.log_tail());
            }
            ensure!(
                Instant::now() < deadline,
                "the {} printed no `listening on` line",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn percent(&self) -> f64 {
        if self.finished {
            return 100.0;
        }
        self.out.lock().map(|o| o.percent).unwrap_or(0.0)
    }

    fn detail(&self) -> String {
        self.out
            .lock()
            .map(|o| o.detail.clone())
            .unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        // Give the reader threads a moment to drain the pipes.
        std::thread::sleep(Duration::from_millis(100));
        self.out
            .lock()
            .map(|o| o.tail.join("\n"))
            .unwrap_or_default()
    }

    /// SIGINT (a seeding `shoal download` then prints its summary and
    /// exits 0) and wait for the exit.
    fn interrupt(&mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()
            .context("cannot run kill")?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.child.try_wait()? {
                Some(s) if s.success() => return Ok(()),
                Some(s) => bail!("{} failed ({s}):\n{}", self.name, self.log_tail()),
                None => ensure!(Instant::now() < deadline, "{} did not stop", self.name),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `--json` summary of a finished download.
    fn report(&self) -> anyhow::Result<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self
                .out
                .lock()
                .map(|o| o.stdout.clone())
                .unwrap_or_default();
            let last = text.lines().rev().find(|l| l.trim_start().starts_with('{'));
            if let Some(v) = last.and_then(|l| serde_json::from_str(l).ok()) {
                return Ok(v);
            }
            ensure!(
                Instant::now() < deadline,
                "{} printed no JSON summary:\n{text}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Output {
    fn saw_line(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            if let Some(a) = rest.split_whitespace().next().and_then(|a| a.parse().ok()) {
                self.listening.get_or_insert(a);
            }
        }
        self.complete |= line.contains("download complete");
        if let Some(p) = last_percent(line) {
            self.percent = p;
            self.detail = line.rsplit('%').next().unwrap_or("").trim().to_string();
        }
        self.tail.push(line.to_string());
        if self.tail.len() > 20 {
            self.tail.remove(0);
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `NN%` or `NN.N%` in a line.
fn last_percent(line: &str) -> Option<f64> {
    let end = line.rfind('%')?;
    let head = &line[..end];
    let start = head
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    head[start..]
        .parse()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
}

/// A temporary directory removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> anyhow::Result<WorkDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("shoal-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Write the sample content under `dir`; returns its total size.
fn make_sample(dir: &Path) -> anyhow::Result<u64> {
    let readme = "Sample content made by `shoal demo`: a seeder and a few leechers \
                  trade these files over 127.0.0.1.\n";
    let tides: String = (0..20_000)
        .map(|i| format!("{i},{:.3},{}\n", (f64::from(i) / 50.0).sin() * 2.5, i % 24))
        .collect();
    let files: [(&str, Vec<u8>); 4] = [
        ("README.txt", readme.as_bytes().to_vec()),
        ("tides.csv", tides.into_bytes()),
        ("reef/coral.bin", pseudo_random(3 << 20, 1)),
        ("reef/kelp.bin", pseudo_random((2 << 20) + 12_345, 2)),
    ];
    let mut total = 0;
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        total += bytes.len() as u64;
    }
    Ok(total)
}

/// Deterministic pseudo-random bytes (xorshift64).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Write a torrent of `content` (64 KiB pieces); returns its piece count.
fn make_torrent(content: &Path, tracker: Option<&str>, out: &Path) -> anyhow::Result<u32> {
    let opts = CreateOptions {
        piece_length: Some(64 << 10),
        trackers: tracker
            .map(|t| vec![vec![t.to_string()]])
            .unwrap_or_default(),
        created_by: Some(format!("Shoal {} demo", env!("CARGO_PKG_VERSION"))),
        ..CreateOptions::default()
    };
    let (bytes, torrent) = Creator::scan(content)?.create(&opts, &CreateProgress::default())?;
    std::fs::write(out, bytes).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(torrent.piece_count())
}

fn count_files(dir: &Path) -> anyhow::Result<usize> {
    Ok(list_files(dir, Path::new(""))?.len())
}

/// Relative paths of all files under `dir`, sorted.
fn list_files(dir: &Path, rel: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join(rel))? {
        let entry = entry?;
        let path = rel.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            out.extend(list_files(dir, &path)?);
        } else {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Fails unless `a` and `b` hold the same files with the same bytes.
fn same_tree(a: &Path, b: &Path) -> anyhow::Result<()> {
    let (fa, fb) = (list_files(a, Path::new(""))?, list_files(b, Path::new(""))?);
    ensure!(fa == fb, "file lists differ: {fa:?} vs {fb:?}");
    for rel in &fa {
        ensure!(
            std::fs::read(a.join(rel))? == std::fs::read(b.join(rel))?,
            "{} differs",
            rel.display()
        );
    }
    Ok(())
}

fn fmt_mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_parsing() {
        assert_eq!(last_percent("downloading 45.5% 1.2 MiB/s"), Some(45.5));
        assert_eq!(last_percent("[====>   ] 7% eta 3s"), Some(7.0));
        assert_eq!(last_percent("no number %"), None);
        assert_eq!(last_percent("nothing"), None);
    }

    #[test]
    fn sources_split_by_seeder_address() {
        let seeder: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let report = serde_json::json!({"downloaded_from": [
            {"peer": "127.0.0.1:5000", "client": "Shoal", "bytes": 10},
            {"peer": "127.0.0.1:6000", "client": "Shoal", "bytes": 7},
            {"peer": "127.0.0.1:6001", "client": "Shoal", "bytes": 3},
        ]});
        assert_eq!(split_sources(&report, seeder), (10, 10));
    }
}
