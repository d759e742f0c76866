//! Upload slot allocation ("choking"), after Bram Cohen's *Incentives Build
//! Robustness in BitTorrent* and BEP 3.
//!
//! The [`Choker`] is a pure function of the peer statistics it is given, plus
//! a little memory (optimistic slots and when each peer was last unchoked),
//! plus a caller-supplied RNG. The caller calls [`Choker::rechoke`] every
//! [`ChokerConfig::rechoke_interval`] (see [`Choker::is_due`]) — and may call
//! it earlier, e.g. when a peer in a slot loses interest — and then sends
//! `choke`/`unchoke` messages for the differences between the decision and
//! the current state.
//!
//! # Rules
//!
//! * **Regular slots** ([`ChokerConfig::regular_slots`], default 4). Peers are
//!   ranked by the rate at which they give us data when we are leeching
//!   (tit-for-tat), or when seeding by the rate at which they take data from
//!   us ([`SeedChoking::FastestUpload`]) or in turns
//!   ([`SeedChoking::RoundRobin`]). Ties go to peers that are already
//!   unchoked (fewer choke/unchoke flips), then are broken at random.
//! * **Not-interested peers** follow BEP 3: walking down the ranking, every
//!   peer is unchoked until `regular_slots` *interested* peers have been;
//!   not-interested peers ranked above that point are unchoked too but do not
//!   use a slot (if one becomes interested, the next rechoke settles who
//!   keeps the slot). Peers ranked below the last slot stay choked.
//! * **Seeds** (peers that have every piece) are never unchoked: they will
//!   never request anything.
//! * **Anti-snubbing** (leeching only): a peer we unchoked that has not sent us
//!   a block for [`ChokerConfig::snub_timeout`] (60 s) since it was unchoked
//!   or since its last block is *snubbed*. Snubbed peers are ranked after all
//!   non-snubbed ones, so they lose their regular slot to any interested peer
//!   that is not snubbing us; a slot nobody else wants still goes to them
//!   rather than leaving upload capacity idle. They stay eligible for the
//!   optimistic slot. A peer stops being snubbed as soon as it sends a block
//!   or we unchoke it afresh.
//! * **Optimistic unchoke** ([`ChokerConfig::optimistic_slots`], default 1):
//!   a random interested, choked-by-the-ranking peer, kept for
//!   [`ChokerConfig::optimistic_interval`] (30 s) and then replaced by a
//!   different one when possible. Peers connected for less than
//!   [`ChokerConfig::new_peer_age`] (60 s) are
//!   [`ChokerConfig::new_peer_weight`] (3) times as likely to be picked, so
//!   newcomers quickly get something to trade. A slot whose peer left, lost
//!   interest or graduated to a regular slot is refilled at once.

use crate::fixed_hash::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;

use crate::PeerKey;

/// How regular slots are allocated while we are seeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeedChoking {
    /// Unchoke the peers that take data from us fastest (Cohen's rule:
    /// maximises our upload throughput).
    #[default]
    FastestUpload,
    /// Give every interested peer a turn: a peer keeps its slot for
    /// [`ChokerConfig::round_robin_quota`], then yields it to the peer that
    /// has waited longest.
    RoundRobin,
}

/// Tunables of the [`Choker`]; see the module documentation.
#[derive(Debug, Clone)]
pub struct ChokerConfig {
    /// Number of regular (rate-ranked) upload slots.
    pub regular_slots: usize,
    /// Number of optimistic unchoke slots.
    pub optimistic_slots: usize,
    /// How often the caller should call [`Choker::rechoke`].
    pub rechoke_interval: Duration,
    /// How long an optimistic unchoke lasts before being rotated.
    pub optimistic_interval: Duration,
    /// Peers connected for less than this are favoured for optimistic slots.
    pub new_peer_age: Duration,
    /// Relative weight of new peers for optimistic slots (others have 1).
    pub new_peer_weight: u32,
    /// A peer that has sent us nothing for this long is snubbed.
    pub snub_timeout: Duration,
    /// Slot allocation while seeding.
    pub seed_choking: SeedChoking,
    /// With [`SeedChoking::RoundRobin`], how long a peer keeps its slot.
    pub round_robin_quota: Duration,
}

