//! A dead UDP tracker in the first tier must not starve the next tier: the
//! seeder and the leecher find each other through a live `shoal tracker`
//! listed second (BEP 12), within the per-tracker time bound.

mod common;

use common::*;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

#[test]
fn dead_first_tier_falls_through_to_a_live_tracker() {
    let tmp = tempdir();
    // A UDP socket that reads nothing and answers nothing: a dead tracker.
    let dead = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let dead_port = dead.local_addr().expect("addr").port();
    let http_port = free_port();
    let mut tracker = Logged::spawn(
        "tracker",
        tmp.path(),
        shoal().args(["tracker", "--http", &format!("127.0.0.1:{http_port}")]),
    );
    tracker.wait_for("listening http", Duration::from_secs(15));

    let src = tmp.path().join("src");
    write_file(&src.join("tiers.bin"), 3_000_000, 77);
    let torrent = tmp.path().join("tiers.torrent");
    let out = run_with_timeout(
        shoal()
            .arg("create")
            .arg(src.join("tiers.bin"))
            .arg("-o")
            .arg(&torrent)
            .args(["-t", &format!("udp://127.0.0.1:{dead_port}/announce")])
            .args(["-t", &format!("http://127.0.0.1:{http_port}/announce")]),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let mut seeder = Logged::spawn(
        "seeder",
        tmp.path(),
        shoal()
            .arg("seed")
            .arg(&torrent)
            .arg("--dir")
            .arg(&src)
            .args(["--listen", "127.0.0.1:0"]),
    );
    seeder.listening();
    let started = Instant::now();
    let mut leecher = Logged::spawn(
        "leecher",
        tmp.path(),
        shoal()
            .arg("download")
            .arg(&torrent)
            .arg("--dir")
            .arg(tmp.path().join("dst"))
            .args(["--listen", "127.0.0.1:0", "--json"]),
    );
    // Without a per-tracker bound the dead tracker's BEP 15 retransmissions
    // would use up every announce and the download would never start.
    let summary = leecher.finish_json(Duration::from_secs(60));
    let took = started.elapsed();
    assert_eq!(
        sha256_file(&tmp.path().join("dst/tiers.bin")),
        sha256_file(&src.join("tiers.bin"))
    );
    assert!(
        summary["bytes"].as_u64().unwrap_or(0) >= 3_000_000,
        "{summary}"
    );
    println!("found the seeder through tier 2 and finished in {took:?}");
    drop(dead);
}
