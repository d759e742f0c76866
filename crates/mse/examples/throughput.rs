//! Throughput of the RC4 layer: 1 GiB (or `MSE_BENCH_MIB` MiB) through a
//! loopback TCP pair, without encryption (policy Off: plain pass-through)
//! and with RC4 (policy Require), printing MB/s and CPU seconds per GiB
//! (sender and receiver together, both in this process).
//!
//! ```sh
//! cargo run --release -p shoal-mse --example throughput
//! ```

use std::time::Instant;

use shoal_mse::{accept, connect_encrypted, CryptoMethod, KnownInfoHashes, Policy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const IH: [u8; 20] = [7; 20];

/// What the dialer sends first: a plaintext peer must open with a
/// BitTorrent handshake (the acceptor tells plaintext from MSE by it).
const HANDSHAKE: [u8; 68] = {
    let mut h = [0u8; 68];
    h[0] = 19;
    let p = *b"BitTorrent protocol";
    let mut i = 0;
    while i < p.len() {
        h[1 + i] = p[i];
        i += 1;
    }
    h
};

/// The example's result type: any error, printed.
type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

async fn run(policy: Policy, total: u64) -> BoxResult<(CryptoMethod, f64, f64)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let receiver = tokio::spawn(async move {
        let (sock, _) = listener.accept().await?;
        let known = KnownInfoHashes::new([IH]);
        let acc = accept(sock, &known, Policy::Prefer).await?;
        let mut s = acc.stream;
        let mut buf = vec![0u8; 256 * 1024];
        // Everything after accept, the handshake included.
        let want = total + HANDSHAKE.len() as u64;
        let mut got = acc.initial_payload.len() as u64;
        let mut check = 0u8;
        while got < want {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            check ^= buf[n - 1];
            got += n as u64;
        }
        Ok::<_, shoal_mse::MseError>((got - HANDSHAKE.len() as u64, check))
    });
    let sock = TcpStream::connect(addr).await?;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut s = connect_encrypted(sock, IH, policy, &HANDSHAKE).await?;
    let method = s.method();
    let chunk = vec![0x5au8; 256 * 1024];
    let mut sent = 0u64;
    while sent < total {
        let n = (total - sent).min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..n]).await?;
        sent += n as u64;
    }
    s.flush().await?;
    let (got, _) = receiver.await.map_err(std::io::Error::other)??;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    assert_eq!(got, total);
    let gib = total as f64 / (1u64 << 30) as f64;
    Ok((method, total as f64 / secs / 1e6, cpu / gib))
}

fn main() -> BoxResult<()> {
    let mib: u64 = std::env::var("MSE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let total = mib << 20;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // RC4 on its own, in memory.
    let mut rc4 = shoal_mse::Rc4Stream::new(&[1; 20]);
    let mut buf = vec![0u8; 1 << 20];
    let (t0, cpu0) = (Instant::now(), cpu_seconds());
    let n = mib.min(256);
    for _ in 0..n {
        rc4.apply(&mut buf);
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let mb = (n << 20) as f64 / 1e6;
    println!(
        "rc4 in memory: {:.0} MB/s wall, {:.0} MB per CPU second",
        mb / wall,
        mb / cpu
    );
    for policy in [Policy::Off, Policy::Require] {
        let (method, mbps, cpu) = rt.block_on(run(policy, total))?;
        println!(
            "{mib} MiB over loopback TCP, {method:?}: {mbps:.0} MB/s, {cpu:.2} CPU s/GiB (both ends)"
        );
    }
    Ok(())
}
