//! Tests of the per-peer index of pieces in progress: unit tests of what it
//! holds after each kind of event, and property tests that random event
//! sequences keep it equal to a brute-force recomputation from the pieces'
//! own lists (`InFlight::check`).

use super::inflight::{InFlight, Released};
use super::*;
use proptest::prelude::*;

const KIB: u32 = 1024;

fn picker(pieces: u32, plen: u32) -> PiecePicker {
    let total = u64::from(pieces) * u64::from(plen);
    PiecePicker::new(pieces, plen, total, PickerConfig::default()).unwrap()
}

fn bf(len: usize, ones: impl IntoIterator<Item = usize>) -> Bitfield {
    let mut b = Bitfield::new(len);
    for i in ones {
        b.set(i, true).unwrap();
    }
    b
}

fn own_open(p: &PiecePicker, peer: PeerKey) -> Vec<u32> {
    let mut v = Vec::new();
    let mut from = 0;
    while let Some(x) = p.inflight.own_open_from(peer, from) {
        v.push(x);
        from = x + 1;
    }
    v
}

#[test]
fn own_open_pieces_follow_free_blocks() {
    // One piece of 4 blocks.
    let mut p = picker(1, 64 * KIB);
    let (a, b) = (PeerKey(1), PeerKey(2));
    p.peer_have_all(a);
    p.peer_have_all(b);
    assert_eq!(p.pick_blocks(a, 1).len(), 1);
    assert_eq!(
        own_open(&p, a),
        vec![0],
        "a works on piece 0, 3 blocks free"
    );
    assert!(own_open(&p, b).is_empty());
    assert!(p.inflight.is_involved(0, a) && !p.inflight.is_involved(0, b));
    p.check_invariants();
    // b takes the 3 free blocks: the piece closes for everyone.
    assert_eq!(p.pick_blocks(b, 3).len(), 3);
    assert!(own_open(&p, a).is_empty() && own_open(&p, b).is_empty());
    assert!(p.inflight.is_involved(0, b));
    // A timeout of b's request reopens it for both.
    let r = p.block_request(0, 3).unwrap();
    assert!(p.on_request_timeout(b, r));
    assert_eq!(own_open(&p, a), vec![0]);
    assert_eq!(own_open(&p, b), vec![0]);
    p.check_invariants();
    // Verification forgets the piece everywhere.
    for blk in 0..4 {
        p.on_block_received(a, p.block_request(0, blk).unwrap());
    }
    p.on_piece_verified(0).unwrap();
    assert_eq!(p.inflight.indexed_peers().count(), 0);
    p.check_invariants();
}

#[test]
fn release_touches_only_the_peers_own_pieces() {
    let mut p = picker(200, 64 * KIB);
    let (a, b) = (PeerKey(1), PeerKey(2));
    p.peer_have_all(a);
    p.peer_have_all(b);
    // b has 100 pieces in progress, a has 2 (one received block in a third).
    let rb = p.pick_blocks(b, 400);
    assert_eq!(p.num_downloading(), 100);
    let ra = p.pick_blocks(a, 8);
    assert_eq!(p.num_downloading(), 102);
    let x = p.pick_blocks(b, 1)[0];
    p.on_block_received(a, x);
    assert!(p.inflight.is_involved(x.piece, a));
    let (released, touched) = p.inflight.clone().release_peer(a);
    let mut a_pieces: Vec<u32> = ra.iter().map(|r| r.piece).collect();
    a_pieces.push(x.piece);
    a_pieces.sort_unstable();
    a_pieces.dedup();
    assert_eq!(touched, a_pieces);
    assert_eq!(released.len(), 8);
    // Through the picker: a's pieces go back to the pool, b's are intact,
    // and the block a sent stays attributed to it.
    p.on_peer_gone(a);
    assert_eq!(p.num_downloading(), 101);
    // b's request for x was cancelled when a's copy arrived.
    assert_eq!(p.outstanding_requests(b), rb.len());
    p.check_invariants();
    let c = p.on_piece_failed(x.piece).unwrap();
    assert!(c.blocks.contains(&Some(a)));
}

