//! Peers found through the Mainline DHT alone: a magnet link with no
//! trackers and no peers downloads from a seed that announced itself to
//! the DHT. Every node is on 127.0.0.1 (the per-IP query limit is raised
//! to 1,000/s for that; the default is 5/s), bootstrapped from a hub node
//! that the test runs; no router is contacted.

mod session_support;

use std::net::SocketAddr;
use std::time::Duration;

use session_support::*;
use shoal_engine::{DhtConfig, Session, SessionConfig};

fn dht_config(bootstrap: Vec<SocketAddr>) -> DhtConfig {
    let mut cfg = DhtConfig {
        routers: Vec::new(),
        bootstrap,
        ..DhtConfig::default()
    };
    cfg.node.rate_limit.per_ip_per_second = 1000;
    cfg.node.seed = rand::random();
    cfg
}

async fn dht_session(hub: SocketAddr) -> Session {
    let cfg = SessionConfig {
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        dht: Some(dht_config(vec![hub])),
        ..SessionConfig::default()
    };
    Session::start(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_with_no_trackers_downloads_through_the_dht() {
    let hub = shoal_dht::Dht::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dht_config(Vec::new()),
    )
    .await
    .unwrap();
    let hub_addr = hub.local_addr().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("data.bin", 3 << 20)], 31);
    let torrent = make_torrent(&seed_dir.join("data.bin"), 64 * 1024);
    let s0 = dht_session(hub_addr).await;
    let seed = add(&s0, &torrent, &seed_dir, vec![]).await;

    // The seed's announce reaches the hub; until then a lookup finds
    // nothing, so the leecher retries (as a user would).
    let s1 = dht_session(hub_addr).await;
    let mut magnet = torrent.magnet();
    magnet.trackers.clear();
    magnet.peers.clear();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let fetched = loop {
        match s1
            .fetch_magnet(&magnet, &[], false, Duration::from_secs(20))
            .await
        {
            Ok(t) => break t,
            Err(e) => {
                println!("hub: {:?}", hub.stats().await);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no metadata through the DHT: {e}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert_eq!(fetched.info_bytes, torrent.info_bytes);
    let dl = tmp.path().join("dl");
    // No peers given: the torrent's own DHT announce finds the seed.
    let h = add(&s1, &fetched, &dl, vec![]).await;
    complete_within(&h, 60).await;
    assert_same_tree(&seed_dir, &dl);
    h.stop().await;
    seed.stop().await;
}
