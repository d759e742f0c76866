//! Behaviour tests of the piece picker: geometry, rarest first, partial
//! pieces first, endgame, request lifecycle, smart-ban bookkeeping, and
//! property tests (random operation sequences keep every invariant; a
//! simulated swarm always completes).

use super::*;
use proptest::prelude::*;
use rand::Rng;
use std::collections::{BTreeSet, HashSet};

const KIB: u32 = 1024;

fn picker(pieces: u32, plen: u32, seed: u64) -> PiecePicker {
    let total = u64::from(pieces) * u64::from(plen);
    PiecePicker::new(
        pieces,
        plen,
        total,
        PickerConfig {
            seed,
            ..PickerConfig::default()
        },
    )
    .unwrap()
}

fn bf(len: usize, ones: impl IntoIterator<Item = usize>) -> Bitfield {
    let mut b = Bitfield::new(len);
    for i in ones {
        b.set(i, true).unwrap();
    }
    b
}

/// Marks pieces as had so that the initial random phase is over.
fn skip_random_phase(p: &mut PiecePicker, pieces: &[u32]) {
    for &i in pieces {
        p.mark_have(i).unwrap();
    }
}

#[test]
fn geometry_last_piece_and_block_shorter() {
    // 3 pieces of 40 KiB, total 100 KiB: last piece 20 KiB.
    let p = PiecePicker::new(3, 40 * KIB, 100 * 1024, PickerConfig::default()).unwrap();
    assert_eq!(p.piece_size(0), 40 * KIB);
    assert_eq!(p.piece_size(2), 20 * KIB);
    assert_eq!(p.piece_size(3), 0);
    assert_eq!(p.blocks_in_piece(0), 3);
    assert_eq!(p.blocks_in_piece(2), 2);
    assert_eq!(
        p.block_request(0, 2),
        Some(BlockRequest {
            piece: 0,
            begin: 32 * KIB,
            length: 8 * KIB
        })
    );
    assert_eq!(p.block_request(2, 1).unwrap().length, 4 * KIB);
    assert_eq!(p.block_request(2, 2), None);
    assert_eq!(p.block_request(0, u32::MAX), None);
}

#[test]
fn geometry_is_validated() {
    let c = PickerConfig::default;
    assert!(PiecePicker::new(0, 16, 0, c()).is_err());
    assert!(PiecePicker::new(1, 0, 1, c()).is_err());
    assert!(PiecePicker::new(2, 10, 10, c()).is_err());
    assert!(PiecePicker::new(2, 10, 21, c()).is_err());
    assert!(PiecePicker::new(2, 10, 11, c()).is_ok());
    assert!(PiecePicker::new(2, 10, 20, c()).is_ok());
    assert!(PiecePicker::new(u32::MAX, 1, u64::from(u32::MAX), c()).is_err());
}

#[test]
fn picks_whole_pieces_in_block_order() {
    let mut p = picker(4, 64 * KIB, 0);
    let a = PeerKey(1);
    p.peer_have_all(a);
    let r = p.pick_blocks(a, 4);
    assert_eq!(r.len(), 4);
    assert!(r.iter().all(|b| b.piece == r[0].piece));
    assert_eq!(
        r.iter().map(|b| b.begin).collect::<Vec<_>>(),
        vec![0, 16 * KIB, 32 * KIB, 48 * KIB]
    );
    assert_eq!(p.outstanding_requests(a), 4);
    p.check_invariants();
}

#[test]
fn rarest_first_picks_the_rarest_piece() {
    for seed in 0..20 {
        let mut p = picker(20, 16 * KIB, seed);
        skip_random_phase(&mut p, &[0, 1, 2, 3]);
        // Piece i (4..20) is held by (i - 3) peers: 4 is the rarest.
        for k in 0..16u64 {
            let pieces = (4..20).filter(|&i| i as u64 - 3 > k);
            p.peer_bitfield(PeerKey(k), bf(20, pieces)).unwrap();
        }
        // Peer 15 only has piece 19; peer 0 has all of 4..20.
        let mut got = Vec::new();
        for _ in 0..16 {
            let r = p.pick_blocks(PeerKey(0), 1);
            got.push(r[0].piece);
        }
        assert_eq!(got, (4..20).collect::<Vec<_>>(), "seed {seed}");
        p.check_invariants();
    }
}

