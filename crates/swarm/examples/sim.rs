//! Run a simulated swarm and print T, T*, T/T*, the seeders' copies per
//! piece, and how long the simulation took.
//!
//! ```text
//! cargo run --release -p shoal-swarm --example sim -- \
//!     --leechers 100 --size 8MiB --piece 256KiB --seed-rate 1MiB \
//!     --rate 1MiB --latency 10-50 --seed 1 [--super-seed] [--seeders 1] \
//!     [--download RATE] [--loss 0.01] [--hash-rate RATE] [--nodes]
//! ```
//!
//! Sizes and rates take K/M/G (decimal) or KiB/MiB/GiB suffixes; rates
//! are bytes per second. `--latency MIN-MAX` is each node's one-way
//! latency in milliseconds (two nodes are the sum of theirs apart).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use shoal_swarm::sim::{Role, Scenario, Simulation};

fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.to_ascii_lowercase();
    let (num, mult) = [
        ("gib", 1u64 << 30),
        ("mib", 1 << 20),
        ("kib", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| lower.strip_suffix(suf).map(|n| (n.to_owned(), *m)))
    .unwrap_or((lower.clone(), 1));
    let v: f64 = num.trim().parse().map_err(|_| format!("bad size: {s}"))?;
    Ok((v * mult as f64) as u64)
}

struct Args {
    leechers: usize,
    seeders: usize,
    size: u64,
    piece: u64,
    seed_rate: u64,
    rate: u64,
    download: Option<u64>,
    latency: (u64, u64),
    seed: u64,
    super_seed: bool,
    loss: f64,
    hash_rate: Option<u64>,
    show_nodes: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        leechers: 20,
        seeders: 1,
        size: 8 << 20,
        piece: 256 << 10,
        seed_rate: 1 << 20,
        rate: 1 << 20,
        download: None,
        latency: (10, 50),
        seed: 1,
        super_seed: false,
        loss: 0.0,
        hash_rate: None,
        show_nodes: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--leechers" | "-n" => a.leechers = val()?.parse().map_err(|e| format!("{e}"))?,
            "--seeders" => a.seeders = val()?.parse().map_err(|e| format!("{e}"))?,
            "--size" => a.size = parse_size(&val()?)?,
            "--piece" => a.piece = parse_size(&val()?)?,
            "--seed-rate" => a.seed_rate = parse_size(&val()?)?,
            "--rate" => a.rate = parse_size(&val()?)?,
            "--download" => a.download = Some(parse_size(&val()?)?),
            "--hash-rate" => a.hash_rate = Some(parse_size(&val()?)?),
            "--latency" => {
                let v = val()?;
                let (lo, hi) = v.split_once('-').unwrap_or((&v, &v));
                a.latency = (
                    lo.parse().map_err(|e| format!("{e}"))?,
                    hi.parse().map_err(|e| format!("{e}"))?,
                );
            }
            "--seed" => a.seed = val()?.parse().map_err(|e| format!("{e}"))?,
            "--loss" => a.loss = val()?.parse().map_err(|e| format!("{e}"))?,
            "--super-seed" => a.super_seed = true,
            "--nodes" => a.show_nodes = true,
            "--help" | "-h" => return Err("see the example's doc comment for flags".into()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sim: {e}");
            return ExitCode::from(2);
        }
    };
    let Ok(piece) = u32::try_from(a.piece) else {
        eprintln!("sim: piece size too large");
        return ExitCode::from(2);
    };
    let mut s = Scenario::new(a.size, piece, a.seed)
        .seeders(a.seeders, a.seed_rate)
        .leechers(a.leechers, a.rate)
        .latency(
            Duration::from_millis(a.latency.0),
            Duration::from_millis(a.latency.1),
        )
        .super_seed(a.super_seed);
    s.loss.probability = a.loss;
    s.hash_rate = a.hash_rate;
    for n in &mut s.nodes {
        if n.role == Role::Leecher {
            n.download = a.download;
        }
    }
    println!(
        "{} seeder(s) at {} B/s, {} leechers at {} B/s, {} bytes in {} B pieces, latency {}-{} ms per node, seed {}{}",
        a.seeders,
        a.seed_rate,
        a.leechers,
        a.rate,
        a.size,
        piece,
        a.latency.0,
        a.latency.1,
        a.seed,
        if a.super_seed { ", super-seeding" } else { "" }
    );
    let started = Instant::now();
    let report = Simulation::new(s).run();
    let wall = started.elapsed();
    println!("{report}");
    let copies = report.copies_per_piece();
    let mut hist = [0usize; 5];
    for c in &copies {
        hist[(c.round() as usize).min(4)] += 1;
    }
    println!(
        "pieces sent by the seeders 0/1/2/3/4+ times before a full copy was out: {:?}",
        hist
    );
    if a.show_nodes {
        for (i, n) in report.nodes.iter().enumerate() {
            println!(
                "node {i:3} {:?} done {:?} from seeders {} from leechers {} uploaded {}",
                n.role, n.completed_at, n.from_seeders, n.from_leechers, n.uploaded
            );
        }
    }
    println!("wall time {:.3}s", wall.as_secs_f64());
    if report.all_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
