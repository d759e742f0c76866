//! Interop with a second, independent implementation: the `mainline`
//! crate's `Testnet` (nodes on 127.0.0.1). Shoal's lookups find peers
//! announced by mainline nodes, and mainline finds a peer Shoal announced.
//! Shoal's rate limit is raised (every node is 127.0.0.1); mainline has no
//! per-IP limit.

// mainline's blocking API (deprecated in favour of its async one, which
// needs a Stream trait we do not otherwise depend on), run on blocking threads.
#![allow(deprecated)]

#[path = "support/local.rs"]
mod local;

use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use local::{info_hash, loopback_config};
use mainline::{Id, Testnet};
use shoal_dht::Dht;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoal_and_mainline_find_each_others_peers() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let testnet = tokio::task::spawn_blocking(|| Testnet::builder(12).build().unwrap())
            .await
            .unwrap();
        let boot: Vec<SocketAddr> = testnet
            .bootstrap
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let shoal = Dht::bind(any, loopback_config(7, vec![])).await.unwrap();
        let size = shoal.bootstrap(boot.clone()).await.unwrap();
        println!("shoal bootstrapped into the mainline testnet: {size} nodes");
        assert!(size >= 5, "shoal's table after bootstrap: {size}");

        // mainline announces (implied port: its socket's port), Shoal looks up.
        let ih = info_hash("mainline announces");
        let announcer = testnet.nodes[3].clone();
        let announcer_addr = SocketAddr::V4(announcer.info().local_addr());
        let mid = Id::from_bytes(ih.0).unwrap();
        tokio::task::spawn_blocking(move || announcer.announce_peer(mid, Some(5151)).unwrap())
            .await
            .unwrap();
        let want = SocketAddr::new(announcer_addr.ip(), 5151);
        let mut rx = shoal.get_peers(ih).await.unwrap();
        let mut found = Vec::new();
        while let Some(batch) = rx.recv().await {
            found.extend(batch);
        }
        assert!(
            found.contains(&want),
            "shoal did not find mainline's peer {want}: {found:?}"
        );

        // Shoal announces, mainline looks up.
        let ih = info_hash("shoal announces");
        let ann = shoal.announce(ih, Some(6262)).await.unwrap();
        println!("shoal announce: {:?}", ann.stats);
        assert!(ann.stats.announced >= 4, "{:?}", ann.stats);
        let seeker = testnet.nodes[8].clone();
        let mid = Id::from_bytes(ih.0).unwrap();
        let got: Vec<SocketAddrV4> =
            tokio::task::spawn_blocking(move || seeker.get_peers(mid).flatten().collect())
                .await
                .unwrap();
        let want: SocketAddrV4 = "127.0.0.1:6262".parse().unwrap();
        assert!(
            got.contains(&want),
            "mainline did not find shoal's peer: {got:?}"
        );

        // mainline nodes took Shoal into their routing tables.
        let stats = shoal.stats().await.unwrap();
        println!("shoal after interop: {stats:?}");
        assert!(stats.queries_answered > 0, "mainline never queried shoal");
    })
    .await
    .expect("test timed out");
}