#[test]
fn availability_includes_seeds_and_have_all_is_counted_once() {
    let mut p = picker(10, 16 * KIB, 0);
    p.peer_have_all(PeerKey(1));
    p.peer_bitfield(PeerKey(2), bf(10, [3])).unwrap();
    assert_eq!(p.availability(3), 2);
    assert_eq!(p.availability(4), 1);
    p.on_peer_gone(PeerKey(1));
    assert_eq!(p.availability(3), 1);
    assert_eq!(p.availability(4), 0);
    // Becoming complete through `have`s converts to seed accounting.
    for i in 0..10 {
        p.peer_have(PeerKey(2), i).unwrap();
    }
    assert_eq!(p.availability(0), 1);
    p.check_invariants();
    p.on_peer_gone(PeerKey(2));
    assert_eq!(p.availability(0), 0);
    p.check_invariants();
}

#[test]
fn repeated_have_is_ignored_and_bad_index_rejected() {
    let mut p = picker(10, 16 * KIB, 0);
    assert!(p.peer_have(PeerKey(1), 3).unwrap());
    assert!(!p.peer_have(PeerKey(1), 3).unwrap());
    assert_eq!(p.availability(3), 1);
    assert_eq!(
        p.peer_have(PeerKey(1), 10),
        Err(PickerError::PieceOutOfRange {
            index: 10,
            count: 10
        })
    );
    assert!(p.peer_bitfield(PeerKey(1), Bitfield::new(11)).is_err());
    p.check_invariants();
}

#[test]
fn ties_are_broken_randomly_across_seeds() {
    let firsts: HashSet<u32> = (0..40)
        .map(|seed| {
            let mut p = picker(50, 16 * KIB, seed);
            skip_random_phase(&mut p, &[0, 1, 2, 3]);
            p.peer_have_all(PeerKey(1));
            p.pick_blocks(PeerKey(1), 1)[0].piece
        })
        .collect();
    assert!(firsts.len() > 10, "{firsts:?}");
    // Same with equal per-piece counts (bucketed, non-seed peers).
    let firsts: HashSet<u32> = (0..40)
        .map(|seed| {
            let mut p = picker(50, 16 * KIB, seed);
            skip_random_phase(&mut p, &[0, 1, 2, 3]);
            p.peer_bitfield(PeerKey(1), bf(50, 4..50)).unwrap();
            p.peer_bitfield(PeerKey(2), bf(50, 4..50)).unwrap();
            p.pick_blocks(PeerKey(1), 1)[0].piece
        })
        .collect();
    assert!(firsts.len() > 10, "{firsts:?}");
}

#[test]
fn initial_pieces_are_random_not_rarest() {
    let firsts: HashSet<u32> = (0..40)
        .map(|seed| {
            let mut p = picker(50, 16 * KIB, seed);
            p.peer_bitfield(PeerKey(1), bf(50, 0..50 - 1)).unwrap();
            p.peer_bitfield(PeerKey(2), bf(50, 1..50)).unwrap();
            // Piece 0 is the rarest for peer 1, but we have < 4 pieces.
            p.pick_blocks(PeerKey(1), 1)[0].piece
        })
        .collect();
    assert!(firsts.len() > 10, "{firsts:?}");
}

