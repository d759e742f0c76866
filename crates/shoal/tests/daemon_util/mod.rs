//! Helpers for the `shoal daemon` tests: start a daemon, and a small raw
//! HTTP/1.1 client (so the tests control every header, as Sonarr's and
//! Transmission's clients do).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{shoal, Logged};

/// A running `shoal daemon` (killed on drop).
pub struct Daemon {
    /// The process and its logs.
    pub log: Logged,
    /// The API address.
    pub api: SocketAddr,
    /// The peer port.
    pub peer_port: u16,
}

/// The parts of an HTTP response.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Daemon {
    /// Start `shoal daemon` with its state in `dir/state`, downloads
    /// under `root`, a config file with `config` (TOML) and extra args.
    pub fn start(name: &str, dir: &Path, root: &Path, config: &str, extra: &[&str]) -> Daemon {
        let state = dir.join(format!("{name}-state"));
        Daemon::start_in(name, dir, &state, root, config, extra)
    }

    /// [`Daemon::start`] with the state directory given.
    pub fn start_in(
        name: &str,
        dir: &Path,
        state: &Path,
        root: &Path,
        config: &str,
        extra: &[&str],
    ) -> Daemon {
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(&cfg, config).expect("write config");
        let mut cmd = shoal();
        cmd.env("SHOAL_LOG", "info,shoal_engine=warn")
            .arg("daemon")
            .arg("--config")
            .arg(&cfg)
            .arg("--api")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(state)
            .arg("--download-root")
            .arg(root)
            .args(["--listen", "127.0.0.1:0", "--no-dht"])
            .args(extra);
        let mut log = Logged::spawn(name, dir, &mut cmd);
        log.wait_for("shoal daemon: api http://", Duration::from_secs(20));
        let out = log.stdout();
        let line = out
            .lines()
            .find(|l| l.starts_with("shoal daemon: api http://"))
            .expect("api line");
        let api: SocketAddr = line
            .trim_start_matches("shoal daemon: api http://")
            .split_whitespace()
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("bad api line {line:?}"));
        let peer_port = line
            .rsplit(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad api line {line:?}"));
        Daemon {
            log,
            api,
            peer_port,
        }
    }

    /// `transmission-remote`'s address argument.
    pub fn tr_addr(&self) -> String {
        self.api.to_string()
    }

    /// Send a request with these extra headers; `body` is sent as is.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        http(self.api, method, path, headers, body)
    }

    /// GET an /api path (with the CSRF header) and parse the JSON answer.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let r = self.request("GET", path, &[], b"");
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    /// POST JSON to an /api path with the CSRF header.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Resp {
        self.request(
            "POST",
            path,
            &[("X-Shoal-Csrf", "1"), ("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    /// Whether the daemon still serves its API.
    pub fn alive(&self) -> bool {
        TcpStream::connect(self.api).is_ok()
    }
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).expect("send head");
    // A refused large body may be cut short by the server: that is fine.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
        .unwrap_or_else(|| panic!("bad HTTP response: {:?}", String::from_utf8_lossy(&raw)))
}

fn parse_response(raw: &[u8]) -> Option<Resp> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n")?;
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..nl]).ok()?.trim(), 16).ok()?;
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(nl + 2..nl + 2 + size)?);
            rest = rest.get(nl + 2 + size + 2..)?;
        }
        body = out;
    }
    Some(Resp {
        status,
        headers,
        body,
    })
}

/// Poll `f` every 100 ms until it returns `Some`, or panic with `what`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The argon2 hash of `password`, from `shoal daemon --hash-password`.
pub fn hash_password(password: &str) -> String {
    use std::process::Stdio;
    let mut child = shoal()
        .args(["daemon", "--hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

/// Create `len` bytes of content at `dir/name` and a torrent for it
/// (announcing to `tracker`), returning the torrent's path.
pub fn make_torrent(
    dir: &Path,
    name: &str,
    len: usize,
    seed: u64,
    tracker: Option<&str>,
) -> PathBuf {
    let content = dir.join(name);
    crate::common::write_file(&content, len, seed);
    let out = dir.join(format!("{name}.torrent"));
    let mut cmd = shoal();
    cmd.arg("create").arg(&content).arg("-o").arg(&out);
    cmd.args(["--piece-length", "16384"]);
    if let Some(t) = tracker {
        cmd.args(["-t", t]);
    }
    let o = crate::common::run_with_timeout(&mut cmd, Duration::from_secs(20));
    assert!(o.status.success(), "create: {}", crate::common::stderr(&o));
    out
}

/// A `shoal tracker` on loopback (HTTP); returns the process and its
/// announce URL.
pub fn start_tracker(dir: &Path) -> (crate::common::Proc, String) {
    use std::process::Stdio;
    let log = dir.join("tracker.log");
    let f = std::fs::File::create(&log).expect("log");
    let proc = crate::common::Proc::spawn(
        shoal()
            .args([
                "tracker",
                "--http",
                "127.0.0.1:0",
                "--announce-interval",
                "10",
            ])
            .env("SHOAL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(f),
    );
    let addr: SocketAddr = wait_for(Duration::from_secs(10), "the tracker to listen", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("shoal tracker: listening http on "))
            .and_then(|a| a.trim().parse().ok())
    });
    (proc, format!("http://{addr}/announce"))
}

/// A libtorrent seeder (tests/scripts/lt_peer.py --seed) for `torrent`
/// with its content under `save`.
pub fn start_lt_seeder(dir: &Path, name: &str, torrent: &Path, save: &Path) -> Logged {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/lt_peer.py");
    let port = crate::common::free_port();
    let mut cmd = std::process::Command::new(crate::common::SYSTEM_PYTHON);
    cmd.arg(script)
        .arg("--torrent")
        .arg(torrent)
        .arg("--save")
        .arg(save)
        .args(["--port", &port.to_string(), "--timeout", "120", "--seed"]);
    Logged::spawn(name, dir, &mut cmd)
}