impl Default for ChokerConfig {
    fn default() -> Self {
        ChokerConfig {
            regular_slots: 4,
            optimistic_slots: 1,
            rechoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            new_peer_age: Duration::from_secs(60),
            new_peer_weight: 3,
            snub_timeout: Duration::from_secs(60),
            seed_choking: SeedChoking::default(),
            round_robin_quota: Duration::from_secs(30),
        }
    }
}

/// What the choker knows about one connected peer at rechoke time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStats {
    /// The peer.
    pub key: PeerKey,
    /// The peer is interested in us (wants to download from us).
    pub interested: bool,
    /// Rate at which the peer sends us data, bytes/s.
    pub download_rate: u64,
    /// Rate at which we send the peer data, bytes/s.
    pub upload_rate: u64,
    /// When the peer last sent us a (valid, wanted) block.
    pub last_block_received: Option<Instant>,
    /// When the connection was established.
    pub connected_since: Instant,
    /// The peer has every piece.
    pub is_seed: bool,
    /// We are currently choking the peer.
    pub choked: bool,
}

/// The result of a [`Choker::rechoke`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChokeDecision {
    /// Every peer that should be unchoked, sorted; all others should be
    /// choked.
    pub unchoke: Vec<PeerKey>,
    /// The interested peers holding regular slots (subset of `unchoke`).
    pub regular: Vec<PeerKey>,
    /// The peers holding optimistic slots (subset of `unchoke`).
    pub optimistic: Vec<PeerKey>,
}

impl ChokeDecision {
    /// Whether `key` should be unchoked.
    pub fn is_unchoked(&self, key: PeerKey) -> bool {
        self.unchoke.binary_search(&key).is_ok()
    }
}

/// Decides which peers to upload to; see the module documentation.
#[derive(Debug, Clone)]
pub struct Choker {
    config: ChokerConfig,
    /// Optimistic slots: peer and when it got the slot.
    optimistic: Vec<(PeerKey, Instant)>,
    /// When each known peer last went from choked to unchoked.
    unchoked_at: HashMap<PeerKey, Instant>,
    last_rechoke: Option<Instant>,
}

impl Default for Choker {
    fn default() -> Self {
        Choker::new(ChokerConfig::default())
    }
}

impl Choker {
    /// A choker with the given configuration.
    pub fn new(config: ChokerConfig) -> Self {
        Choker {
            config,
            optimistic: Vec::new(),
            unchoked_at: HashMap::default(),
            last_rechoke: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ChokerConfig {
        &self.config
    }

    /// When the next periodic rechoke is due (`None` before the first one).
    pub fn next_rechoke(&self) -> Option<Instant> {
        self.last_rechoke.map(|t| t + self.config.rechoke_interval)
    }

    /// True if a periodic rechoke is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        match self.next_rechoke() {
            None => true,
            Some(t) => now >= t,
        }
    }

    /// The peers currently holding optimistic slots.
    pub fn optimistic(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.optimistic.iter().map(|&(k, _)| k)
    }

    /// Whether `peer` is snubbing us at `now`: we unchoked it (as far as this
    /// choker has seen) and it has sent no block for
    /// [`ChokerConfig::snub_timeout`] since then or since its last block.
    /// Only meaningful while leeching.
    pub fn is_snubbed(&self, now: Instant, peer: &PeerStats) -> bool {
        let Some(&unchoked) = self.unchoked_at.get(&peer.key) else {
            return false;
        };
        let since = peer
            .last_block_received
            .map_or(unchoked, |b| b.max(unchoked));
        now.saturating_duration_since(since) >= self.config.snub_timeout
    }

    fn is_new(&self, now: Instant, peer: &PeerStats) -> bool {
        now.saturating_duration_since(peer.connected_since) < self.config.new_peer_age
    }

