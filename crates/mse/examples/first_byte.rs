//! How long an outgoing connection takes to get the peer's BitTorrent
//! handshake, for each order of trying plaintext and MSE: what
//! `bench/mse-first-byte.sh` measures against real clients to choose the
//! order Shoal dials in under `--encryption prefer`.
//!
//! usage: first_byte ADDR INFO_HASH_HEX ORDER ROUNDS
//!
//! ORDER: `plain`, `mse`, `plain-then-mse` (a new connection with MSE if the
//! peer hangs up on the plaintext handshake) or `mse-then-plain` (a new
//! plaintext connection if the peer hangs up on MSE). Each round dials
//! anew (a fresh peer id) and times from before the TCP connect to the
//! last byte of the peer's 68-byte handshake. Prints one line per round
//! and a summary line `ORDER median_ms=… mean_ms=… fallbacks=N`; exits 1
//! if a round gets no handshake at all.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shoal_mse::Policy;
use shoal_wire::{Handshake, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on one attempt.
const ATTEMPT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Plain,
    Mse,
}

/// One connection with `method`: Ok(()) once the peer's handshake is in;
/// Err(true) if the peer hung up (worth the other method), Err(false) if not.
async fn attempt(addr: SocketAddr, ours: &Handshake, method: Method) -> Result<(), bool> {
    let run = async {
        let mut sock = TcpStream::connect(addr).await.map_err(|_| false)?;
        let _ = sock.set_nodelay(true);
        let mut theirs = [0u8; Handshake::LEN];
        match method {
            Method::Plain => {
                sock.write_all(&ours.to_bytes()).await.map_err(|_| true)?;
                sock.read_exact(&mut theirs).await.map_err(|_| true)?;
            }
            Method::Mse => {
                let mut s = shoal_mse::connect_encrypted(
                    sock,
                    ours.info_hash,
                    Policy::Prefer,
                    &ours.to_bytes(),
                )
                .await
                .map_err(|e| e.suggests_plaintext_retry())?;
                s.read_exact(&mut theirs).await.map_err(|_| true)?;
            }
        }
        match Handshake::parse(&theirs) {
            Ok(Some(h)) if h.info_hash == ours.info_hash => Ok(()),
            _ => Err(false),
        }
    };
    tokio::time::timeout(ATTEMPT, run)
        .await
        .unwrap_or(Err(false))
}

fn parse_hex20(s: &str) -> Option<[u8; 20]> {
    let b = s.as_bytes();
    if b.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, pair) in b.chunks(2).enumerate() {
        let txt = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(txt, 16).ok()?;
    }
    Some(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: first_byte ADDR INFO_HASH_HEX plain|mse|plain-then-mse|mse-then-plain ROUNDS";
    let (Some(addr), Some(ih), Some(order), Some(rounds)) = (
        args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(2).and_then(|h| parse_hex20(h)),
        args.get(3),
        args.get(4)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let methods: &[Method] = match order.as_str() {
        "plain" => &[Method::Plain],
        "mse" => &[Method::Mse],
        "plain-then-mse" => &[Method::Plain, Method::Mse],
        "mse-then-plain" => &[Method::Mse, Method::Plain],
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let mut times = Vec::with_capacity(rounds);
    let mut fallbacks = 0;
    for round in 0..rounds {
        let ours = Handshake::new(ih, PeerId::generate())
            .with_extension_protocol(true)
            .with_fast(true);
        let start = Instant::now();
        let mut got = false;
        for (i, m) in methods.iter().enumerate() {
            match attempt(addr, &ours, *m).await {
                Ok(()) => {
                    got = true;
                    fallbacks += usize::from(i > 0);
                    break;
                }
                Err(true) => continue,
                Err(false) => break,
            }
        }
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if !got {
            eprintln!("{order}: round {round}: no handshake from {addr} after {ms:.1} ms");
            std::process::exit(1);
        }
        println!("{order} round {round}: {ms:.2} ms");
        times.push(ms);
        // Let the peer forget the connection before the next.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!("{order} median_ms={median:.2} mean_ms={mean:.2} fallbacks={fallbacks}");
}
