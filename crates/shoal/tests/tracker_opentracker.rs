//! Shoal's tracker client against opentracker and `shoal tracker`: the same
//! announces get the same peers back, over HTTP and UDP.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use shoal_tracker_client::{AnnounceParams, ClientConfig, Event, TrackerClient};

const IH: [u8; 20] = [0x5a; 20];

fn start_shoal(dir: &Path) -> (Proc, SocketAddr, SocketAddr) {
    let log = dir.join("shoal-tracker.log");
    let proc = Proc::spawn(
        shoal()
            .args(["tracker", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    let mut a = (None, None);
    assert!(wait_until(Duration::from_secs(10), || {
        for l in std::fs::read_to_string(&log).unwrap_or_default().lines() {
            if let Some(x) = l.strip_prefix("shoal tracker: listening http on ") {
                a.0 = x.trim().parse().ok();
            }
            if let Some(x) = l.strip_prefix("shoal tracker: listening udp on ") {
                a.1 = x.trim().parse().ok();
            }
        }
        a.0.is_some() && a.1.is_some()
    }));
    (proc, a.0.unwrap(), a.1.unwrap())
}

fn client(url: &str, port: u16) -> TrackerClient {
    let mut pid = *b"-SH0001-000000000000";
    pid[14..].copy_from_slice(format!("{port:06}").as_bytes());
    let cfg = ClientConfig {
        udp_base_timeout: Duration::from_millis(500),
        udp_max_n: 2,
        ..ClientConfig::default()
    };
    TrackerClient::with_config(vec![vec![url.to_string()]], IH, pid, port, cfg)
}

/// Announce five peers (two seeders) and return what a sixth, leeching,
/// peer gets back, without itself, plus the counts it was told.
async fn swarm_view(url: &str, base: u16) -> (BTreeSet<SocketAddr>, Option<u32>, Option<u32>) {
    for i in 0..5 {
        let mut c = client(url, base + i);
        let left = if i < 2 { 0 } else { 1000 };
        c.announce(AnnounceParams {
            left,
            event: Event::Started,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    let me = base + 100;
    let mut c = client(url, me);
    let r = c
        .announce(AnnounceParams {
            left: 1000,
            event: Event::Started,
            numwant: Some(50),
            ..Default::default()
        })
        .await
        .unwrap();
    let me_addr: SocketAddr = ([127, 0, 0, 1], me).into();
    // opentracker includes the announcing peer itself; Shoal never does.
    let peers: BTreeSet<SocketAddr> = r.peers.into_iter().filter(|p| *p != me_addr).collect();
    (peers, r.seeders, r.leechers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracker_client_gets_same_peers_from_opentracker_and_shoal() {
    require("opentracker");
    let dir = tempdir();
    let wl = dir.path().join("whitelist");
    std::fs::write(&wl, format!("{}\n", hex::encode(IH))).unwrap();
    let port = free_port();
    let _ot = Proc::spawn(
        Command::new("opentracker")
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-P",
                &port.to_string(),
            ])
            .arg("-w")
            .arg(wl.canonicalize().unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(
        wait_for_tcp(port, Duration::from_secs(10)),
        "opentracker did not start"
    );
    let (_shoal, http, udp) = start_shoal(dir.path());

    let cases = [
        (
            format!("http://127.0.0.1:{port}/announce"),
            format!("http://{http}/announce"),
        ),
        (format!("udp://127.0.0.1:{port}"), format!("udp://{udp}")),
    ];
    for (i, (ot_url, shoal_url)) in cases.iter().enumerate() {
        // Fresh peer ports per protocol, so each starts from an empty swarm view.
        let base = 21000 + 200 * i as u16;
        let expect: BTreeSet<SocketAddr> = (0..5)
            .map(|j| SocketAddr::from(([127, 0, 0, 1], base + j)))
            .collect();
        let (ot_peers, ot_s, ot_l) = swarm_view(ot_url, base).await;
        let (sh_peers, sh_s, sh_l) = swarm_view(shoal_url, base).await;
        // The leecher is sent every other peer (earlier protocols' too).
        assert!(
            ot_peers.is_superset(&expect),
            "opentracker {ot_url}: {ot_peers:?}"
        );
        assert!(
            sh_peers.is_superset(&expect),
            "shoal {shoal_url}: {sh_peers:?}"
        );
        assert_eq!(sh_peers.len(), 5 + 6 * i);
        assert_eq!(ot_peers, sh_peers);
        // Counts grow across the two protocols: same torrent, more peers.
        let want = (Some(2 * (i as u32 + 1)), Some(4 * (i as u32 + 1)));
        assert_eq!((ot_s, ot_l), want, "{ot_url}");
        assert_eq!((sh_s, sh_l), want, "{shoal_url}");
        // Scrape agrees too.
        let a = client(ot_url, base).scrape().await.unwrap();
        let b = client(shoal_url, base).scrape().await.unwrap();
        assert_eq!(
            (a.seeders, a.leechers),
            (b.seeders, b.leechers),
            "{ot_url} vs {shoal_url}"
        );
    }
    // A seeder: Shoal sends only leechers; opentracker's list must contain them too.
    let mut c = client(&cases[0].1, 21000);
    let r = c
        .announce(AnnounceParams {
            left: 0,
            ..Default::default()
        })
        .await
        .unwrap();
    let leechers: BTreeSet<SocketAddr> =
        [21002u16, 21003, 21004, 21100, 21202, 21203, 21204, 21300]
            .iter()
            .map(|&p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect();
    assert_eq!(r.peers.into_iter().collect::<BTreeSet<_>>(), leechers);
}