    /// Computes which peers to unchoke at `now`. `seeding` is true when we
    /// have every piece we want. Deterministic given `peers` (in order) and
    /// the RNG state.
    pub fn rechoke<R: Rng + ?Sized>(
        &mut self,
        now: Instant,
        peers: &[PeerStats],
        seeding: bool,
        rng: &mut R,
    ) -> ChokeDecision {
        self.last_rechoke = Some(now);

        // Drop duplicate keys (first wins) and forget departed peers.
        let mut seen = HashSet::with_capacity_and_hasher(peers.len(), Default::default());
        let peers: Vec<&PeerStats> = peers.iter().filter(|p| seen.insert(p.key)).collect();
        self.unchoked_at.retain(|k, _| seen.contains(k));
        for p in &peers {
            if !p.choked {
                // Unchoked by someone else or before we knew it: count from now.
                self.unchoked_at.entry(p.key).or_insert(now);
            }
        }

        // Ranking.
        let mut cands: Vec<(&PeerStats, RankKey)> = peers
            .iter()
            .filter(|p| !p.is_seed)
            .map(|&p| (p, self.rank_key(now, p, seeding)))
            .collect();
        cands.shuffle(rng);
        cands.sort_by_key(|c| c.1);

        let mut unchoke: Vec<PeerKey> = Vec::new();
        let mut regular: Vec<PeerKey> = Vec::new();
        for (p, _) in &cands {
            if regular.len() >= self.config.regular_slots {
                break;
            }
            unchoke.push(p.key);
            if p.interested {
                regular.push(p.key);
            }
        }

        // Optimistic slots.
        let taken: HashSet<PeerKey> = unchoke.iter().copied().collect();
        let eligible = |p: &PeerStats| p.interested && !p.is_seed && !taken.contains(&p.key);
        let by_key: HashMap<PeerKey, &PeerStats> = peers.iter().map(|p| (p.key, *p)).collect();
        let mut kept: Vec<(PeerKey, Instant)> = Vec::new();
        let mut rotated: Vec<PeerKey> = Vec::new();
        for &(k, since) in &self.optimistic {
            let still_ok = by_key.get(&k).is_some_and(|p| eligible(p));
            let expired = now.saturating_duration_since(since) >= self.config.optimistic_interval;
            if still_ok && !expired && kept.len() < self.config.optimistic_slots {
                kept.push((k, since));
            } else if still_ok {
                rotated.push(k);
            }
        }
        let want = self.config.optimistic_slots.saturating_sub(kept.len());
        if want > 0 {
            let in_kept = |k: PeerKey| kept.iter().any(|&(x, _)| x == k);
            let mut pool: Vec<(&PeerStats, u32)> = peers
                .iter()
                .filter(|p| eligible(p) && !in_kept(p.key))
                .map(|&p| {
                    let w = if self.is_new(now, p) {
                        self.config.new_peer_weight.max(1)
                    } else {
                        1
                    };
                    (p, w)
                })
                .collect();
            // Rotation means a *different* peer whenever possible.
            let fresh = pool
                .iter()
                .filter(|(p, _)| !rotated.contains(&p.key))
                .count();
            if fresh >= want {
                pool.retain(|(p, _)| !rotated.contains(&p.key));
            }
            for _ in 0..want {
                let Some(i) = weighted_index(&pool, rng) else {
                    break;
                };
                let (p, _) = pool.swap_remove(i);
                kept.push((p.key, now));
            }
        }
        self.optimistic = kept;
        let optimistic: Vec<PeerKey> = self.optimistic.iter().map(|&(k, _)| k).collect();
        unchoke.extend(optimistic.iter().copied());

        // Remember choked -> unchoked transitions for anti-snubbing and
        // round robin.
        for k in &unchoke {
            if by_key.get(k).is_some_and(|p| p.choked) {
                self.unchoked_at.insert(*k, now);
            }
        }

        unchoke.sort_unstable();
        ChokeDecision {
            unchoke,
            regular,
            optimistic,
        }
    }