#[test]
fn partial_pieces_are_finished_first_preferring_own() {
    let mut p = picker(10, 64 * KIB, 1);
    skip_random_phase(&mut p, &[6, 7, 8, 9]);
    let (a, b) = (PeerKey(1), PeerKey(2));
    p.peer_have_all(a);
    p.peer_have_all(b);
    let ra = p.pick_blocks(a, 2);
    let rb = p.pick_blocks(b, 2);
    // b finished a's partial piece rather than starting a new one.
    assert!(rb.iter().all(|r| r.piece == ra[0].piece));
    // Two partial pieces: Y started by a, piece 0 started by c (the only
    // piece c has).
    let c = PeerKey(3);
    p.peer_bitfield(c, bf(10, [0])).unwrap();
    let ry = p.pick_blocks(a, 1);
    assert_ne!(ry[0].piece, 0, "piece 0 is not the rarest for a");
    let rc = p.pick_blocks(c, 1);
    assert_eq!(rc[0].piece, 0);
    let ra2 = p.pick_blocks(a, 3);
    assert!(
        ra2.iter().all(|r| r.piece == ry[0].piece),
        "own piece first"
    );
    let ra3 = p.pick_blocks(a, 3);
    assert!(ra3.iter().all(|r| r.piece == 0), "then others'");
    p.check_invariants();
}

#[test]
fn never_picks_pieces_the_peer_lacks_or_we_have() {
    let mut p = picker(10, 32 * KIB, 3);
    p.mark_have(2).unwrap();
    p.peer_bitfield(PeerKey(1), bf(10, [1, 2, 5])).unwrap();
    let r = p.pick_blocks(PeerKey(1), 100);
    let pieces: BTreeSet<u32> = r.iter().map(|b| b.piece).collect();
    assert_eq!(pieces, BTreeSet::from([1, 5]));
    assert_eq!(r.len(), 4);
    // Nothing left for this peer (endgame, but it already requested
    // every block it could duplicate).
    assert!(p.in_endgame());
    assert!(p.pick_blocks(PeerKey(1), 100).is_empty());
    p.check_invariants();
}

#[test]
fn priority_zero_pieces_are_skipped() {
    let mut p = picker(4, 16 * KIB, 0);
    p.set_piece_priority(1, 0).unwrap();
    p.peer_bitfield(PeerKey(1), bf(4, [1])).unwrap();
    assert!(!p.is_interesting(PeerKey(1)));
    assert!(p.pick_blocks(PeerKey(1), 10).is_empty());
    p.set_piece_priority(1, 4).unwrap();
    assert!(p.is_interesting(PeerKey(1)));
    assert_eq!(p.pick_blocks(PeerKey(1), 10).len(), 1);
    for i in [0, 2, 3] {
        p.set_piece_priority(i, 0).unwrap();
    }
    assert!(!p.is_finished());
    p.on_block_received(PeerKey(1), p.block_request(1, 0).unwrap());
    p.on_piece_verified(1).unwrap();
    assert!(p.is_finished());
    assert!(!p.is_seed());
    p.check_invariants();
}

#[test]
fn piece_skipped_while_in_progress_is_still_finished() {
    let mut p = picker(2, 32 * KIB, 0);
    p.peer_bitfield(PeerKey(1), bf(2, [0])).unwrap();
    assert_eq!(p.pick_blocks(PeerKey(1), 1).len(), 1);
    p.set_piece_priority(0, 0).unwrap();
    assert!(!p.is_interesting(PeerKey(1)));
    let r = p.pick_blocks(PeerKey(1), 5);
    assert_eq!(r, vec![p.block_request(0, 1).unwrap()]);
    p.check_invariants();
}

#[test]
fn interest_follows_our_pieces() {
    let mut p = picker(4, 16 * KIB, 0);
    p.peer_bitfield(PeerKey(1), bf(4, [0, 1])).unwrap();
    assert!(p.is_interesting(PeerKey(1)));
    p.mark_have(0).unwrap();
    assert!(p.is_interesting(PeerKey(1)));
    p.mark_have(1).unwrap();
    assert!(!p.is_interesting(PeerKey(1)));
    p.peer_have(PeerKey(1), 3).unwrap();
    assert!(p.is_interesting(PeerKey(1)));
    p.check_invariants();
}

