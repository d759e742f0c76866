//! The node's protocol rules, driven by hand-made datagrams (sans-I/O, no
//! sockets): tokens, implied_port, error codes, read-only mode, transaction
//! ids bound to addresses, BEP 51 samples, BEP 42 id from the reported
//! address, and saved state.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use shoal_dht::krpc::{self, Body, Message, Query, QueryKind, Response};
use shoal_dht::{Config, Event, Node, NodeId};

fn msg(tid: &[u8], body: Body) -> Message {
    Message {
        transaction_id: tid.to_vec(),
        version: None,
        read_only: false,
        requester_ip: None,
        body,
    }
}

fn query(id: NodeId, kind: QueryKind) -> Vec<u8> {
    msg(b"qq", Body::Query(Query { id, kind })).encode()
}

fn out(node: &mut Node) -> Vec<(SocketAddr, Message)> {
    let mut v = Vec::new();
    while let Some((a, b)) = node.poll_transmit() {
        v.push((a, Message::decode(&b).expect("node output decodes")));
    }
    v
}

fn response(m: &Message) -> &Response {
    match &m.body {
        Body::Response(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn error_code(m: &Message) -> i64 {
    match &m.body {
        Body::Error(e) => e.code,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn open_config() -> Config {
    Config {
        seed: 5,
        ..Config::default()
    }
}

#[test]
fn get_peers_token_announce_and_implied_port() {
    let now = Instant::now();
    let mut node = Node::new(open_config(), now);
    let peer: SocketAddr = "203.0.113.10:40000".parse().unwrap();
    let other: SocketAddr = "203.0.113.11:40000".parse().unwrap();
    let ih = NodeId([7; 20]);
    let id = NodeId([1; 20]);

    node.handle_datagram(
        peer,
        &query(
            id,
            QueryKind::GetPeers {
                info_hash: ih,
                want: None,
            },
        ),
        now,
    );
    let o = out(&mut node);
    let r = o.iter().find(|(a, _)| *a == peer).map(|(_, m)| m).unwrap();
    assert_eq!(r.transaction_id, b"qq");
    assert_eq!(
        r.requester_ip,
        Some(peer),
        "BEP 42: the reply carries the requester's address"
    );
    let token = response(r).token.clone().expect("get_peers gives a token");
    assert!(response(r).values.is_empty());

    // A token issued to another IP is refused with error 203.
    let ann = |token: Vec<u8>, implied: bool| {
        query(
            id,
            QueryKind::AnnouncePeer {
                info_hash: ih,
                port: 6881,
                implied_port: implied,
                token,
            },
        )
    };
    node.handle_datagram(other, &ann(token.clone(), false), now);
    let o = out(&mut node);
    assert_eq!(
        error_code(&o.iter().find(|(a, _)| *a == other).unwrap().1),
        krpc::ERROR_PROTOCOL
    );

    // implied_port: the source port is stored, not `port`.
    node.handle_datagram(peer, &ann(token.clone(), true), now);
    assert!(matches!(
        out(&mut node)
            .iter()
            .find(|(a, _)| *a == peer)
            .unwrap()
            .1
            .body,
        Body::Response(_)
    ));
    node.handle_datagram(
        other,
        &query(
            id,
            QueryKind::GetPeers {
                info_hash: ih,
                want: None,
            },
        ),
        now,
    );
    let o = out(&mut node);
    assert_eq!(
        response(&o.iter().find(|(a, _)| *a == other).unwrap().1).values,
        vec![peer]
    );

    // The token outlives one rotation, not two.
    let later = now + Duration::from_secs(6 * 60);
    node.handle_timeout(later);
    out(&mut node);
    node.handle_datagram(peer, &ann(token.clone(), false), later);
    assert!(matches!(
        out(&mut node)
            .iter()
            .find(|(a, _)| *a == peer)
            .unwrap()
            .1
            .body,
        Body::Response(_)
    ));
    let much_later = now + Duration::from_secs(11 * 60);
    node.handle_timeout(much_later);
    out(&mut node);
    node.handle_datagram(peer, &ann(token, false), much_later);
    assert_eq!(
        error_code(&out(&mut node).iter().find(|(a, _)| *a == peer).unwrap().1),
        krpc::ERROR_PROTOCOL
    );

    // BEP 51: the stored info-hash shows in samples.
    node.handle_datagram(
        other,
        &query(
            id,
            QueryKind::SampleInfohashes {
                target: ih,
                want: None,
            },
        ),
        much_later,
    );
    let o = out(&mut node);
    let r = response(&o.iter().find(|(a, _)| *a == other).unwrap().1).clone();
    assert_eq!(r.samples, vec![ih]);
    assert_eq!(r.num, Some(1));
    assert!(r.interval.is_some());
}

#[test]
fn errors_for_unknown_methods_and_malformed_queries() {
    let now = Instant::now();
    let mut node = Node::new(open_config(), now);
    let from: SocketAddr = "203.0.113.20:1000".parse().unwrap();
    node.handle_datagram(
        from,
        &query(
            NodeId([1; 20]),
            QueryKind::Unknown {
                method: b"vote".to_vec(),
            },
        ),
        now,
    );
    assert_eq!(error_code(&out(&mut node)[0].1), krpc::ERROR_METHOD_UNKNOWN);
    node.handle_datagram(from, b"d1:ad2:idi5ee1:q4:ping1:t2:xy1:y1:qe", now);
    let o = out(&mut node);
    assert_eq!(o[0].1.transaction_id, b"xy");
    assert_eq!(error_code(&o[0].1), krpc::ERROR_PROTOCOL);
    // Not KRPC at all: dropped silently.
    node.handle_datagram(from, b"\x00\x01garbage", now);
    node.handle_datagram(from, b"d1:y1:re", now);
    assert!(out(&mut node).is_empty());
    assert_eq!(node.stats().malformed, 3);
}

#[test]
fn read_only_node_sends_ro_and_answers_nothing() {
    let now = Instant::now();
    let mut node = Node::new(
        Config {
            read_only: true,
            ..open_config()
        },
        now,
    );
    let from: SocketAddr = "203.0.113.30:1000".parse().unwrap();
    node.handle_datagram(from, &query(NodeId([1; 20]), QueryKind::Ping), now);
    assert!(
        out(&mut node).is_empty(),
        "BEP 43: no answers from a read-only node"
    );
    node.bootstrap(&[from], now);
    let o = out(&mut node);
    assert_eq!(o.len(), 1);
    assert!(o[0].1.read_only, "queries carry ro=1");

    // A normal node answers a read-only querier but does not ping it for
    // its routing table; a normal querier gets pinged.
    let mut normal = Node::new(open_config(), now);
    let mut ro = msg(
        b"r1",
        Body::Query(Query {
            id: NodeId([2; 20]),
            kind: QueryKind::Ping,
        }),
    );
    ro.read_only = true;
    normal.handle_datagram(from, &ro.encode(), now);
    let o = out(&mut normal);
    assert_eq!(o.len(), 1, "only the answer: {o:?}");
    let other: SocketAddr = "192.168.1.2:1000".parse().unwrap();
    normal.handle_datagram(other, &query(NodeId([3; 20]), QueryKind::Ping), now);
    let o = out(&mut normal);
    assert_eq!(
        o.len(),
        2,
        "answer plus a ping to verify the querier: {o:?}"
    );
}

#[test]
fn replies_must_come_from_the_queried_address() {
    let now = Instant::now();
    let mut node = Node::new(open_config(), now);
    let router: SocketAddr = "192.168.1.1:6881".parse().unwrap();
    let spoofer: SocketAddr = "192.168.1.66:6881".parse().unwrap();
    node.bootstrap(&[router], now);
    let o = out(&mut node);
    let tid = o[0].1.transaction_id.clone();
    let reply = msg(
        &tid,
        Body::Response(Response {
            id: NodeId([9; 20]),
            ..Response::default()
        }),
    )
    .encode();
    node.handle_datagram(spoofer, &reply, now);
    assert_eq!(
        node.stats().nodes_v4,
        0,
        "a reply from another address is ignored"
    );
    assert_eq!(node.stats().queries_in_flight, 1);
    node.handle_datagram(router, &reply, now);
    assert_eq!(node.stats().nodes_v4, 1);
    assert_eq!(node.stats().queries_in_flight, 0);
    // The same transaction id again is not ours any more.
    node.handle_datagram(router, &reply, now);
    assert_eq!(node.stats().queries_in_flight, 0);
}

#[test]
fn queries_time_out_and_failures_count() {
    let now = Instant::now();
    let mut node = Node::new(open_config(), now);
    let addrs: Vec<SocketAddr> = (1..=5)
        .map(|i| SocketAddr::from(([192, 168, 0, i], 6881)))
        .collect();
    node.bootstrap(&addrs, now);
    assert_eq!(out(&mut node).len(), 3, "alpha = 3 queries in flight");
    let t = node.poll_timeout().unwrap();
    assert!(
        t <= now + Duration::from_secs(2),
        "slow-query mark after 2 s"
    );
    node.handle_timeout(now + Duration::from_secs(2));
    assert_eq!(out(&mut node).len(), 2, "slow queries free their slots");
    node.handle_timeout(now + Duration::from_secs(30));
    let mut done = false;
    while let Some(e) = node.poll_event() {
        if let Event::Bootstrapped { nodes } = e {
            assert_eq!(nodes, 0);
            done = true;
        }
    }
    assert!(done, "the bootstrap lookup ends when everyone timed out");
    assert_eq!(node.stats().queries_in_flight, 0);
}

#[test]
fn id_follows_the_reported_external_address() {
    let now = Instant::now();
    let mut node = Node::new(open_config(), now);
    let external: IpAddr = "198.51.100.77".parse().unwrap();
    assert!(!node.id().is_secure_for_ip(external));
    let peers: Vec<SocketAddr> = (1..=3)
        .map(|i| SocketAddr::from(([192, 168, 0, i], 6881)))
        .collect();
    node.bootstrap(&peers, now);
    let queries = out(&mut node);
    for (i, (to, q)) in queries.iter().enumerate() {
        let mut r = msg(
            &q.transaction_id,
            Body::Response(Response {
                id: NodeId([i as u8 + 1; 20]),
                ..Response::default()
            }),
        );
        r.requester_ip = Some(SocketAddr::new(external, 6881));
        node.handle_datagram(*to, &r.encode(), now);
    }
    assert!(
        node.id().is_secure_for_ip(external),
        "BEP 42 id after 3 agreeing votes"
    );
    assert_eq!(node.external_ip(), Some(external));
    assert_eq!(
        node.stats().nodes_v4,
        3,
        "the table was re-filed around the new id"
    );
    let mut changed = false;
    while let Some(e) = node.poll_event() {
        changed |= matches!(e, Event::IdChanged { id, .. } if id == node.id());
    }
    assert!(changed);
}

#[test]
fn state_round_trips() {
    let now = Instant::now();
    let mut node = Node::new(open_config(), now);
    let peer: SocketAddr = "192.168.5.5:6881".parse().unwrap();
    node.bootstrap(&[peer], now);
    let q = out(&mut node).remove(0).1;
    let r = msg(
        &q.transaction_id,
        Body::Response(Response {
            id: NodeId([4; 20]),
            ..Response::default()
        }),
    );
    node.handle_datagram(peer, &r.encode(), now);
    let state = node.save_state();
    let mut again = Node::from_state(
        Config {
            seed: 77,
            ..Config::default()
        },
        &state,
        now,
    )
    .unwrap();
    assert_eq!(again.id(), node.id());
    // It bootstraps from the saved node, whose id it already knows.
    again.bootstrap(&[], now);
    let o = out(&mut again);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].0, peer);
    assert!(Node::from_state(Config::default(), b"garbage", now).is_err());
    // Bootstrap addresses that never answered have no id: they are not
    // saved as nodes (and never under our own id).
    let mut fresh = Node::new(open_config(), now);
    fresh.bootstrap(&[peer], now);
    let saved = fresh.save_state();
    let reloaded = Node::from_state(open_config(), &saved, now).unwrap();
    assert_eq!(reloaded.id(), fresh.id());
    assert!(
        !saved.windows(20).skip(9).any(|w| w == fresh.id().0),
        "own id saved as a node"
    );
    assert!(saved.ends_with(b"5:nodes0:6:nodes60:e"), "{saved:?}");
    assert!(Node::from_state(Config::default(), b"d2:id3:abce", now).is_err());
    // A configured external address the saved id does not match wins.
    let ip: IpAddr = "198.51.100.9".parse().unwrap();
    let moved = Node::from_state(
        Config {
            external_ip: Some(ip),
            ..Config::default()
        },
        &state,
        now,
    )
    .unwrap();
    assert!(moved.id().is_secure_for_ip(ip));
}
