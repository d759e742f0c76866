//! The harness shared by the `utp_packet` fuzz target and the corpus-replay
//! test.
//!
//! 1. The whole input is parsed as one datagram. If it parses, re-encoding
//!    the parsed packet and parsing again must give the same packet
//!    (unknown extensions are dropped by the re-encoding, nothing else).
//! 2. The input is then split into datagrams, each prefixed by one length
//!    byte, and fed to a freshly accepted connection (10 ms of virtual time
//!    between datagrams). After each one, the connection's output must be
//!    finite and parse, and the window it advertises must stay within its
//!    receive buffer.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use shoal_utp::packet::{Header, Packet, PacketType};
use shoal_utp::{Config, Connection};

/// Receive buffer of the harness connection.
pub const RECV_BUFFER: usize = 64 * 1024;

/// Run both checks; panics if either fails.
pub fn run(data: &[u8]) {
    check_roundtrip(data);
    feed_connection(data);
}

/// Check 1: parse / re-encode / parse.
pub fn check_roundtrip(data: &[u8]) -> Option<Packet<'_>> {
    let p = Packet::parse(data).ok()?;
    let bytes = p.to_vec();
    let again = Packet::parse(&bytes).expect("re-encoded packet must parse");
    assert_eq!(again, p, "re-encoding changed the packet");
    assert_eq!(bytes.len(), p.encoded_len());
    Some(p)
}

/// Split `data` into length-prefixed datagrams.
pub fn datagrams(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = usize::from(len).min(rest.len());
        out.push(&rest[..len]);
        data = &rest[len..];
    }
    out
}

/// Check 2: feed the datagrams to an accepted connection; returns it.
pub fn feed_connection(data: &[u8]) -> Connection {
    let t0 = Instant::now();
    let cfg = Config {
        recv_buffer: RECV_BUFFER,
        ..Config::default()
    };
    let syn = Header {
        ty: PacketType::Syn,
        conn_id: 100,
        timestamp_us: 0,
        timestamp_diff_us: 0,
        wnd_size: 100_000,
        seq_nr: 1000,
        ack_nr: 0,
    };
    let mut conn = Connection::accept(cfg, &syn, 5000, t0, t0);
    conn.write(&[7u8; 20_000]);
    let mut now = t0;
    for d in datagrams(data) {
        now += Duration::from_millis(10);
        if let Ok(p) = Packet::parse(d) {
            conn.handle_packet(&p, now);
        }
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now);
        }
        let mut sent = 0;
        while let Some(out) = conn.poll_transmit(now) {
            let p = Packet::parse(&out).expect("our own packet must parse");
            assert!(p.header.wnd_size as usize <= RECV_BUFFER);
            sent += 1;
            assert!(sent < 10_000, "poll_transmit does not terminate");
        }
    }
    conn
}
