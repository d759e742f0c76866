//! Tests of [`TorrentState`]'s connection management.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_wire::{Message, PeerId};

use super::*;
use crate::choker::ChokerConfig;
use crate::peer::PeerConfig;
use crate::picker::PickerConfig;

const PIECES: u32 = 8;

fn state() -> TorrentState {
    let picker = PiecePicker::new(
        PIECES,
        16384,
        u64::from(PIECES) * 16384,
        PickerConfig::default(),
    )
    .unwrap();
    TorrentState::new(
        picker,
        Choker::new(ChokerConfig::default()),
        StdRng::seed_from_u64(1),
        Instant::now(),
    )
}

fn id(n: u8) -> PeerId {
    PeerId([n; 20])
}

fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, n], 6881))
}

/// Admit peer `n`, connected `age` ago.
fn join(st: &mut TorrentState, n: u8, age: Duration, max: usize) -> Result<PeerKey, Refusal> {
    let since = Instant::now() - age;
    st.register(
        addr(n),
        id(n),
        false,
        id(0),
        max,
        |key| PeerState::new(key, PIECES, true, false, PeerConfig::default(), since),
        Instant::now(),
    )
}

fn interested(st: &mut TorrentState, key: PeerKey) {
    let mut effects = Vec::new();
    let mut msgs = vec![Message::HaveNone, Message::Interested];
    st.on_messages(key, &mut msgs, Instant::now(), &mut effects)
        .unwrap();
}

#[test]
fn a_full_torrent_refuses_newcomers_while_every_peer_trades() {
    let mut st = state();
    let old = Duration::from_secs(120);
    for n in 1..=3 {
        let k = join(&mut st, n, old, 3).unwrap();
        interested(&mut st, k);
    }
    assert_eq!(join(&mut st, 9, Duration::ZERO, 3), Err(Refusal::Full));
    assert_eq!(st.peer_count(), 3);
}

#[test]
fn a_newcomer_replaces_a_peer_idle_for_long_but_not_a_fresh_one() {
    let mut st = state();
    let old = Duration::from_secs(120);
    let a = join(&mut st, 1, old, 3).unwrap();
    interested(&mut st, a);
    // Idle, but connected only just now: it keeps its place.
    let fresh = join(&mut st, 2, Duration::from_secs(1), 3).unwrap();
    let b = join(&mut st, 3, old, 3).unwrap();
    interested(&mut st, b);
    assert_eq!(join(&mut st, 9, Duration::ZERO, 3), Err(Refusal::Full));
    // Once it has idled long enough, a newcomer takes its place.
    st.peers.get_mut(&fresh).unwrap().state = PeerState::new(
        fresh,
        PIECES,
        true,
        false,
        PeerConfig::default(),
        Instant::now() - old,
    );
    let new = join(&mut st, 9, Duration::ZERO, 3).unwrap();
    assert!(!st.peers.contains_key(&fresh));
    assert!(st.peers.contains_key(&new));
    assert!(st.peers.contains_key(&a) && st.peers.contains_key(&b));
}

#[test]
fn make_room_drops_an_idle_peer_only_when_someone_waits_and_not_too_often() {
    let mut st = state();
    let old = Duration::from_secs(120);
    let now = Instant::now();
    let idle1 = join(&mut st, 1, old, 2).unwrap();
    let idle2 = join(&mut st, 2, old, 2).unwrap();
    // Nobody to dial: nothing dropped.
    assert!(!st.make_room(now, 2));
    st.add_candidate(addr(7), false, now);
    assert!(st.make_room(now, 2));
    assert_eq!(st.peer_count(), 1);
    // Not full any more; and once full again, not before the interval.
    assert!(!st.make_room(now, 2));
    join(&mut st, 5, old, 2).unwrap();
    assert!(!st.make_room(now + Duration::from_secs(5), 2));
    assert!(st.make_room(now + IDLE_BEFORE_EVICTION, 2));
    assert!(!(st.peers.contains_key(&idle1) && st.peers.contains_key(&idle2)));
}