#[test]
fn sender_without_the_piece_is_not_indexed() {
    let mut p = picker(2, 32 * KIB);
    let (a, c) = (PeerKey(1), PeerKey(3));
    p.peer_have_all(a);
    let r = p.pick_blocks(a, 1)[0];
    p.peer_bitfield(c, bf(2, [1 - r.piece as usize])).unwrap();
    let other = p.block_request(r.piece, 1).unwrap();
    // c sends a block of a piece it does not claim to have: stored, but c
    // is not counted as working on it.
    assert_eq!(
        p.on_block_received(c, other).status,
        BlockStatus::Unrequested
    );
    assert!(!p.inflight.is_involved(r.piece, c));
    // An unknown peer's block is not indexed either.
    let mut q = picker(2, 32 * KIB);
    q.peer_have_all(a);
    let r = q.pick_blocks(a, 1)[0];
    let blk = q.block_request(r.piece, 1).unwrap();
    q.on_block_received(PeerKey(9), blk);
    assert!(q.inflight.indexed_peers().all(|k| k == a));
    p.check_invariants();
    q.check_invariants();
}

#[test]
fn other_partial_pieces_are_finished_rarest_first() {
    for seed in 0..10 {
        let total = 10 * 64 * u64::from(KIB);
        let mut p = PiecePicker::new(
            10,
            64 * KIB,
            total,
            PickerConfig {
                seed,
                ..PickerConfig::default()
            },
        )
        .unwrap();
        for i in 4..10 {
            p.mark_have(i).unwrap();
        }
        let (a, b, c, d) = (PeerKey(1), PeerKey(2), PeerKey(3), PeerKey(4));
        // Piece 0 is held by a and c; piece 1 by b, c and d.
        p.peer_bitfield(a, bf(10, [0])).unwrap();
        p.peer_bitfield(b, bf(10, [1])).unwrap();
        p.peer_bitfield(d, bf(10, [1])).unwrap();
        p.peer_bitfield(c, bf(10, [0, 1, 2, 3])).unwrap();
        assert_eq!(p.pick_blocks(b, 1)[0].piece, 1);
        assert_eq!(p.pick_blocks(a, 1)[0].piece, 0);
        // c finishes partial pieces before starting 2 or 3, rarest first.
        let rc = p.pick_blocks(c, 4);
        assert!(rc[..3].iter().all(|r| r.piece == 0), "seed {seed}: {rc:?}");
        assert_eq!(rc[3].piece, 1, "seed {seed}");
        p.check_invariants();
    }
}

#[test]
fn allowed_fast_pick_uses_only_the_given_pieces() {
    let mut p = picker(50, 64 * KIB);
    let (a, b) = (PeerKey(1), PeerKey(2));
    p.peer_have_all(a);
    p.peer_have_all(b);
    // Many partial pieces elsewhere.
    p.pick_blocks(b, 60);
    let started = p.num_downloading();
    let allowed: Vec<u32> = (0..50)
        .filter(|&i| !p.inflight.is_downloading(i))
        .take(2)
        .collect();
    let mut out = Vec::new();
    assert_eq!(p.pick_blocks_among(a, &allowed, 6, &mut out), 6);
    assert!(out.iter().all(|r| allowed.contains(&r.piece)));
    assert_eq!(p.num_downloading(), started + 2);
    // Out-of-range and unknown pieces are ignored.
    assert_eq!(p.pick_blocks_among(a, &[u32::MAX, 50], 6, &mut out), 0);
    p.check_invariants();
}

#[test]
fn endgame_set_holds_pieces_that_can_take_a_duplicate() {
    // Two pieces of 2 blocks, two requests per block at most.
    let mut p = picker(2, 32 * KIB);
    let (a, b, c) = (PeerKey(1), PeerKey(2), PeerKey(3));
    for k in [a, b, c] {
        p.peer_have_all(k);
    }
    let ra = p.pick_blocks(a, 4);
    assert_eq!(ra.len(), 4);
    assert!(p.in_endgame());
    assert_eq!(p.inflight.dupable_from(0), Some(0));
    assert_eq!(p.inflight.dupable_from(1), Some(1));
    // b doubles every block: no piece can take another requester.
    assert_eq!(p.pick_blocks(b, 10).len(), 4);
    assert_eq!(p.inflight.dupable_from(0), None);
    assert!(p.pick_blocks(c, 10).is_empty());
    // a's copy of one block arrives: b's is cancelled, nothing reopens.
    let o = p.on_block_received(a, ra[0]);
    assert_eq!(o.cancel, vec![b]);
    assert_eq!(p.inflight.dupable_from(0), None);
    // a times out on another: that block has one requester again.
    assert!(p.on_request_timeout(a, ra[3]));
    assert_eq!(p.inflight.dupable_from(0), Some(ra[3].piece));
    assert_eq!(p.pick_blocks(c, 10), vec![ra[3]]);
    p.check_invariants();
}

