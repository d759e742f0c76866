//! Property tests: every message the encoder can produce decodes back to
//! itself, and arbitrary bytes (raw, or mutations of valid messages) go
//! through the fuzz harness without a panic.

use std::net::SocketAddr;

use proptest::prelude::*;
use shoal_dht::krpc::{Body, KrpcError, Message, Query, QueryKind, Response, Want};
use shoal_dht::{NodeId, NodeInfo};

#[path = "../fuzz/harness.rs"]
mod harness;

fn id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId)
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
    ]
}

fn v4_node() -> impl Strategy<Value = NodeInfo> {
    (id(), any::<[u8; 4]>(), any::<u16>()).prop_map(|(id, ip, p)| NodeInfo {
        id,
        addr: SocketAddr::from((ip, p)),
    })
}

fn v6_node() -> impl Strategy<Value = NodeInfo> {
    (id(), any::<[u8; 16]>(), any::<u16>()).prop_map(|(id, ip, p)| NodeInfo {
        id,
        addr: SocketAddr::from((ip, p)),
    })
}

fn want() -> impl Strategy<Value = Option<Want>> {
    proptest::option::of((any::<bool>(), any::<bool>()).prop_map(|(v4, v6)| Want { v4, v6 }))
}

fn body() -> impl Strategy<Value = Body> {
    let query = (
        id(),
        prop_oneof![
            Just(QueryKind::Ping),
            (id(), want()).prop_map(|(target, want)| QueryKind::FindNode { target, want }),
            (id(), want()).prop_map(|(info_hash, want)| QueryKind::GetPeers { info_hash, want }),
            (
                id(),
                any::<u16>(),
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..20)
            )
                .prop_map(|(info_hash, port, implied_port, token)| {
                    QueryKind::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                        token,
                    }
                }),
            (id(), want()).prop_map(|(target, want)| QueryKind::SampleInfohashes { target, want }),
        ],
    )
        .prop_map(|(id, kind)| Body::Query(Query { id, kind }));
    let response = (
        id(),
        proptest::collection::vec(v4_node(), 0..10),
        proptest::collection::vec(v6_node(), 0..10),
        proptest::collection::vec(addr(), 0..30),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        proptest::collection::vec(id(), 0..5),
        proptest::option::of(0i64..100_000),
        proptest::option::of(0i64..100_000),
    )
        .prop_map(
            |(id, nodes, nodes6, values, token, samples, interval, num)| {
                Body::Response(Response {
                    id,
                    nodes,
                    nodes6,
                    values,
                    token,
                    samples,
                    interval,
                    num,
                })
            },
        );
    let error = (200i64..210, "[a-zA-Z ]{0,40}")
        .prop_map(|(code, message)| Body::Error(KrpcError { code, message }));
    prop_oneof![query, response, error]
}

fn message() -> impl Strategy<Value = Message> {
    (
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
        any::<bool>(),
        proptest::option::of(addr()),
        body(),
    )
        .prop_map(
            |(transaction_id, version, read_only, requester_ip, body)| Message {
                transaction_id,
                version,
                read_only,
                requester_ip,
                body,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn messages_round_trip(m in message()) {
        let enc = m.encode();
        prop_assert_eq!(Message::decode(&enc).unwrap(), m);
        harness::run(&enc);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        harness::run(&data);
    }

    #[test]
    fn mutated_messages_never_panic(m in message(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let mut enc = m.encode();
        for (at, b) in flips {
            let i = at % enc.len();
            enc[i] = b;
        }
        harness::run(&enc);
        enc.truncate(cut % (enc.len() + 1));
        harness::run(&enc);
    }
}