    fn rank_key(&self, now: Instant, p: &PeerStats, seeding: bool) -> RankKey {
        // Lower sorts first.
        let sticky = u8::from(p.choked);
        if !seeding {
            let snubbed = self.is_snubbed(now, p);
            return RankKey {
                class: u8::from(snubbed),
                primary: u64::MAX - p.download_rate,
                sticky,
            };
        }
        match self.config.seed_choking {
            SeedChoking::FastestUpload => RankKey {
                class: 0,
                primary: u64::MAX - p.upload_rate,
                sticky,
            },
            SeedChoking::RoundRobin => {
                let last = self.unchoked_at.get(&p.key).copied();
                if p.choked {
                    // Waited longest (unchoked longest ago, or never) first.
                    let waited = last.map_or(u64::MAX, |t| {
                        let d = now.saturating_duration_since(t).as_millis();
                        u64::try_from(d).unwrap_or(u64::MAX)
                    });
                    RankKey {
                        class: 1,
                        primary: u64::MAX - waited,
                        sticky,
                    }
                } else {
                    let held = last.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
                    let class = if held < self.config.round_robin_quota {
                        0
                    } else {
                        2
                    };
                    RankKey {
                        class,
                        primary: u64::MAX - p.upload_rate,
                        sticky,
                    }
                }
            }
        }
    }
}

/// Sort key of a candidate for regular slots (smaller is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RankKey {
    class: u8,
    primary: u64,
    sticky: u8,
}

