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
//!
//! The `scale/...` group is issue 9's scale: 100 000 pieces of 256 KiB, 200
//! peers with random half-full bitfields, and a number of *background*
//! pieces in progress (100, 1 000 or 10 000, the benchmark's parameter).
//! Each background piece has 8 of its 16 blocks received and the other 8
//! requested, half from each of two peers that never answer them (slow
//! peers), so it stays in progress; at 10 000 that is 400 stalled requests
//! per peer. On top of that, the peers take turns to answer 16 of their own
//! active requests (in order) and to ask for 16 more, keeping 16 to 32
//! active requests each (a few hundred more pieces in progress). The
//! per-call cost is measured for what a message batch calls:
//!
//! * `scale/pick_blocks`: `pick_blocks(peer, 16)`;
//! * `scale/on_block_received`: one block arriving;
//! * `scale/on_request_timeout`: one request timing out (a reject costs the
//!   same: both release one block);
//! * `scale/on_peer_gone`: a seed with 500 requests outstanding (untimed)
//!   disconnects: its requests are released (a seed's availability leaves in
//!   O(1), so this times the release alone).
//!
//! Issue 9 figures (median per call; `-- --measurement-time 3
//! --warm-up-time 1` on a shared 2-core machine at load average 11-14, so
//! expect noise of tens of per cent), before (picker of 361ea72) and after
//! the per-peer index (04bdde0). The column is the number of background
//! pieces; pieces in progress in total were about 500 / 1,400 / 10,400.
//!
//! ```text
//!                       before                       after
//!                       100      1,000    10,000     100      1,000    10,000
//! pick_blocks/16        6.8 us   12.8 us  156 us     3.5 us   3.7 us   3.2 us
//! on_block_received     0.39 us  0.32 us  0.34 us    0.58 us  0.43 us  0.59 us
//! on_request_timeout    0.46 us  2.2 us   0.40 us    1.6 us   2.1 us   2.8 us
//! on_peer_gone (seed)   240 us   281 us   1,337 us   76 us    80 us    51 us
//! ```
//!
//! What remains of `on_peer_gone` is returning its ~32 untouched pieces to
//! the bucketed order, one step per availability bucket crossed (O(distinct
//! availability values), at most the number of peers, per piece).

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
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

// ---------------------------------------------------------------------------
// Scale: 200 peers, deep pipelines, a growing number of pieces in progress.

const SCALE_PEERS: u64 = 200;
const BACKGROUND: [usize; 3] = [100, 1_000, 10_000];
const BATCH: usize = 16;
const VISITOR_PIPELINE: usize = 500;

/// What a `Scale` run times.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Timed {
    Pick,
    Received,
    Timeout,
    PeerGone,
}

struct Scale {
    picker: PiecePicker,
    /// Each peer's active requests, answered in order.
    active: Vec<VecDeque<BlockRequest>>,
    next_peer: u64,
    background: usize,
    seed: u64,
    rng: StdRng,
}

impl Scale {
    fn new(background: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let total = u64::from(PIECES) * u64::from(PIECE_LEN);
        let mut picker = PiecePicker::new(
            PIECES,
            PIECE_LEN,
            total,
            PickerConfig {
                seed,
                ..PickerConfig::default()
            },
        )
        .expect("geometry");
        let bitfields: Vec<Bitfield> = (0..SCALE_PEERS)
            .map(|_| random_bitfield(&mut rng, 0.5))
            .collect();
        for (k, bf) in bitfields.iter().enumerate() {
            picker
                .peer_bitfield(PeerKey(k as u64), bf.clone())
                .expect("bitfield");
        }
        for i in 0..4 {
            picker.mark_have(i).expect("index");
        }
        // Background pieces: 8 blocks received, 8 requested from two peers
        // that never answer.
        let mut pieces: Vec<u32> = (4..PIECES).collect();
        pieces.shuffle(&mut rng);
        let mut got = Vec::new();
        for &piece in pieces.iter().take(background) {
            let mut holder = || loop {
                let k = rng.gen_range(0..SCALE_PEERS);
                if bitfields[k as usize].get(piece as usize) {
                    break PeerKey(k);
                }
            };
            let (a, b) = (holder(), holder());
            for k in [a, b] {
                got.clear();
                picker.pick_blocks_among(k, &[piece], 8, &mut got);
                for r in got.iter().take(4) {
                    picker.on_block_received(k, *r);
                }
            }
        }
        assert_eq!(picker.num_downloading(), background);
        let mut s = Scale {
            picker,
            active: vec![VecDeque::new(); SCALE_PEERS as usize],
            next_peer: 0,
            background,
            seed,
            rng,
        };
        // Fill the active pipelines.
        for k in 0..SCALE_PEERS {
            let got = s.picker.pick_blocks(PeerKey(k), 2 * BATCH);
            s.active[k as usize].extend(got);
        }
        s
    }

