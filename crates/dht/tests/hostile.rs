//! A flood of queries from one address under many node ids (and then from
//! many addresses): memory stays bounded (every store under its cap), and
//! another address is still answered. Sans-I/O, on a virtual clock; the
//! rate limit is the default (5 queries/s per IP, libtorrent's default).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_dht::krpc::{Body, Message, Query, QueryKind};
use shoal_dht::{Config, Node, NodeId};

fn query(tid: u32, id: NodeId, kind: QueryKind) -> Vec<u8> {
    Message {
        transaction_id: tid.to_be_bytes().to_vec(),
        version: None,
        read_only: false,
        requester_ip: None,
        body: Body::Query(Query { id, kind }),
    }
    .encode()
}

/// Drain the node's output; returns the replies sent to `to`.
fn replies_to(node: &mut Node, to: SocketAddr) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some((addr, bytes)) = node.poll_transmit() {
        if addr == to {
            if let Ok(m) = Message::decode(&bytes) {
                out.push(m);
            }
        }
    }
    out
}

#[test]
fn flood_from_one_address_stays_bounded_and_others_are_served() {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(9);
    let config = Config::default();
    let caps = config.peer_store;
    let mut node = Node::new(config, t0);
    let flooder: SocketAddr = "198.51.100.7:6881".parse().unwrap();
    let honest: SocketAddr = "192.0.2.1:6881".parse().unwrap();
    let mut honest_answered = 0;
    let mut honest_sent = 0;
    let mut flood_answered = 0;
    let mut tid = 0u32;

    // 100 virtual seconds, 1,000 queries a second from the flooder with a
    // fresh id each time (ping, find_node, get_peers, announce with the
    // token it got), and one ping a second from the honest address.
    let mut token = Vec::new();
    for ms in 0..100_000u64 {
        let now = t0 + Duration::from_millis(ms);
        tid = tid.wrapping_add(1);
        let id = NodeId(rng.gen());
        let ih = NodeId(rng.gen());
        let kind = match ms % 4 {
            0 => QueryKind::Ping,
            1 => QueryKind::FindNode {
                target: ih,
                want: None,
            },
            2 => QueryKind::GetPeers {
                info_hash: ih,
                want: None,
            },
            _ => QueryKind::AnnouncePeer {
                info_hash: ih,
                port: (ms % 60000) as u16 + 1,
                implied_port: false,
                token: token.clone(),
            },
        };
        let from = SocketAddr::new(flooder.ip(), 1000 + (ms % 5000) as u16);
        node.handle_datagram(from, &query(tid, id, kind), now);
        for m in replies_to(&mut node, from) {
            flood_answered += 1;
            if let Body::Response(r) = m.body {
                if let Some(t) = r.token {
                    token = t;
                }
            }
        }
        if ms % 1000 == 0 {
            honest_sent += 1;
            node.handle_datagram(honest, &query(tid, NodeId(rng.gen()), QueryKind::Ping), now);
            honest_answered += replies_to(&mut node, honest)
                .iter()
                .filter(|m| matches!(m.body, Body::Response(_)))
                .count();
        }
        if ms % 100 == 0 {
            node.handle_timeout(now);
            while node.poll_transmit().is_some() {}
        }
    }
    let s = node.stats();
    println!("after the one-address flood: {s:?}; flooder answered {flood_answered} times");
    assert_eq!(
        honest_answered, honest_sent,
        "the honest address lost answers"
    );
    assert!(
        flood_answered <= 10,
        "the flooder was served {flood_answered} times"
    );
    assert!(s.queries_rate_limited > 99_000);
    assert!(
        s.nodes_v4 <= 1,
        "one public address holds one table entry at most"
    );
    assert!(s.queries_in_flight <= 256);

    // Now many addresses, each a few announces for fresh info-hashes,
    // with valid tokens: the peer store stays within its caps.
    for i in 0..30_000u32 {
        let now = t0 + Duration::from_secs(200) + Duration::from_millis(u64::from(i));
        let from = SocketAddr::from((
            [100 + (i >> 16) as u8 % 100, (i >> 8) as u8, i as u8, 1],
            6881,
        ));
        let ih = NodeId(rng.gen());
        let id = NodeId(rng.gen());
        node.handle_datagram(
            from,
            &query(
                i,
                id,
                QueryKind::GetPeers {
                    info_hash: ih,
                    want: None,
                },
            ),
            now,
        );
        let Some(token) = replies_to(&mut node, from)
            .into_iter()
            .find_map(|m| match m.body {
                Body::Response(r) => r.token,
                _ => None,
            })
        else {
            continue;
        };
        let kind = QueryKind::AnnouncePeer {
            info_hash: ih,
            port: 1,
            implied_port: true,
            token,
        };
        node.handle_datagram(from, &query(i, id, kind), now);
        while node.poll_transmit().is_some() {}
        if i % 100 == 0 {
            node.handle_timeout(now);
            while node.poll_transmit().is_some() {}
        }
    }
    let s = node.stats();
    println!("after the many-address flood: {s:?}");
    assert!(
        s.stored_info_hashes <= caps.info_hashes && s.stored_info_hashes >= caps.info_hashes / 2,
        "{s:?}"
    );
    assert!(node.max_stored_peers_per_hash() <= caps.peers_per_hash);
    assert!(s.rate_limiter_entries <= 1024);
    assert!(s.queries_in_flight <= 256);
    assert!(s.nodes_v4 <= 8 * 160);
}
