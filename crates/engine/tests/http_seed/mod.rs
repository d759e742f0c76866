//! A small HTTP/1.1 file server with range support for web seed tests
//! (Python's `http.server` has no ranges), with faults to order: corrupt
//! bodies, error statuses, short bodies, ranges ignored, a rate limit.
//! Loopback only; one request per connection.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serves files as they are.
    None,
    /// Flips a byte in every 16 KiB of every body.
    Corrupt,
    /// Answers every request with this status and no body.
    Status(u16),
    /// Sends half the body, then closes.
    Short,
    /// Ignores `Range` and sends the whole file with 200.
    NoRange,
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Log {
    /// Each request: when, the path, the `Range` header.
    pub requests: Vec<(Instant, String, Option<String>)>,
}

/// A running server; it stops when dropped.
pub struct HttpSeed {
    /// Its address.
    pub addr: SocketAddr,
    /// What it saw.
    pub log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpSeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpSeed {
    /// Serve the files under `root` with `fault`, at most `rate` bytes/s
    /// per response if given.
    pub async fn start(root: &Path, fault: Fault, rate: Option<u64>) -> HttpSeed {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let root = root.to_path_buf();
        let log2 = log.clone();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let root = root.clone();
                let log = log2.clone();
                tokio::spawn(async move {
                    let _ = serve(s, &root, fault, rate, &log).await;
                });
            }
        });
        HttpSeed { addr, log, task }
    }

    /// `http://ADDR/` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path)
    }

    /// Number of requests so far.
    pub fn requests(&self) -> usize {
        self.log.lock().unwrap().requests.len()
    }
}

fn decode(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for comp in path.split('?').next()?.split('/').filter(|c| !c.is_empty()) {
        let bytes = comp.as_bytes();
        let mut raw = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let h = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                raw.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            } else {
                raw.push(bytes[i]);
                i += 1;
            }
        }
        let name = String::from_utf8(raw).ok()?;
        if name == ".." || name == "." || name.contains('/') {
            return None;
        }
        out.push(name);
    }
    Some(out)
}

async fn serve(
    mut s: TcpStream,
    root: &Path,
    fault: Fault,
    rate: Option<u64>,
    log: &Mutex<Log>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await?;
        if n == 0 || head.len() > 16384 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request = lines.next().unwrap_or("");
    let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
    let range = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("range"))
        .map(|(_, v)| v.trim().to_owned());
    log.lock()
        .unwrap()
        .requests
        .push((Instant::now(), path.clone(), range.clone()));
    if let Fault::Status(code) = fault {
        let msg =
            format!("HTTP/1.1 {code} Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return s.write_all(msg.as_bytes()).await;
    }
    let data = match decode(&path).map(|p| root.join(p)) {
        Some(p) if p.is_file() => tokio::fs::read(p).await?,
        _ => {
            let msg = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            return s.write_all(msg.as_bytes()).await;
        }
    };
    let total = data.len() as u64;
    let parsed = range.as_deref().and_then(|r| {
        let (a, b) = r.strip_prefix("bytes=")?.split_once('-')?;
        let a: u64 = a.parse().ok()?;
        let b: u64 = b.parse::<u64>().ok()?.min(total.checked_sub(1)?);
        (a <= b).then_some((a, b))
    });
    let (status, start, end) = match parsed {
        Some((a, b)) if fault != Fault::NoRange => ("206 Partial Content", a, b + 1),
        _ => ("200 OK", 0, total),
    };
    let mut body = data[start as usize..end as usize].to_vec();
    if fault == Fault::Corrupt {
        for i in (0..body.len()).step_by(16384) {
            body[i] ^= 0xff;
        }
    }
    let mut header = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status.starts_with("206") {
        header += &format!("Content-Range: bytes {}-{}/{}\r\n", start, end - 1, total);
    }
    header += "\r\n";
    s.write_all(header.as_bytes()).await?;
    if fault == Fault::Short {
        body.truncate(body.len() / 2);
    }
    match rate {
        None => s.write_all(&body).await?,
        Some(rate) => {
            let chunk = (rate / 20).max(1024) as usize;
            for c in body.chunks(chunk) {
                s.write_all(c).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    s.shutdown().await
}