    /// One message batch of the next peer; returns the time spent in the
    /// `timed` calls and their number.
    fn step(&mut self, timed: Timed) -> (Duration, u64) {
        if self.picker.num_have() > PIECES / 2 {
            self.seed += 1;
            *self = Scale::new(self.background, self.seed);
        }
        let k = self.next_peer;
        self.next_peer = (k + 1) % SCALE_PEERS;
        let peer = PeerKey(k);
        let mut spent = Duration::ZERO;
        let mut calls = 0;
        if timed == Timed::Timeout {
            if let Some(r) = self.active[k as usize].pop_back() {
                let t = Instant::now();
                black_box(self.picker.on_request_timeout(peer, r));
                spent += t.elapsed();
                calls += 1;
            }
        }
        for _ in 0..BATCH {
            let Some(r) = self.active[k as usize].pop_front() else {
                break;
            };
            let t = Instant::now();
            let o = self.picker.on_block_received(peer, r);
            if timed == Timed::Received {
                spent += t.elapsed();
                calls += 1;
            }
            if black_box(o).piece_complete {
                self.picker.on_piece_verified(r.piece).expect("index");
            }
        }
        let want = (2 * BATCH).saturating_sub(self.active[k as usize].len());
        let t = Instant::now();
        let got = self.picker.pick_blocks(peer, want.min(BATCH));
        if timed == Timed::Pick {
            spent += t.elapsed();
            calls += 1;
        }
        self.active[k as usize].extend(black_box(got));
        (spent, calls)
    }

    /// A seed joins, asks for a full pipeline (untimed) and leaves (timed).
    fn visitor(&mut self) -> Duration {
        let peer = PeerKey(10_000 + self.rng.gen_range(0..1000));
        self.picker.peer_have_all(peer);
        black_box(self.picker.pick_blocks(peer, VISITOR_PIPELINE));
        let t = Instant::now();
        self.picker.on_peer_gone(peer);
        let d = t.elapsed();
        // Keep the swarm moving between visits.
        self.step(Timed::Pick);
        d
    }

    fn run(&mut self, timed: Timed, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut done = 0;
        while done < iters {
            if timed == Timed::PeerGone {
                total += self.visitor();
                done += 1;
            } else {
                let (d, n) = self.step(timed);
                total += d;
                done += n;
            }
        }
        total
    }
}

fn bench_scale(c: &mut Criterion) {
    let mut g = c.benchmark_group("scale");
    g.sample_size(20);
    for (name, timed) in [
        ("pick_blocks", Timed::Pick),
        ("on_block_received", Timed::Received),
        ("on_request_timeout", Timed::Timeout),
        ("on_peer_gone", Timed::PeerGone),
    ] {
        for background in BACKGROUND {
            let mut s = Scale::new(background, 7);
            let label = format!("{name}/{background}");
            g.bench_function(&label, |b| b.iter_custom(|iters| s.run(timed, iters)));
            eprintln!(
                "  ({label}: pieces in progress at the end: {}, have: {})",
                s.picker.num_downloading(),
                s.picker.num_have()
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench_pick, bench_pick_common_only, bench_have, bench_bitfield, bench_scale
}
criterion_main!(benches);