/// Picks an index with probability proportional to its weight.
fn weighted_index<T, R: Rng + ?Sized>(pool: &[(T, u32)], rng: &mut R) -> Option<usize> {
    let total: u64 = pool.iter().map(|&(_, w)| u64::from(w)).sum();
    if total == 0 {
        return None;
    }
    let mut r = rng.gen_range(0..total);
    for (i, &(_, w)) in pool.iter().enumerate() {
        let w = u64::from(w);
        if r < w {
            return Some(i);
        }
        r -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    struct Sim {
        t0: Instant,
        peers: Vec<PeerStats>,
    }

    impl Sim {
        fn new() -> Self {
            Sim {
                t0: Instant::now(),
                peers: Vec::new(),
            }
        }
        /// An interested, choked, old (connected 10 min before t0) leecher.
        fn add(&mut self, key: u64, down: u64, up: u64) -> usize {
            self.peers.push(PeerStats {
                key: PeerKey(key),
                interested: true,
                download_rate: down,
                upload_rate: up,
                last_block_received: Some(self.t0),
                connected_since: self.t0 - secs(600),
                is_seed: false,
                choked: true,
            });
            self.peers.len() - 1
        }
        /// Applies a decision to the peers' `choked` flags.
        fn apply(&mut self, d: &ChokeDecision) {
            for p in &mut self.peers {
                p.choked = !d.is_unchoked(p.key);
            }
        }
    }

    fn keys(v: &[u64]) -> Vec<PeerKey> {
        v.iter().map(|&k| PeerKey(k)).collect()
    }

    fn sorted(mut v: Vec<PeerKey>) -> Vec<PeerKey> {
        v.sort();
        v
    }

    #[test]
    fn leeching_unchokes_top_downloaders() {
        let mut s = Sim::new();
        for (k, rate) in [
            (1, 100),
            (2, 900),
            (3, 300),
            (4, 800),
            (5, 50),
            (6, 700),
            (7, 600),
        ] {
            s.add(k, rate, 10_000 - rate);
        }
        let mut c = Choker::default();
        let mut rng = StdRng::seed_from_u64(1);
        let d = c.rechoke(s.t0, &s.peers, false, &mut rng);
        assert_eq!(sorted(d.regular.clone()), keys(&[2, 4, 6, 7]));
        assert_eq!(d.optimistic.len(), 1);
        assert!([1, 3, 5].map(PeerKey).contains(&d.optimistic[0]));
        assert_eq!(d.unchoke.len(), 5);
    }

    #[test]
    fn seeding_fastest_upload_unchokes_fastest_takers() {
        let mut s = Sim::new();
        for (k, up) in [(1, 100), (2, 900), (3, 300), (4, 800), (5, 50), (6, 700)] {
            s.add(k, 10_000 - up, up);
        }
        let mut c = Choker::default();
        let d = c.rechoke(s.t0, &s.peers, true, &mut StdRng::seed_from_u64(2));
        assert_eq!(sorted(d.regular), keys(&[2, 3, 4, 6]));
    }

    #[test]
    fn not_interested_faster_peers_are_unchoked_without_using_a_slot() {
        let mut s = Sim::new();
        let a = s.add(1, 5000, 0);
        s.peers[a].interested = false;
        for (k, rate) in [(2, 900), (3, 800), (4, 700), (5, 600), (6, 500)] {
            s.add(k, rate, 0);
        }
        let slow = s.add(7, 1, 0);
        s.peers[slow].interested = false;
        let mut c = Choker::new(ChokerConfig {
            optimistic_slots: 0,
            ..ChokerConfig::default()
        });
        let d = c.rechoke(s.t0, &s.peers, false, &mut StdRng::seed_from_u64(3));
        assert_eq!(sorted(d.regular.clone()), keys(&[2, 3, 4, 5]));
        // Fast non-interested peer 1 is unchoked too; slow one 7 is not.
        assert_eq!(d.unchoke, keys(&[1, 2, 3, 4, 5]));
    }

    #[test]
    fn seeds_are_never_unchoked() {
        let mut s = Sim::new();
        for k in 1..=3 {
            let i = s.add(k, 10_000, 10_000);
            s.peers[i].is_seed = true;
            s.peers[i].interested = false;
        }
        s.add(4, 1, 1);
        let mut c = Choker::default();
        let d = c.rechoke(s.t0, &s.peers, false, &mut StdRng::seed_from_u64(4));
        assert_eq!(d.unchoke, keys(&[4]));
    }

    #[test]
    fn optimistic_rotates_every_30s() {
        for seed in 0..20 {
            let mut s = Sim::new();
            for k in 1..=4 {
                s.add(k, 1000 * k, 0);
            }
            for k in 5..=10 {
                s.add(k, 0, 0);
            }
            let mut c = Choker::default();
            let mut rng = StdRng::seed_from_u64(seed);
            let mut history = Vec::new();
            for round in 0..=9u64 {
                let now = s.t0 + secs(10 * round);
                // Keep peers "recently active" so nobody is snubbed.
                for p in &mut s.peers {
                    p.last_block_received = Some(now);
                }
                let d = c.rechoke(now, &s.peers, false, &mut rng);
                s.apply(&d);
                assert_eq!(sorted(d.regular.clone()), keys(&[1, 2, 3, 4]));
                assert_eq!(d.optimistic.len(), 1);
                history.push(d.optimistic[0]);
            }
            for (round, w) in history.windows(2).enumerate() {
                let round = round + 1;
                if round % 3 == 0 {
                    assert_ne!(w[0], w[1], "seed {seed}: must rotate at round {round}");
                } else {
                    assert_eq!(w[0], w[1], "seed {seed}: must keep at round {round}");
                }
            }
        }
    }

    #[test]
    fn optimistic_choice_is_random_across_seeds() {
        let mut s = Sim::new();
        for k in 1..=8 {
            s.add(k, 0, 0);
        }
        let cfg = ChokerConfig {
            regular_slots: 0,
            ..ChokerConfig::default()
        };
        let picks: HashSet<PeerKey> = (0..64)
            .map(|seed| {
                let mut c = Choker::new(cfg.clone());
                c.rechoke(s.t0, &s.peers, false, &mut StdRng::seed_from_u64(seed))
                    .optimistic[0]
            })
            .collect();
        assert_eq!(picks.len(), 8);
    }

    #[test]
    fn new_peers_are_three_times_as_likely_to_be_optimistic() {
        let mut s = Sim::new();
        for k in 1..=3 {
            s.add(k, 0, 0);
        }
        let n = s.add(4, 0, 0);
        s.peers[n].connected_since = s.t0 - secs(5);
        let cfg = ChokerConfig {
            regular_slots: 0,
            ..ChokerConfig::default()
        };
        let trials = 6000;
        let mut rng = StdRng::seed_from_u64(5);
        let hits = (0..trials)
            .filter(|_| {
                let mut c = Choker::new(cfg.clone());
                c.rechoke(s.t0, &s.peers, false, &mut rng).optimistic[0] == PeerKey(4)
            })
            .count();
        // Expected 3 / (3 + 3) = 0.5 (it would be 0.25 without the bonus).
        let frac = hits as f64 / trials as f64;
        assert!((0.46..0.54).contains(&frac), "{frac}");
    }

    #[test]
    fn snubbed_peer_loses_its_regular_slot() {
        let mut s = Sim::new();
        for (k, rate) in [(1, 10_000), (2, 900), (3, 800), (4, 700), (5, 600)] {
            s.add(k, rate, 0);
        }
        let cfg = ChokerConfig {
            optimistic_slots: 0,
            ..ChokerConfig::default()
        };
        let mut c = Choker::new(cfg);
        let mut rng = StdRng::seed_from_u64(6);
        let d = c.rechoke(s.t0, &s.peers, false, &mut rng);
        s.apply(&d);
        assert_eq!(sorted(d.regular), keys(&[1, 2, 3, 4]));
        // Everybody but peer 1 keeps sending; 1 goes silent (its rate
        // estimate still looks good).
        for round in 1..=7u64 {
            let now = s.t0 + secs(10 * round);
            for p in &mut s.peers {
                if p.key != PeerKey(1) {
                    p.last_block_received = Some(now);
                }
            }
            let d = c.rechoke(now, &s.peers, false, &mut rng);
            s.apply(&d);
            let snubbed = round * 10 >= 60;
            assert_eq!(c.is_snubbed(now, &s.peers[0]), snubbed, "round {round}");
            assert_eq!(d.regular.contains(&PeerKey(1)), !snubbed, "round {round}");
        }
        // Once it sends a block again it gets its slot back.
        let now = s.t0 + secs(80);
        s.peers[0].last_block_received = Some(now);
        let d = c.rechoke(now, &s.peers, false, &mut rng);
        assert!(d.regular.contains(&PeerKey(1)));
    }

    #[test]
    fn snubbed_peer_can_be_optimistic_and_gets_unwanted_slots() {
        let mut s = Sim::new();
        s.add(1, 10_000, 0);
        s.peers[0].choked = false;
        s.peers[0].last_block_received = None;
        let mut c = Choker::default();
        let mut rng = StdRng::seed_from_u64(7);
        c.rechoke(s.t0, &s.peers, false, &mut rng);
        let later = s.t0 + secs(61);
        assert!(c.is_snubbed(later, &s.peers[0]));
        // Alone: it still gets a slot rather than idling the upload.
        let d = c.rechoke(later, &s.peers, false, &mut rng);
        assert!(d.is_unchoked(PeerKey(1)));
        // Snubbing does not apply when seeding.
        let d = c.rechoke(later, &s.peers, true, &mut rng);
        assert_eq!(d.regular, keys(&[1]));
        // With four other peers it is pushed out of the regular slots but can
        // be the optimistic unchoke.
        for k in 2..=5 {
            let i = s.add(k, 1, 0);
            s.peers[i].last_block_received = Some(later);
        }
        let d = c.rechoke(later, &s.peers, false, &mut rng);
        assert!(!d.regular.contains(&PeerKey(1)));
        assert_eq!(d.optimistic, keys(&[1]));
    }

    #[test]
    fn optimistic_slot_refilled_when_peer_leaves_or_graduates() {
        let mut s = Sim::new();
        for k in 1..=4 {
            s.add(k, 1000 * k, 0);
        }
        s.add(5, 0, 0);
        s.add(6, 0, 0);
        let mut c = Choker::default();
        let mut rng = StdRng::seed_from_u64(8);
        let d = c.rechoke(s.t0, &s.peers, false, &mut rng);
        let opt = d.optimistic[0];
        // The optimistic peer disconnects: replaced immediately.
        s.peers.retain(|p| p.key != opt);
        let d = c.rechoke(s.t0 + secs(10), &s.peers, false, &mut rng);
        assert_eq!(d.optimistic.len(), 1);
        assert_ne!(d.optimistic[0], opt);
        // The new optimistic peer turns out fast: graduates, slot refilled.
        let opt2 = d.optimistic[0];
        let i = s.peers.iter().position(|p| p.key == opt2).unwrap();
        s.peers[i].download_rate = 1_000_000;
        s.peers.push(PeerStats {
            key: PeerKey(9),
            ..s.peers[0].clone()
        });
        s.peers.last_mut().unwrap().download_rate = 0;
        let d = c.rechoke(s.t0 + secs(20), &s.peers, false, &mut rng);
        assert!(d.regular.contains(&opt2));
        assert_eq!(d.optimistic.len(), 1);
        assert_ne!(d.optimistic[0], opt2);
    }

    #[test]
    fn round_robin_gives_everyone_a_turn() {
        let mut s = Sim::new();
        for k in 1..=12 {
            s.add(k, 0, 1000 * k);
        }
        let mut c = Choker::new(ChokerConfig {
            seed_choking: SeedChoking::RoundRobin,
            optimistic_slots: 0,
            ..ChokerConfig::default()
        });
        let mut rng = StdRng::seed_from_u64(9);
        let mut served = HashSet::default();
        for round in 0..12u64 {
            let d = c.rechoke(s.t0 + secs(10 * round), &s.peers, true, &mut rng);
            assert_eq!(d.regular.len(), 4);
            served.extend(d.regular.iter().copied());
            s.apply(&d);
        }
        assert_eq!(served.len(), 12);
    }

    #[test]
    fn ties_prefer_already_unchoked_peers() {
        let mut s = Sim::new();
        for k in 1..=8 {
            let i = s.add(k, 0, 0);
            s.peers[i].choked = k > 4;
        }
        let mut c = Choker::new(ChokerConfig {
            optimistic_slots: 0,
            ..ChokerConfig::default()
        });
        for seed in 0..10 {
            let d = c.rechoke(s.t0, &s.peers, false, &mut StdRng::seed_from_u64(seed));
            assert_eq!(sorted(d.regular), keys(&[1, 2, 3, 4]));
        }
    }

    #[test]
    fn deterministic_with_same_seed_and_schedule() {
        let mut s = Sim::new();
        for k in 1..=10 {
            s.add(k, k % 3, 0);
        }
        let run = || {
            let mut c = Choker::default();
            let mut rng = StdRng::seed_from_u64(42);
            c.rechoke(s.t0, &s.peers, false, &mut rng)
        };
        assert_eq!(run(), run());
        let mut c = Choker::default();
        assert!(c.is_due(s.t0));
        c.rechoke(s.t0, &s.peers, false, &mut StdRng::seed_from_u64(0));
        assert!(!c.is_due(s.t0 + secs(9)));
        assert!(c.is_due(s.t0 + secs(10)));
        assert_eq!(c.next_rechoke(), Some(s.t0 + secs(10)));
    }

    #[test]
    fn empty_and_duplicate_input() {
        let mut c = Choker::default();
        let mut rng = StdRng::seed_from_u64(0);
        let t0 = Instant::now();
        assert_eq!(
            c.rechoke(t0, &[], false, &mut rng),
            ChokeDecision::default()
        );
        let mut s = Sim::new();
        s.add(1, 5, 5);
        s.add(1, 5, 5);
        let d = c.rechoke(s.t0, &s.peers, false, &mut rng);
        assert_eq!(d.unchoke, keys(&[1]));
    }
}