#[test]
fn peer_leaving_mid_piece_frees_its_blocks() {
    let mut p = picker(1, 64 * KIB, 0);
    let (a, b) = (PeerKey(1), PeerKey(2));
    p.peer_have_all(a);
    p.peer_have_all(b);
    let ra = p.pick_blocks(a, 4);
    assert_eq!(ra.len(), 4);
    p.on_block_received(a, ra[0]);
    p.on_peer_gone(a);
    p.check_invariants();
    let rb = p.pick_blocks(b, 10);
    assert_eq!(rb, ra[1..].to_vec());
    for r in &rb {
        p.on_block_received(b, *r);
    }
    let c = p.on_piece_verified(0).unwrap();
    // The departed peer's block is still attributed to it.
    assert_eq!(c.blocks, vec![Some(a), Some(b), Some(b), Some(b)]);
    assert!(p.is_seed());
    p.check_invariants();
}

#[test]
fn reject_and_timeout_release_blocks() {
    let mut p = picker(1, 32 * KIB, 0);
    let (a, b) = (PeerKey(1), PeerKey(2));
    p.peer_have_all(a);
    p.peer_have_all(b);
    let ra = p.pick_blocks(a, 2);
    assert!(p.on_request_rejected(a, ra[0]));
    assert!(!p.on_request_rejected(a, ra[0]));
    assert!(p.on_request_timeout(a, ra[1]));
    assert_eq!(p.outstanding_requests(a), 0);
    // The piece went back to the pool and b can take it.
    assert_eq!(p.num_downloading(), 0);
    p.check_invariants();
    let rb = p.pick_blocks(b, 2);
    assert_eq!(rb, ra);
    // a's late answer is still accepted while the block is missing.
    let o = p.on_block_received(a, ra[1]);
    assert_eq!(o.status, BlockStatus::Unrequested);
    assert_eq!(o.cancel, vec![b]);
    let o = p.on_block_received(b, ra[1]);
    assert_eq!(o.status, BlockStatus::Duplicate);
    assert!(!o.should_store());
    p.check_invariants();
}

#[test]
fn choke_releases_all_requests() {
    let mut p = picker(4, 32 * KIB, 0);
    p.peer_have_all(PeerKey(1));
    let r = p.pick_blocks(PeerKey(1), 5);
    let mut released = p.release_peer_requests(PeerKey(1));
    released.sort();
    let mut r2 = r.clone();
    r2.sort();
    assert_eq!(released, r2);
    assert_eq!(p.num_downloading(), 0);
    p.check_invariants();
}

#[test]
fn failed_piece_resets_and_reports_contributors() {
    let mut p = picker(2, 64 * KIB, 0);
    let (a, b) = (PeerKey(1), PeerKey(2));
    p.peer_have_all(a);
    p.peer_have_all(b);
    let ra = p.pick_blocks(a, 2);
    let rb = p.pick_blocks(b, 2);
    assert!(rb.iter().all(|r| r.piece == ra[0].piece));
    let piece = ra[0].piece;
    p.on_block_received(a, ra[0]);
    p.on_block_received(b, rb[0]);
    p.on_block_received(a, ra[1]);
    let o = p.on_block_received(b, rb[1]);
    assert!(o.piece_complete);
    assert_eq!(o.status, BlockStatus::Expected);
    let c = p.on_piece_failed(piece).unwrap();
    assert_eq!(c.blocks, vec![Some(a), Some(a), Some(b), Some(b)]);
    assert_eq!(c.peers(), vec![a, b]);
    assert!(!p.has_piece(piece));
    p.check_invariants();
    // All four blocks can be downloaded again.
    let r = p.pick_blocks(b, 8);
    assert_eq!(r.iter().filter(|x| x.piece == piece).count(), 4);
    p.check_invariants();
}