#[test]
fn seeds_part_for_long_whichever_side_hangs_up() {
    let mut st = state();
    for i in 0..PIECES {
        st.picker.mark_have(i).unwrap();
    }
    let now = Instant::now();
    for n in [1, 2] {
        st.add_candidate(addr(n), false, now);
    }
    let mut taken = st.take_candidates(now, 4);
    taken.sort_unstable();
    assert_eq!(taken, vec![addr(1), addr(2)]);
    let seed = join(&mut st, 1, Duration::ZERO, 10).unwrap();
    let leecher = join(&mut st, 2, Duration::ZERO, 10).unwrap();
    let mut effects = Vec::new();
    st.on_messages(seed, &mut vec![Message::HaveAll], now, &mut effects)
        .unwrap();
    st.on_messages(leecher, &mut vec![Message::HaveNone], now, &mut effects)
        .unwrap();
    // Both hang up on us before our own housekeeping drops the seed.
    for (key, n) in [(seed, 1), (leecher, 2)] {
        st.remove_peer(key, "connection closed", now);
        st.candidate_done(addr(n), true, false, now);
    }
    // The leecher is dialed again after the usual pause; the seed is not.
    let later = now + Duration::from_secs(60);
    assert_eq!(st.take_candidates(later, 4), vec![addr(2)]);
    let much_later = now + SEED_REDIAL + Duration::from_secs(5);
    assert_eq!(st.take_candidates(much_later, 4), vec![addr(1)]);
}

#[test]
fn a_super_seeded_peer_that_lacks_nothing_more_still_closes_its_offers() {
    let mut st = state();
    for i in 0..PIECES {
        st.picker.mark_have(i).unwrap();
    }
    st.enable_super_seeding();
    let now = Instant::now();
    let k = join(&mut st, 1, Duration::ZERO, 10).unwrap();
    let mut effects = Vec::new();
    // It has pieces 0-5 of 8: the two it lacks are offered.
    let bits = bytes::Bytes::from_static(&[0b1111_1100]);
    st.on_messages(k, &mut vec![Message::Bitfield(bits)], now, &mut effects)
        .unwrap();
    let ss = |st: &TorrentState, p| st.super_seed.as_ref().unwrap().open_offers(p);
    assert_eq!((ss(&st, 6), ss(&st, 7)), (1, 1));
    // It gets piece 6 (from us): nothing more to offer it.
    st.on_messages(k, &mut vec![Message::Have { piece: 6 }], now, &mut effects)
        .unwrap();
    assert_eq!(ss(&st, 6), 0);
    assert!(st.super_seed_exhausted.contains(&k));
    // It gets piece 7 from someone else: that offer closes too.
    st.on_messages(k, &mut vec![Message::Have { piece: 7 }], now, &mut effects)
        .unwrap();
    assert_eq!(ss(&st, 7), 0, "a fulfilled offer still counts as open");
}

fn public(n: u32, port: u16) -> SocketAddr {
    SocketAddr::from(([203, (n >> 16) as u8, (n >> 8) as u8, n as u8], port))
}

#[test]
fn the_candidate_list_is_capped_and_keeps_untried_addresses() {
    let mut st = state();
    st.limits.max_candidates = 100;
    let now = Instant::now();
    // A tracker (or PEX) floods us with addresses.
    let accepted = (0..10_000)
        .filter(|&n| st.add_candidate(public(n, 6881), false, now))
        .count();
    assert_eq!(accepted, 100);
    assert_eq!(st.candidates.len(), 100);
    // A user-given address always gets in.
    assert!(st.add_candidate(public(50_000, 1), true, now));
    // Once some fail, fresh addresses take their places.
    let taken = st.take_candidates(now, 10);
    for a in &taken {
        st.candidate_done(*a, false, false, now);
    }
    let fresh = (20_000..20_100)
        .filter(|&n| st.add_candidate(public(n, 6881), false, now))
        .count();
    assert_eq!(fresh, 10, "failed addresses make room, untried ones do not");
    assert!(st.candidates.len() <= 101);
}

#[test]
fn candidates_are_dialed_in_a_fair_order() {
    let now = Instant::now();
    let mut firsts = HashSet::default();
    for seed in 0..8 {
        let mut st = state();
        st.rng = StdRng::seed_from_u64(seed);
        for n in 0..200 {
            st.add_candidate(public(n, 6881), false, now);
        }
        let taken = st.take_candidates(now, 5);
        assert_eq!(taken.len(), 5);
        firsts.insert(taken[0]);
        // Not simply the lowest addresses.
        let lowest: Vec<SocketAddr> = (0..5).map(|n| public(n, 6881)).collect();
        assert_ne!(taken, lowest);
    }
    assert!(firsts.len() > 1, "the same address always goes first");
}

