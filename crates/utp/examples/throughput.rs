//! Throughput of one uTP connection over loopback between two `UtpSocket`s.
//!
//! ```sh
//! cargo run --release -p shoal-utp --example throughput -- [MiB]   # default 1024
//! ```
//!
//! Prints MB/s and the process's CPU seconds (user + system, both ends
//! together) per GiB moved.

use std::time::Instant;

use shoal_utp::UtpSocket;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// User + system CPU seconds of this process (Linux `/proc/self/stat`).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which ends with ')').
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0) // USER_HZ is 100 on Linux
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let total = mib << 20;
    let server = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).await?;
    let client = UtpSocket::bind("127.0.0.1:0".parse().unwrap()).await?;
    let addr = server.local_addr()?;
    let receiver = tokio::spawn(async move {
        let (mut s, _) = server.accept().await?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0usize;
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Ok::<usize, std::io::Error>(got)
    });
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut c = client.connect(addr).await?;
    let verbose = std::env::var_os("UTP_VERBOSE").is_some();
    let mut last_report = Instant::now();
    let chunk = vec![0x5au8; 256 * 1024];
    let mut sent = 0;
    while sent < total {
        let n = chunk.len().min(total - sent);
        c.write_all(&chunk[..n]).await?;
        sent += n;
        if verbose && last_report.elapsed().as_secs() >= 1 {
            last_report = Instant::now();
            eprintln!("{:?}", c.info());
        }
    }
    c.shutdown().await?;
    let got = receiver.await.map_err(std::io::Error::other)??;
    let secs = t0.elapsed().as_secs_f64();
    let stats = c.stats();
    assert_eq!(got, total, "receiver got {got} of {total} bytes");
    let mbps = total as f64 / secs / 1e6;
    println!("{mib} MiB in {secs:.2} s: {mbps:.1} MB/s");
    if let (Some(a), Some(b)) = (cpu0, cpu_seconds()) {
        let per_gib = (b - a) / (total as f64 / (1u64 << 30) as f64);
        println!("CPU: {:.2} s total, {per_gib:.2} s per GiB", b - a);
    }
    if let Some(s) = stats {
        println!(
            "sender: {} packets, {} retransmitted ({} fast), {} timeouts",
            s.packets_sent, s.retransmits, s.fast_retransmits, s.timeouts
        );
    }
    Ok(())
}