#[test]
fn endgame_duplicates_are_bounded_and_cancelled() {
    let mut p = picker(2, 32 * KIB, 0);
    let (a, b, c) = (PeerKey(1), PeerKey(2), PeerKey(3));
    for k in [a, b, c] {
        p.peer_have_all(k);
    }
    let ra = p.pick_blocks(a, 1);
    assert!(!p.in_endgame(), "one piece not started yet");
    let ra = [ra, p.pick_blocks(a, 2)].concat();
    assert_eq!(ra.len(), 3);
    // Both pieces started; one block is still free.
    assert!(p.in_endgame());
    let rb = p.pick_blocks(b, 10);
    // b gets the last free block, then duplicates of a's.
    assert_eq!(rb.len(), 4);
    let mut all: Vec<_> = ra.iter().chain(&rb).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4);
    // c: each block already has 2 requesters except b's own free block.
    let rc = p.pick_blocks(c, 10);
    assert_eq!(rc.len(), 1);
    assert!(!ra.contains(&rc[0]));
    assert!(p.pick_blocks(c, 10).is_empty());
    p.check_invariants();
    // a delivers: b is told to cancel.
    let o = p.on_block_received(a, ra[0]);
    assert_eq!(o.status, BlockStatus::Expected);
    assert_eq!(o.cancel, vec![b]);
    p.check_invariants();
    // Receive everything; endgame ends cleanly.
    for r in ra.iter().chain(&rb).chain(&rc) {
        p.on_block_received(b, *r);
    }
    p.on_piece_verified(0).unwrap();
    p.on_piece_verified(1).unwrap();
    assert!(p.is_seed() && !p.in_endgame());
    for k in [a, b, c] {
        assert_eq!(p.outstanding_requests(k), 0);
        assert!(p.pick_blocks(k, 10).is_empty());
    }
    p.check_invariants();
}

#[test]
fn no_endgame_while_unstarted_pieces_are_available() {
    let mut p = picker(3, 16 * KIB, 0);
    let (a, b) = (PeerKey(1), PeerKey(2));
    p.peer_bitfield(a, bf(3, [0])).unwrap();
    p.peer_bitfield(b, bf(3, [0, 1])).unwrap();
    p.pick_blocks(a, 1);
    // b could duplicate piece 0's block, but piece 1 is unstarted.
    let rb = p.pick_blocks(b, 1);
    assert_eq!(rb[0].piece, 1);
    // Piece 2 is not available from anybody: now it is endgame.
    assert!(p.in_endgame());
    let rb = p.pick_blocks(b, 5);
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0].piece, 0);
    p.check_invariants();
}

#[test]
fn endgame_disabled_with_one_request_per_block() {
    let mut p = PiecePicker::new(
        1,
        32 * KIB,
        32 * 1024,
        PickerConfig {
            max_requests_per_block: 1,
            ..PickerConfig::default()
        },
    )
    .unwrap();
    p.peer_have_all(PeerKey(1));
    p.peer_have_all(PeerKey(2));
    assert_eq!(p.pick_blocks(PeerKey(1), 5).len(), 2);
    assert!(p.pick_blocks(PeerKey(2), 5).is_empty());
}

#[test]
fn invalid_and_unwanted_blocks() {
    let mut p = picker(2, 32 * KIB, 0);
    let a = PeerKey(1);
    p.peer_have_all(a);
    let bad = [
        BlockRequest {
            piece: 2,
            begin: 0,
            length: BLOCK_SIZE,
        },
        BlockRequest {
            piece: 0,
            begin: 1,
            length: BLOCK_SIZE,
        },
        BlockRequest {
            piece: 0,
            begin: 0,
            length: 1,
        },
        BlockRequest {
            piece: 0,
            begin: 32 * KIB,
            length: BLOCK_SIZE,
        },
        BlockRequest {
            piece: 0,
            begin: u32::MAX - 16383,
            length: BLOCK_SIZE,
        },
    ];
    for r in bad {
        assert_eq!(p.on_block_received(a, r).status, BlockStatus::Invalid);
        assert!(!p.on_request_timeout(a, r));
    }
    let ok = p.block_request(1, 0).unwrap();
    assert_eq!(p.on_block_received(a, ok).status, BlockStatus::NotWanted);
    p.mark_have(0).unwrap();
    let r = p.block_request(0, 0).unwrap();
    assert_eq!(p.on_block_received(a, r).status, BlockStatus::NotWanted);
    p.check_invariants();
}

#[test]
fn mark_have_mid_download_forgets_requests() {
    let mut p = picker(2, 32 * KIB, 0);
    let a = PeerKey(1);
    p.peer_have_all(a);
    let r = p.pick_blocks(a, 1);
    p.mark_have(r[0].piece).unwrap();
    assert_eq!(p.outstanding_requests(a), 0);
    assert_eq!(p.on_block_received(a, r[0]).status, BlockStatus::NotWanted);
    p.check_invariants();
}

