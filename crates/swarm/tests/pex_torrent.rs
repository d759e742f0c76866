//! Peer exchange (BEP 11) through a torrent's state: what a peer is told
//! about the others, what is learned from a peer (as candidates marked
//! PEX, within the candidate bounds), a flooding peer dropped, and nothing
//! at all on a torrent that speaks no PEX (a private one).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_swarm::choker::{Choker, ChokerConfig};
use shoal_swarm::peer::{PeerConfig, PeerState};
use shoal_swarm::pex::{PexConfig, PexMessage, PexPeer, FLAG_REACHABLE, UT_PEX, UT_PEX_ID};
use shoal_swarm::picker::{PickerConfig, PiecePicker};
use shoal_swarm::torrent::{PeerSource, TorrentState};
use shoal_swarm::PeerKey;
use shoal_wire::{ExtensionHandshake, Message, MessageDecoder, PeerId};

const PIECES: u32 = 4;

fn torrent(pex: bool) -> TorrentState {
    let picker = PiecePicker::new(PIECES, 16384, 4 * 16384, PickerConfig::default()).unwrap();
    let mut st = TorrentState::new(
        picker,
        Choker::new(ChokerConfig::default()),
        StdRng::seed_from_u64(7),
        Instant::now(),
    );
    if pex {
        st.pex = Some(PexConfig::default());
    }
    st
}

fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n], 6881))
}

/// Peer `n`, dialed by us, which sent an extension handshake offering
/// `ut_pex` under id 9.
fn connect(st: &mut TorrentState, n: u8, now: Instant) -> PeerKey {
    let key = st
        .register(
            addr(n),
            PeerId([n; 20]),
            true,
            PeerId([0; 20]),
            50,
            |key| PeerState::new(key, PIECES, true, true, PeerConfig::default(), now),
            now,
        )
        .unwrap();
    let mut hs = ExtensionHandshake::default();
    hs.m.insert(UT_PEX.into(), 9);
    let mut msgs = vec![hs.to_message(), Message::HaveNone];
    st.on_messages(key, &mut msgs, now, &mut Vec::new())
        .unwrap();
    key
}

/// The `ut_pex` messages queued for `key`.
fn pex_sent(st: &mut TorrentState, key: PeerKey) -> Vec<PexMessage> {
    let mut buf = BytesMut::from(&st.peers.get_mut(&key).unwrap().state.take_outbox()[..]);
    let mut dec = MessageDecoder::new(Some(PIECES));
    let mut out = Vec::new();
    while let Some(m) = dec.decode(&mut buf).unwrap() {
        if let Message::Extended { id: 9, payload } = m {
            out.push(PexMessage::parse(&payload).unwrap());
        }
    }
    out
}

fn pex_from(st: &mut TorrentState, key: PeerKey, msg: &PexMessage, now: Instant) -> bool {
    let mut msgs = vec![Message::Extended {
        id: UT_PEX_ID,
        payload: Bytes::from(msg.to_bencode()),
    }];
    st.on_messages(key, &mut msgs, now, &mut Vec::new()).is_ok()
}

fn others(range: std::ops::Range<u8>) -> PexMessage {
    PexMessage {
        added: range
            .map(|n| PexPeer {
                addr: SocketAddr::from(([192, 0, 2, n], 7000)),
                flags: 0,
            })
            .collect(),
        dropped: vec![],
    }
}

#[test]
fn peers_hear_of_each_other_and_later_of_the_change_only() {
    let t0 = Instant::now();
    let mut st = torrent(true);
    let a = connect(&mut st, 1, t0);
    let b = connect(&mut st, 2, t0);
    st.tick(t0);
    let to_a = pex_sent(&mut st, a);
    assert_eq!(to_a.len(), 1);
    assert_eq!(
        to_a[0].added,
        vec![PexPeer {
            addr: addr(2),
            flags: FLAG_REACHABLE
        }]
    );
    assert_eq!(pex_sent(&mut st, b)[0].added[0].addr, addr(1));
    // A third peer arrives; the others hear of it a minute later, not before.
    connect(&mut st, 3, t0);
    st.tick(t0 + Duration::from_secs(30));
    assert!(pex_sent(&mut st, a).is_empty());
    st.remove_peer(b, "test", t0);
    st.tick(t0 + Duration::from_secs(61));
    let m = pex_sent(&mut st, a);
    assert_eq!(m.len(), 1);
    assert_eq!(
        m[0].added.iter().map(|p| p.addr).collect::<Vec<_>>(),
        vec![addr(3)]
    );
    assert_eq!(m[0].dropped, vec![addr(2)]);
}

#[test]
fn learned_peers_become_pex_candidates_within_bounds() {
    let t0 = Instant::now();
    let mut st = torrent(true);
    st.limits.max_candidates = 150;
    let a = connect(&mut st, 1, t0);
    assert!(pex_from(&mut st, a, &others(1..6), t0));
    assert_eq!(st.candidates.len(), 5);
    assert!(st.candidates.values().all(|c| c.source == PeerSource::Pex));
    assert_eq!(st.learned_by_source().get(PeerSource::Pex), 5);
    // A huge message: at most 100 taken from it, and the list stays bounded.
    let b = connect(&mut st, 2, t0);
    assert!(pex_from(&mut st, b, &others(10..250), t0));
    assert_eq!(st.candidates.len(), 105);
    let c = connect(&mut st, 3, t0);
    assert!(pex_from(
        &mut st,
        c,
        &others(0..255),
        t0 + Duration::from_secs(1)
    ));
    assert!(st.candidates.len() <= 150);
}

#[test]
fn a_flooding_peer_is_dropped() {
    let t0 = Instant::now();
    let mut st = torrent(true);
    let a = connect(&mut st, 1, t0);
    let mut ok = 0;
    for i in 0..10u64 {
        if !pex_from(&mut st, a, &others(1..2), t0 + Duration::from_secs(i)) {
            break;
        }
        ok += 1;
    }
    assert_eq!(ok, PexConfig::default().burst);
    assert!(!st.peers.contains_key(&a));
}

#[test]
fn no_pex_on_a_torrent_that_speaks_none() {
    let t0 = Instant::now();
    let mut st = torrent(false);
    let a = connect(&mut st, 1, t0);
    let b = connect(&mut st, 2, t0);
    st.tick(t0);
    assert!(pex_sent(&mut st, a).is_empty() && pex_sent(&mut st, b).is_empty());
    for i in 0..10u64 {
        assert!(pex_from(
            &mut st,
            a,
            &others(1..50),
            t0 + Duration::from_secs(i)
        ));
    }
    assert!(st.candidates.is_empty());
}