#[test]
fn one_connection_per_ip_unless_loopback() {
    let mut st = state();
    let now = Instant::now();
    let make = |key| PeerState::new(key, PIECES, true, false, PeerConfig::default(), now);
    let host = |port| SocketAddr::from(([198, 51, 100, 7], port));
    assert!(st
        .register(host(1000), id(1), false, id(0), 50, make, now)
        .is_ok());
    for (i, port) in (1001..1300).enumerate() {
        let r = st.register(
            host(port),
            id(2 + (i % 200) as u8),
            false,
            id(0),
            50,
            make,
            now,
        );
        assert_eq!(r, Err(Refusal::TooManyFromAddress));
    }
    assert_eq!(st.peer_count(), 1);
    // Another address is welcome, and loopback peers are exempt.
    assert!(st
        .register(
            SocketAddr::from(([198, 51, 100, 8], 1)),
            id(3),
            false,
            id(0),
            50,
            make,
            now
        )
        .is_ok());
    for n in 10..20 {
        assert!(st
            .register(
                SocketAddr::from(([127, 0, 0, 1], 7000 + u16::from(n))),
                id(n),
                false,
                id(0),
                50,
                make,
                now
            )
            .is_ok());
    }
    // A candidate on a host we are connected to is not dialed.
    st.add_candidate(host(2000), false, now);
    st.add_candidate(SocketAddr::from(([198, 51, 100, 9], 1)), false, now);
    let taken = st.take_candidates(now, 10);
    assert_eq!(taken, vec![SocketAddr::from(([198, 51, 100, 9], 1))]);
}

#[test]
fn per_ip_limit_applies_to_loopback_when_asked() {
    let mut st = state();
    st.limits.exempt_loopback = false;
    let now = Instant::now();
    let make = |key| PeerState::new(key, PIECES, true, false, PeerConfig::default(), now);
    let lo = |port| SocketAddr::from(([127, 0, 0, 3], port));
    assert!(st
        .register(lo(1), id(1), false, id(0), 50, make, now)
        .is_ok());
    assert_eq!(
        st.register(lo(2), id(2), false, id(0), 50, make, now),
        Err(Refusal::TooManyFromAddress)
    );
}

#[test]
fn peer_memory_is_reported_and_grows_with_peers() {
    let mut st = state();
    let empty = st.peer_memory();
    for n in 1..=20 {
        join(&mut st, n, Duration::ZERO, 50).unwrap();
    }
    assert!(st.peer_memory() > empty);
}

#[test]
fn reports_show_each_peers_share_and_the_pieces_under_way() {
    let mut st = state();
    let half = join(&mut st, 1, Duration::ZERO, 10).unwrap();
    let seed = join(&mut st, 2, Duration::ZERO, 10).unwrap();
    let mut effects = Vec::new();
    // Peer 1 has pieces 0..4 of 8; peer 2 has them all and unchokes us.
    let mut msgs = vec![Message::Bitfield(bytes::Bytes::from_static(&[0b1111_0000]))];
    st.on_messages(half, &mut msgs, Instant::now(), &mut effects)
        .unwrap();
    let mut msgs = vec![Message::HaveAll, Message::Unchoke];
    st.on_messages(seed, &mut msgs, Instant::now(), &mut effects)
        .unwrap();
    let peers = st.peer_reports(Instant::now());
    assert_eq!(peers.len(), 2);
    let by_addr = |a| peers.iter().find(|p| p.addr == a).unwrap();
    assert_eq!(by_addr(addr(1)).progress, 0.5);
    assert_eq!(by_addr(addr(2)).progress, 1.0);
    assert!(!by_addr(addr(2)).peer_choking && by_addr(addr(1)).peer_choking);
    assert!(by_addr(addr(1)).am_interested && by_addr(addr(2)).am_interested);
    let pieces = st.piece_report();
    assert_eq!(pieces.availability, vec![2, 2, 2, 2, 1, 1, 1, 1]);
    // Unchoked by the seed, we asked it for blocks: those pieces are under way.
    assert!(!pieces.downloading.is_empty());
    assert!(pieces.downloading.iter().all(|&p| p < PIECES));
}
