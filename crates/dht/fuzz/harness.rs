//! The harness shared by the `krpc_decode` fuzz target and the
//! corpus-replay test (`tests/corpus.rs`).
//!
//! The input is one datagram. `run` panics if the code misbehaves:
//! - a decoded message must re-encode to bytes that decode to the same
//!   message, and re-encoding is stable;
//! - decoded lists stay within the codec's caps;
//! - a node fed the datagram as a query, and (when it decodes as a reply)
//!   as the answer to its own outstanding query, must not panic, must
//!   answer at most once, and its stores must stay within their caps.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shoal_dht::krpc::{self, Body, Message};
use shoal_dht::{Config, Node};

/// What the decoder made of the input.
pub fn decode(data: &[u8]) -> Result<Message, krpc::DecodeError> {
    Message::decode(data)
}

fn check_message(m: &Message) {
    let enc = m.encode();
    let again = Message::decode(&enc).expect("re-encoded message must decode");
    assert_eq!(&again, m, "re-encoding changed the message");
    assert_eq!(again.encode(), enc, "encoding is not stable");
    if let Body::Response(r) = &m.body {
        assert!(r.nodes.len() <= krpc::MAX_NODES);
        assert!(r.nodes6.len() <= krpc::MAX_NODES);
        assert!(r.values.len() <= krpc::MAX_VALUES);
        assert!(r.samples.len() <= krpc::MAX_SAMPLES);
    }
    assert!(m.transaction_id.len() <= krpc::MAX_TRANSACTION_ID);
}

/// Run every check on one datagram.
pub fn run(data: &[u8]) {
    let decoded = decode(data);
    if let Ok(m) = &decoded {
        check_message(m);
    }

    let now = Instant::now();
    let from: SocketAddr = "203.0.113.5:6881".parse().expect("address");
    let config = Config {
        ipv6: true,
        ..Config::default()
    };
    let mut node = Node::new(config, now);
    node.handle_datagram(from, data, now);
    let mut replies = 0;
    while let Some((to, reply)) = node.poll_transmit() {
        assert_eq!(to, from, "a query is answered to its sender only");
        Message::decode(&reply).expect("our replies decode");
        replies += 1;
    }
    assert!(replies <= 2, "one datagram, {replies} datagrams out");

    // As a reply to our own query to `from`: take the transaction id of
    // the bootstrap query and put it in the fuzzed message.
    if let Ok(mut m) = decoded {
        if matches!(m.body, Body::Response(_) | Body::Error(_)) {
            node.bootstrap(&[from], now);
            let mut tid = None;
            while let Some((to, q)) = node.poll_transmit() {
                if to == from {
                    tid = Message::decode(&q).ok().map(|q| q.transaction_id);
                }
            }
            if let Some(tid) = tid {
                m.transaction_id = tid;
                node.handle_datagram(from, &m.encode(), now);
                while node.poll_transmit().is_some() {}
                while node.poll_event().is_some() {}
                node.handle_timeout(now + Duration::from_secs(30));
            }
        }
    }
    let s = node.stats();
    assert!(s.queries_in_flight <= 256);
    assert!(s.stored_info_hashes <= 1);
    assert!(s.nodes_v4 + s.nodes_v6 <= 1);
}
