//! Shared helpers for the integration and interop tests.
//!
//! Every external process is started through [`Proc`], which kills it (by
//! PID, with its process group) when dropped, so a failing test leaves
//! nothing behind. Every wait is bounded.
#![allow(dead_code)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the `shoal` binary built for these tests.
pub fn shoal_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shoal"))
}

/// A `Command` for the `shoal` binary.
pub fn shoal() -> Command {
    let mut cmd = Command::new(shoal_bin());
    // Tests talk to loopback only: no well-known DHT routers.
    cmd.env("SHOAL_DHT_ROUTERS", "");
    // Nor multicast announces that other tests' processes would hear
    // (the LSD test turns it back on in a network namespace of its own).
    cmd.env("SHOAL_LSD", "off");
    cmd
}

/// Debian's python, which has the libtorrent bindings.
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Fail loudly if a reference tool is missing: the test command installs
/// them, so a missing one is a broken setup, never a skip.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "reference tool `{tool}` is not installed (run the README test command)"
    );
}

/// Fail loudly unless `/usr/bin/python3` can import libtorrent.
pub fn require_libtorrent() {
    let ok = Command::new(SYSTEM_PYTHON)
        .args(["-c", "import libtorrent"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3-libtorrent is not installed (run the README test command)"
    );
}

/// Run a command to completion with a time limit; panics on timeout.
pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = Proc::spawn(cmd);
    child.wait_output(limit)
}

/// A child process killed (with its process group) on drop.
pub struct Proc {
    child: Option<Child>,
    name: String,
}

impl Proc {
    /// Spawn `cmd` in its own process group.
    pub fn spawn(cmd: &mut Command) -> Proc {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        let name = format!("{:?}", cmd.get_program());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child: Some(child),
            name,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Wait for exit within `limit` and collect its output; panics (after
    /// killing it) on timeout.
    pub fn wait_output(mut self, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        loop {
            let c = self.child.as_mut().expect("child");
            match c.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let name = self.name.clone();
                    self.kill();
                    panic!("{name} did not finish within {limit:?}");
                }
                Err(e) => panic!("wait failed: {e}"),
            }
        }
        let child = self.child.take().expect("child");
        child.wait_with_output().expect("collect output")
    }

    /// Wait for exit within `limit`; returns the exit status or None on timeout.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(s)) = c.try_wait() {
                    return Some(s);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Send a signal (e.g. `libc::SIGINT` = 2) to the process.
    pub fn signal(&self, sig: i32) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// Kill the process group and reap the child.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id();
            let _ = Command::new("kill")
                .args(["-9", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port on 127.0.0.1 (also free for UDP at the time of asking),
/// never one this test process handed out before: two calls in a row must
/// not give the same port to two programs that bind later.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..1000 {
        let t = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = t.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no free port");
}

/// Poll `f` every 50 ms until it returns true or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Wait until something accepts TCP connections on 127.0.0.1:port.
pub fn wait_for_tcp(port: u16, limit: Duration) -> bool {
    wait_until(limit, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
}

/// A fresh temporary directory removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("shoal-test-")
        .tempdir()
        .expect("tempdir")
}

/// Deterministic pseudo-random bytes (xorshift), for test content.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Write `len` pseudo-random bytes to `path`, creating parent directories.
pub fn write_file(path: &Path, len: usize, seed: u64) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(path, pseudo_random_bytes(len, seed)).expect("write");
}

/// SHA-256 of a file, via coreutils `sha256sum`.
pub fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(out.status.success(), "sha256sum {path:?} failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Stdout of an Output as a String.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr of an Output as a String.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A process whose stdout and stderr go to files (no pipe can fill up),
/// with helpers to wait for its output and read its JSON summary.
pub struct Logged {
    /// The process (killed with its group on drop).
    pub proc: Proc,
    /// A name for failure messages.
    pub name: String,
    out: PathBuf,
    err: PathBuf,
}

impl Logged {
    /// Spawn `cmd` with its output in `dir/NAME.out` and `dir/NAME.err`.
    pub fn spawn(name: &str, dir: &Path, cmd: &mut Command) -> Logged {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let file = |p: &Path| std::fs::File::create(p).expect("log file");
        let proc = Proc::spawn(
            cmd.stdin(Stdio::null())
                .stdout(file(&out))
                .stderr(file(&err)),
        );
        Logged {
            proc,
            name: name.to_string(),
            out,
            err,
        }
    }

    /// Everything it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Everything it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// The last lines of both logs, for failure messages.
    pub fn logs(&self) -> String {
        let tail = |s: String| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(25)..].join("\n")
        };
        format!(
            "--- {} stdout:\n{}\n--- {} stderr:\n{}",
            self.name,
            tail(self.stdout()),
            self.name,
            tail(self.stderr())
        )
    }

    /// Wait until stderr or stdout contains `needle`; panics if the
    /// process exits first or `limit` passes.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if self.stderr().contains(needle) || self.stdout().contains(needle) {
                return;
            }
            assert!(
                self.proc.is_running(),
                "{} exited before printing {needle:?}\n{}",
                self.name,
                self.logs()
            );
            assert!(
                Instant::now() < deadline,
                "{} printed no {needle:?} within {limit:?}\n{}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address from its `listening on ADDR` line.
    pub fn listening(&mut self) -> std::net::SocketAddr {
        self.wait_for("listening on ", Duration::from_secs(15));
        let err = self.stderr();
        err.split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{}: bad listening line\n{}", self.name, self.logs()))
    }

    /// Wait for exit within `limit`; panics with its logs on timeout.
    pub fn finish(&mut self, limit: Duration) -> std::process::ExitStatus {
        match self.proc.wait_timeout(limit) {
            Some(s) => s,
            None => panic!(
                "{} did not exit within {limit:?}\n{}",
                self.name,
                self.logs()
            ),
        }
    }

    /// The JSON summary (the last `{` line of stdout).
    pub fn json(&self) -> serde_json::Value {
        let out = self.stdout();
        out.lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("{} printed no JSON summary\n{}", self.name, self.logs()))
    }

    /// Wait for a successful exit and return its JSON summary.
    pub fn finish_json(&mut self, limit: Duration) -> serde_json::Value {
        let status = self.finish(limit);
        assert!(
            status.success(),
            "{} failed: {status}\n{}",
            self.name,
            self.logs()
        );
        self.json()
    }

    /// Whether a download reported completion.
    pub fn completed(&self) -> bool {
        self.stderr().contains("download complete")
    }
}
