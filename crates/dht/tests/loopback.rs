//! Shoal DHT nodes talking over real UDP sockets on 127.0.0.1, through the
//! tokio driver: own-socket and externally-fed nodes, announce / get_peers,
//! and a restart from saved state. Rate limit raised (see
//! `support/local.rs`: every node is 127.0.0.1).

#[path = "support/local.rs"]
mod local;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use local::{info_hash, loopback_config};
use shoal_dht::Dht;
use tokio::net::UdpSocket;

async fn collect(mut rx: tokio::sync::mpsc::Receiver<Vec<SocketAddr>>) -> Vec<SocketAddr> {
    let mut all = Vec::new();
    while let Some(batch) = rx.recv().await {
        all.extend(batch);
    }
    all
}

#[tokio::test]
async fn announce_then_get_peers_over_loopback() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = Dht::bind(any, loopback_config(1, vec![])).await.unwrap();
        let first_addr = first.local_addr().unwrap();
        let mut nodes = vec![first];
        for i in 2..=8 {
            nodes.push(
                Dht::bind(any, loopback_config(i, vec![first_addr]))
                    .await
                    .unwrap(),
            );
        }
        for n in &nodes[1..] {
            let size = n.bootstrap(vec![first_addr]).await.unwrap();
            assert!(size >= 1, "bootstrap reached nobody");
        }
        // One node fed by an external demultiplexer on a socket we own.
        let sock = Arc::new(UdpSocket::bind(any).await.unwrap());
        let out = sock.clone();
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<(SocketAddr, Vec<u8>)>();
        tokio::spawn(async move {
            while let Some((to, bytes)) = out_rx.recv().await {
                let _ = out.send_to(&bytes, to).await;
            }
        });
        let (ext, feed) =
            Dht::spawn_external(loopback_config(99, vec![first_addr]), move |to, bytes| {
                let _ = out_tx.send((to, bytes));
            });
        let reader = sock.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = reader.recv_from(&mut buf).await {
                // demultiplex by first byte: KRPC starts with 'd'
                if n > 0
                    && buf[0] == b'd'
                    && feed
                        .send((from, Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                {
                    break;
                }
            }
        });
        assert!(ext.bootstrap(vec![first_addr]).await.unwrap() >= 1);

        let ih = info_hash("loopback");
        let ann = nodes[3].announce(ih, Some(4242)).await.unwrap();
        println!("announce: {:?}", ann.stats);
        assert!(
            ann.stats.announced >= 1,
            "announced to nobody: {:?}",
            ann.stats
        );
        let want: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let found = collect(nodes[6].get_peers(ih).await.unwrap()).await;
        assert!(
            found.contains(&want),
            "own-socket node did not find the peer: {found:?}"
        );
        let found = collect(ext.get_peers(ih).await.unwrap()).await;
        assert!(
            found.contains(&want),
            "external node did not find the peer: {found:?}"
        );

        // implied_port: the announcing socket's own port is stored.
        let ih2 = info_hash("implied");
        ext.announce(ih2, None).await.unwrap();
        let found = collect(nodes[1].get_peers(ih2).await.unwrap()).await;
        assert!(found.contains(&sock.local_addr().unwrap()), "{found:?}");

        let stats = nodes[0].stats().await.unwrap();
        println!("first node: {stats:?}");
        assert!(stats.nodes_v4 >= 5);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn restart_from_saved_state_needs_no_bootstrap_list() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = Dht::bind(any, loopback_config(11, vec![])).await.unwrap();
        let first_addr = first.local_addr().unwrap();
        let mut others = Vec::new();
        for i in 12..16 {
            let n = Dht::bind(any, loopback_config(i, vec![])).await.unwrap();
            n.bootstrap(vec![first_addr]).await.unwrap();
            others.push(n);
        }
        let node = Dht::bind(any, loopback_config(20, vec![])).await.unwrap();
        node.bootstrap(vec![first_addr]).await.unwrap();
        let before = node.find_node(info_hash("x")).await.unwrap();
        assert!(!before.is_empty());
        let state = node.save_state().await.unwrap();
        drop(node);

        let mut config = loopback_config(21, vec![]);
        config.state = Some(state.clone());
        let again = Dht::bind(any, config).await.unwrap();
        // No bootstrap address given: the saved nodes are enough.
        let size = again.bootstrap(vec![]).await.unwrap();
        assert!(size >= 3, "restart did not rejoin: {size}");
        let reloaded = again.save_state().await.unwrap();
        assert_eq!(&reloaded[..25], &state[..25], "node id kept across restart");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn ipv6_nodes_use_nodes6_and_find_v6_peers() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let any: SocketAddr = "[::1]:0".parse().unwrap();
        let first = Dht::bind(any, loopback_config(41, vec![])).await.unwrap();
        let first_addr = first.local_addr().unwrap();
        let mut nodes = vec![first];
        for i in 42..48 {
            let n = Dht::bind(any, loopback_config(i, vec![])).await.unwrap();
            assert!(n.bootstrap(vec![first_addr]).await.unwrap() >= 1);
            nodes.push(n);
        }
        let ih = info_hash("over ipv6");
        let ann = nodes[2].announce(ih, Some(5353)).await.unwrap();
        assert!(ann.stats.announced >= 3, "{:?}", ann.stats);
        let found = collect(nodes[5].get_peers(ih).await.unwrap()).await;
        let want: SocketAddr = "[::1]:5353".parse().unwrap();
        assert!(found.contains(&want), "{found:?}");
        let stats = nodes[5].stats().await.unwrap();
        assert!(stats.nodes_v6 >= 3 && stats.nodes_v4 == 0, "{stats:?}");
    })
    .await
    .expect("test timed out");
}
