//! Piece picker benchmarks: 100 000 pieces of 256 KiB, 50 peers with random
//! bitfields (each piece held with probability 1/2).
//!
//! * `pick_blocks/16`: one `pick_blocks(peer, 16)` call in steady state, where
//!   every peer keeps 64 blocks (4 pieces) in flight, so ~200 pieces are in
//!   progress. Delivering and verifying blocks is not timed.
//! * `pick_blocks/16 common-pieces-only peer`: the worst case of the
//!   rarest-first scan, a peer lacking every rarer-than-median piece.
//! * `peer_have`: one `have` from a peer (availability update).
//! * `peer_bitfield+gone`: a peer with a random half-full bitfield joins
//!   and leaves (O(pieces) by nature).

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_swarm::bitfield::Bitfield;
use shoal_swarm::picker::{BlockRequest, PickerConfig, PiecePicker};
use shoal_swarm::PeerKey;

const PIECES: u32 = 100_000;
const PIECE_LEN: u32 = 256 * 1024;
const PEERS: u64 = 50;
const IN_FLIGHT: usize = 64;
const PICK: usize = 16;

fn random_bitfield(rng: &mut StdRng, density: f64) -> Bitfield {
    let mut b = Bitfield::new(PIECES as usize);
    for i in 0..PIECES as usize {
        if rng.gen_bool(density) {
            let _ = b.set(i, true);
        }
    }
    b
}

fn swarm(seed: u64) -> PiecePicker {
    let mut rng = StdRng::seed_from_u64(seed);
    let total = u64::from(PIECES) * u64::from(PIECE_LEN);
    let mut p = PiecePicker::new(
        PIECES,
        PIECE_LEN,
        total,
        PickerConfig {
            seed,
            ..PickerConfig::default()
        },
    )
    .expect("geometry");
    for k in 0..PEERS {
        p.peer_bitfield(PeerKey(k), random_bitfield(&mut rng, 0.5))
            .expect("bitfield");
    }
    // Past the initial random phase: measure rarest first.
    for i in 0..4 {
        p.mark_have(i).expect("index");
    }
    p
}

struct Steady {
    picker: PiecePicker,
    queues: Vec<VecDeque<BlockRequest>>,
    next_peer: u64,
    seed: u64,
}

impl Steady {
    fn new(seed: u64) -> Self {
        let mut picker = swarm(seed);
        let queues = (0..PEERS)
            .map(|k| picker.pick_blocks(PeerKey(k), IN_FLIGHT).into())
            .collect();
        Steady {
            picker,
            queues,
            next_peer: 0,
            seed,
        }
    }

    /// Delivers `PICK` blocks of the next peer (untimed), then times picking
    /// `PICK` new ones.
    fn step(&mut self) -> Duration {
        if self.picker.num_have() > PIECES * 9 / 10 {
            self.seed += 1;
            *self = Steady::new(self.seed);
        }
        let k = self.next_peer;
        self.next_peer = (k + 1) % PEERS;
        let peer = PeerKey(k);
        let q = &mut self.queues[k as usize];
        for _ in 0..PICK {
            let Some(r) = q.pop_front() else { break };
            let o = self.picker.on_block_received(peer, r);
            if o.piece_complete {
                self.picker.on_piece_verified(r.piece).expect("index");
            }
        }
        let t = Instant::now();
        let got = self.picker.pick_blocks(peer, PICK);
        let d = t.elapsed();
        self.queues[k as usize].extend(black_box(got));
        d
    }
}

fn bench_pick(c: &mut Criterion) {
    let mut s = Steady::new(1);
    c.bench_function("pick_blocks/16 (100k pieces, 50 peers)", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| s.step()).sum())
    });
    eprintln!(
        "  (pieces in progress at the end: {}, have: {})",
        s.picker.num_downloading(),
        s.picker.num_have()
    );
}

fn bench_have(c: &mut Criterion) {
    let mut p = swarm(2);
    let mut rng = StdRng::seed_from_u64(3);
    let fresh: Vec<PeerKey> = (1000..1010).map(PeerKey).collect();
    for &k in &fresh {
        p.peer_have_none(k);
    }
    let mut news = 0u64;
    c.bench_function("peer_have (100k pieces, 50 peers)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Keep the fresh peers below ~30% so most `have`s are news
                // (reset untimed).
                if news > u64::from(PIECES) * 3 {
                    for &k in &fresh {
                        p.peer_have_none(k);
                    }
                    news = 0;
                }
                let peer = fresh[rng.gen_range(0..fresh.len())];
                let index = rng.gen_range(0..PIECES);
                let t = Instant::now();
                let r = p.peer_have(peer, index);
                total += t.elapsed();
                news += u64::from(black_box(r) == Ok(true));
            }
            total
        })
    });
}

/// A peer that only has the most common half of the pieces: the scan from
/// the rarest end must skip every rarer piece (the picker's worst case).
fn bench_pick_common_only(c: &mut Criterion) {
    let mut p = swarm(6);
    let mut bf = Bitfield::new(PIECES as usize);
    for i in 0..PIECES {
        if p.availability(i) > PEERS as u32 / 2 {
            let _ = bf.set(i as usize, true);
        }
    }
    let peer = PeerKey(777);
    p.peer_bitfield(peer, bf).expect("bitfield");
    c.bench_function("pick_blocks/16 common-pieces-only peer (worst case)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let got = p.pick_blocks(peer, PICK);
                total += t.elapsed();
                black_box(got);
                p.release_peer_requests(peer);
            }
            total
        })
    });
}

fn bench_bitfield(c: &mut Criterion) {
    let mut p = swarm(4);
    let mut rng = StdRng::seed_from_u64(5);
    let bf = random_bitfield(&mut rng, 0.5);
    c.bench_function("peer_bitfield+gone (100k pieces, 50 peers)", |b| {
        b.iter(|| {
            p.peer_bitfield(PeerKey(999), bf.clone()).expect("bitfield");
            p.on_peer_gone(PeerKey(999));
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench_pick, bench_pick_common_only, bench_have, bench_bitfield
}
criterion_main!(benches);
