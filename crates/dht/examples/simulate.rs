//! The DHT simulation's figures at scale: hops and messages per lookup and
//! wall time, for networks of 1,000 and 10,000 Shoal nodes (or the sizes
//! given as arguments) on a virtual network and clock.
//!
//! ```sh
//! cargo run --release -p shoal-dht --example simulate            # 1000 10000
//! cargo run --release -p shoal-dht --example simulate -- 2000
//! ```

#[path = "../tests/support/sim.rs"]
mod sim;

use std::time::{Duration, Instant};

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 10000]
    } else {
        sizes
    };
    for n in sizes {
        let started = Instant::now();
        let mut s = sim::Sim::new(n, 7);
        // Joins spread over 200 virtual seconds, then 2 minutes to settle.
        let spacing = Duration::from_micros(200_000_000 / n as u64);
        s.join_all(spacing, Duration::from_secs(120));
        let joined = started.elapsed();
        println!(
            "{n} nodes: joined in {joined:.2?} wall time, mean routing table {:.1} nodes",
            s.mean_table()
        );
        let t = Instant::now();
        let find = s.find_closest(100);
        let peers = s.announce_and_find(100);
        println!(
            "  healthy:   find_node  closest found {}/{}  hops {:.2}  msgs/lookup {:.1} (max {})",
            find.successes, find.lookups, find.hops, find.messages, find.max_messages
        );
        println!(
            "  healthy:   get_peers  peer found {}/{}  hops {:.2}  msgs/lookup {:.1} (max {})  [{:.2?} for 300 lookups]",
            peers.successes, peers.lookups, peers.hops, peers.messages, peers.max_messages, t.elapsed()
        );
        s.kill(0.2);
        s.corrupt(0.1);
        let find = s.find_closest(100);
        let peers = s.announce_and_find(100);
        println!(
            "  20% gone, 10% hostile: find_node closest found {}/{}  hops {:.2}  msgs/lookup {:.1} (max {})",
            find.successes, find.lookups, find.hops, find.messages, find.max_messages
        );
        println!(
            "  20% gone, 10% hostile: get_peers peer found {}/{}  hops {:.2}  msgs/lookup {:.1} (max {})",
            peers.successes, peers.lookups, peers.hops, peers.messages, peers.max_messages
        );
        println!(
            "  {} datagrams delivered, total wall time {:.2?}",
            s.delivered,
            started.elapsed()
        );
    }
}