// --------------------------------------------------------------------------
// Property tests

#[derive(Debug, Clone)]
enum Ev {
    Take(u8, u8, u8),
    Busy(u8, u8, u8),
    Receive(u8, u8, u8, bool),
    Release(u8, u8, u8),
    ReleasePeer(u8),
    Remove(u8),
}

const PIECES: u32 = 6;
const BLOCKS: u32 = 5;

fn ev() -> impl Strategy<Value = Ev> {
    let piece = 0u8..PIECES as u8;
    let block = 0u8..BLOCKS as u8;
    let peer = 0u8..4;
    prop_oneof![
        3 => (piece.clone(), peer.clone(), 1u8..4).prop_map(|(p, k, n)| Ev::Take(p, k, n)),
        1 => (piece.clone(), peer.clone(), 1u8..3).prop_map(|(p, k, l)| Ev::Busy(p, k, l)),
        3 => (piece.clone(), block.clone(), peer.clone(), any::<bool>())
            .prop_map(|(p, b, k, i)| Ev::Receive(p, b, k, i)),
        2 => (piece.clone(), block, peer.clone()).prop_map(|(p, b, k)| Ev::Release(p, b, k)),
        1 => peer.prop_map(Ev::ReleasePeer),
        1 => piece.prop_map(Ev::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random events on the pieces in progress keep the per-peer index
    /// (requests, involved pieces, open pieces) equal to a brute-force
    /// recomputation, and each operation's answer agrees with the state.
    #[test]
    fn inflight_index_matches_brute_force(events in proptest::collection::vec(ev(), 1..200)) {
        let size = BLOCKS * BLOCK_SIZE;
        let mut f = InFlight::new(PIECES as usize, MAX_REQUESTS_PER_BLOCK);
        let mut out = Vec::new();
        for e in events {
            match e {
                Ev::Take(piece, k, n) => {
                    let (piece, peer) = (u32::from(piece), PeerKey(k.into()));
                    if !f.is_downloading(piece) {
                        f.start(piece, BLOCKS);
                    }
                    let free = f.free(piece);
                    let before = f.requests(peer);
                    out.clear();
                    let got = f.take_free(piece, size, peer, usize::from(n), &mut out);
                    prop_assert_eq!(got, free.min(u32::from(n)));
                    prop_assert_eq!(f.requests(peer), before + got);
                }
                Ev::Busy(piece, k, level) => {
                    out.clear();
                    f.take_busy(piece.into(), size, PeerKey(k.into()), level, 8, &mut out);
                }
                Ev::Receive(piece, b, k, involve) => {
                    let (piece, peer) = (u32::from(piece), PeerKey(k.into()));
                    let was = f.requesters(piece, b.into()).contains(&peer);
                    let o = f.receive(piece, b.into(), peer, involve);
                    if let Some(o) = o {
                        prop_assert_eq!(o.status == BlockStatus::Expected, was);
                        prop_assert!(!o.cancel.contains(&peer));
                        if was || (involve && o.should_store()) {
                            prop_assert!(f.is_involved(piece, peer));
                        }
                    }
                }
                Ev::Release(piece, b, k) => {
                    let (piece, peer) = (u32::from(piece), PeerKey(k.into()));
                    let was = f.requesters(piece, b.into()).contains(&peer);
                    let r = f.release(piece, b.into(), peer);
                    prop_assert_eq!(r != Released::No, was);
                    if r == Released::Abandoned {
                        prop_assert!(!f.is_downloading(piece));
                    }
                }
                Ev::ReleasePeer(k) => {
                    let peer = PeerKey(k.into());
                    let before = f.requests(peer);
                    let (released, _) = f.release_peer(peer);
                    prop_assert_eq!(released.len() as u32, before);
                    prop_assert_eq!(f.requests(peer), 0);
                    prop_assert!((0..PIECES).all(|p| !f.is_involved(p, peer)));
                }
                Ev::Remove(piece) => {
                    f.remove(piece.into());
                    prop_assert!(!f.is_downloading(piece.into()));
                }
            }
            f.check(MAX_REQUESTS_PER_BLOCK);
        }
    }
}