#[test]
fn unknown_or_uninteresting_peer_gets_nothing() {
    let mut p = picker(2, 32 * KIB, 0);
    assert!(p.pick_blocks(PeerKey(9), 10).is_empty());
    p.add_peer(PeerKey(9));
    assert!(p.pick_blocks(PeerKey(9), 10).is_empty());
    p.peer_have_all(PeerKey(9));
    p.peer_have_none(PeerKey(9));
    assert!(p.pick_blocks(PeerKey(9), 10).is_empty());
    assert_eq!(p.availability(0), 0);
    p.check_invariants();
}

// ------------------------------------------------------------------
// Property tests

#[derive(Debug, Clone)]
enum Op {
    Bitfield(u8, Vec<bool>),
    Have(u8, u16),
    HaveAll(u8),
    Gone(u8),
    Pick(u8, u8),
    Deliver(u16),
    Timeout(u16),
    Verify(u16),
    Fail(u16),
    MarkHave(u16),
    Priority(u16, u8),
}

fn op(pieces: usize) -> impl Strategy<Value = Op> {
    let peer = 0u8..5;
    prop_oneof![
        (
            peer.clone(),
            proptest::collection::vec(any::<bool>(), pieces)
        )
            .prop_map(|(k, b)| Op::Bitfield(k, b)),
        (peer.clone(), any::<u16>()).prop_map(|(k, i)| Op::Have(k, i)),
        peer.clone().prop_map(Op::HaveAll),
        peer.clone().prop_map(Op::Gone),
        (peer.clone(), 0u8..40).prop_map(|(k, m)| Op::Pick(k, m)),
        (peer.clone(), 0u8..40).prop_map(|(k, m)| Op::Pick(k, m)),
        any::<u16>().prop_map(Op::Deliver),
        any::<u16>().prop_map(Op::Deliver),
        any::<u16>().prop_map(Op::Timeout),
        any::<u16>().prop_map(Op::Verify),
        any::<u16>().prop_map(Op::Fail),
        any::<u16>().prop_map(Op::MarkHave),
        (any::<u16>(), 0u8..3).prop_map(|(i, p)| Op::Priority(i, p)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random operation sequences keep every invariant, and picks never
    /// name a piece we have or the peer lacks, never exceed the
    /// per-block request bound, and never repeat a request to a peer.
    #[test]
    fn random_ops_keep_invariants(
        pieces in 1u32..24,
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(24), 1..120),
    ) {
        let plen = 48 * KIB;
        let total = u64::from(pieces) * u64::from(plen) - 5000;
        let mut p = PiecePicker::new(pieces, plen, total, PickerConfig { seed, ..Default::default() }).unwrap();
        // Outstanding requests per peer, as the caller would track them.
        let mut outstanding: Vec<(PeerKey, BlockRequest)> = Vec::new();
        for op in ops {
            match op {
                Op::Bitfield(k, bits) => {
                    let b = bf(pieces as usize, (0..pieces as usize).filter(|&i| bits[i]));
                    p.peer_bitfield(PeerKey(k.into()), b).unwrap();
                }
                Op::Have(k, i) => {
                    let r = p.peer_have(PeerKey(k.into()), u32::from(i) % (pieces + 1));
                    prop_assert_eq!(r.is_err(), u32::from(i) % (pieces + 1) == pieces);
                }
                Op::HaveAll(k) => p.peer_have_all(PeerKey(k.into())),
                Op::Gone(k) => {
                    p.on_peer_gone(PeerKey(k.into()));
                    outstanding.retain(|(o, _)| o.0 != u64::from(k));
                }
                Op::Pick(k, max) => {
                    let peer = PeerKey(k.into());
                    let got = p.pick_blocks(peer, max.into());
                    prop_assert!(got.len() <= max.into());
                    for r in &got {
                        prop_assert!(!p.has_piece(r.piece));
                        prop_assert!(p.peer_has(peer, r.piece));
                        prop_assert!(!outstanding.contains(&(peer, *r)));
                        outstanding.push((peer, *r));
                    }
                }
                Op::Deliver(i) => {
                    if !outstanding.is_empty() {
                        let (peer, r) = outstanding.swap_remove(usize::from(i) % outstanding.len());
                        let o = p.on_block_received(peer, r);
                        for c in &o.cancel {
                            prop_assert!(*c != peer);
                            outstanding.retain(|x| x != &(*c, r));
                        }
                        if o.piece_complete {
                            prop_assert!(o.should_store());
                        }
                    }
                }
                Op::Timeout(i) => {
                    if !outstanding.is_empty() {
                        let (peer, r) = outstanding.swap_remove(usize::from(i) % outstanding.len());
                        p.on_request_timeout(peer, r);
                    }
                }
                Op::Verify(i) => {
                    p.on_piece_verified(u32::from(i) % pieces).unwrap();
                }
                Op::Fail(i) => {
                    p.on_piece_failed(u32::from(i) % pieces).unwrap();
                }
                Op::MarkHave(i) => p.mark_have(u32::from(i) % pieces).unwrap(),
                Op::Priority(i, pr) => p.set_piece_priority(u32::from(i) % pieces, pr).unwrap(),
            }
            // Requests the picker forgot (piece verified / marked / failed)
            // are dropped by the caller too.
            outstanding.retain(|(peer, r)| {
                p.inflight.requesters(r.piece, r.block_index()).contains(peer)
            });
            p.check_invariants();
            for k in p.peers.keys() {
                prop_assert_eq!(
                    p.outstanding_requests(*k),
                    outstanding.iter().filter(|(o, _)| o == k).count()
                );
            }
        }
    }

    /// A swarm simulation with random disconnects, reconnects, timeouts
    /// and hash failures always completes the download.
    #[test]
    fn simulation_always_completes(
        pieces in 1u32..40,
        npeers in 1usize..6,
        seed in any::<u64>(),
    ) {
        simulate(pieces, npeers, seed)?;
    }
}

fn simulate(pieces: u32, npeers: usize, seed: u64) -> Result<(), TestCaseError> {
    use rand::rngs::StdRng;
    let mut rng = StdRng::seed_from_u64(seed);
    let plen = 32 * KIB;
    let total = u64::from(pieces) * u64::from(plen) - u64::from(rng.gen_range(0..plen));
    let mut p = PiecePicker::new(
        pieces,
        plen,
        total,
        PickerConfig {
            seed,
            ..Default::default()
        },
    )
    .unwrap();
    // Random bitfields whose union covers every piece.
    let mut bfs: Vec<Bitfield> = (0..npeers)
        .map(|_| {
            bf(
                pieces as usize,
                (0..pieces as usize).filter(|_| rng.gen_bool(0.5)),
            )
        })
        .collect();
    for i in 0..pieces as usize {
        let k = rng.gen_range(0..npeers);
        bfs[k].set(i, true).unwrap();
    }
    let mut generation = vec![0u64; npeers];
    let key = |k: usize, generation: &[u64]| PeerKey((generation[k] << 8) | k as u64);
    let mut online = vec![false; npeers];
    let mut queue: Vec<(usize, PeerKey, BlockRequest)> = Vec::new();
    let mut poisoned_fails = 0;
    for step in 0..200_000 {
        if p.is_seed() {
            p.check_invariants();
            return Ok(());
        }
        let k = rng.gen_range(0..npeers);
        let peer = key(k, &generation);
        match rng.gen_range(0..100) {
            0..=4 => {
                // (Re)connect.
                if !online[k] {
                    online[k] = true;
                    if bfs[k].is_complete() && rng.gen_bool(0.5) {
                        p.peer_have_all(peer);
                    } else {
                        p.peer_bitfield(peer, bfs[k].clone()).unwrap();
                    }
                }
            }
            5..=7 => {
                // Disconnect (never the last online peer for long).
                if online[k] {
                    online[k] = false;
                    p.on_peer_gone(peer);
                    queue.retain(|(o, _, _)| *o != k);
                    generation[k] += 1;
                }
            }
            8..=40 => {
                if online[k] {
                    for r in p.pick_blocks(peer, rng.gen_range(1..8)) {
                        queue.push((k, peer, r));
                    }
                }
            }
            41..=43 => {
                if !queue.is_empty() {
                    let i = rng.gen_range(0..queue.len());
                    let (_, peer, r) = queue.swap_remove(i);
                    if rng.gen_bool(0.5) {
                        p.on_request_timeout(peer, r);
                    } else {
                        p.on_request_rejected(peer, r);
                    }
                }
            }
            _ => {
                if !queue.is_empty() {
                    let i = rng.gen_range(0..queue.len());
                    let (_, peer, r) = queue.swap_remove(i);
                    let o = p.on_block_received(peer, r);
                    queue.retain(|(_, q, x)| !(x == &r && o.cancel.contains(q)));
                    if o.piece_complete {
                        if poisoned_fails < 5 && rng.gen_bool(0.1) {
                            poisoned_fails += 1;
                            let c = p.on_piece_failed(r.piece).unwrap();
                            prop_assert!(c.peers().contains(&peer));
                        } else {
                            p.on_piece_verified(r.piece).unwrap();
                        }
                    }
                }
            }
        }
        if step % 64 == 0 {
            p.check_invariants();
        }
    }
    prop_assert!(
        false,
        "simulation did not finish: {} of {} pieces",
        p.num_have(),
        pieces
    );
    Ok(())
}

#[test]
fn simulation_large() {
    for seed in 0..5 {
        simulate(300, 8, seed).unwrap();
    }
}

/// The pieces of the blocks picked, in first-seen order.
fn pieces_of(r: &[BlockRequest]) -> Vec<u32> {
    let mut v: Vec<u32> = Vec::new();
    for b in r {
        if !v.contains(&b.piece) {
            v.push(b.piece);
        }
    }
    v
}

#[test]
fn sequential_mode_starts_pieces_in_index_order() {
    // One block per piece, every piece equally rare: rarest first would
    // pick at random.
    let mut p = picker(64, 16 * KIB, 7);
    p.set_sequential(true);
    p.peer_have_all(PeerKey(1));
    skip_random_phase(&mut p, &[]);
    let first = pieces_of(&p.pick_blocks(PeerKey(1), 5));
    assert_eq!(first, [0, 1, 2, 3, 4]);
    // Skipped pieces and pieces we have are passed over.
    p.set_piece_priority(5, PRIORITY_SKIP).unwrap();
    p.mark_have(6).unwrap();
    let next = pieces_of(&p.pick_blocks(PeerKey(1), 3));
    assert_eq!(next, [7, 8, 9]);
    // A piece becoming wanted again below the cursor is picked next.
    p.set_piece_priority(5, PRIORITY_NORMAL).unwrap();
    assert_eq!(pieces_of(&p.pick_blocks(PeerKey(1), 1)), [5]);
    p.check_invariants();
}

#[test]
fn high_priority_first_and_low_priority_last() {
    let mut p = picker(32, 16 * KIB, 3);
    p.peer_have_all(PeerKey(1));
    for i in 0..32 {
        if i % 2 == 0 {
            p.set_piece_priority(i, PRIORITY_LOW).unwrap();
        }
    }
    p.set_piece_priority(30, PRIORITY_HIGH).unwrap();
    p.set_piece_priority(20, PRIORITY_HIGH).unwrap();
    // High ones first, in index order; then the 16 normal (odd) ones.
    let r = pieces_of(&p.pick_blocks(PeerKey(1), 18));
    assert_eq!(&r[..2], [20, 30]);
    let mut normal = r[2..].to_vec();
    normal.sort_unstable();
    assert_eq!(normal, (0..32).filter(|i| i % 2 == 1).collect::<Vec<u32>>());
    // Only then the low ones.
    let low = pieces_of(&p.pick_blocks(PeerKey(1), 100));
    assert_eq!(low.len(), 14);
    assert!(low.iter().all(|i| i % 2 == 0 && *i != 20 && *i != 30));
    p.check_invariants();
}
