//! Block picking for one torrent: which blocks to request from which peer.
//!
//! The [`PiecePicker`] owns everything the decision depends on:
//!
//! * the torrent geometry (piece count, piece length, total length; the last
//!   piece may be shorter, blocks are [`BLOCK_SIZE`] bytes except the last of
//!   each piece);
//! * which pieces we have, and per-piece priorities (0 = skip, 1–3 low,
//!   4 normal, 5–7 high; see [`PRIORITY_NORMAL`]) and sequential mode;
//! * every connected peer's bitfield, fed by [`PiecePicker::peer_bitfield`],
//!   [`PiecePicker::peer_have`], [`PiecePicker::peer_have_all`] and
//!   [`PiecePicker::peer_have_none`]. Keeping them here (rather than trusting
//!   the caller to report deltas) means a hostile peer repeating `have`
//!   messages cannot skew availability, and `on_peer_gone` always subtracts
//!   exactly what was added;
//! * the state of every block of every piece being downloaded: free,
//!   requested (by up to [`PickerConfig::max_requests_per_block`] peers), or
//!   received (and from whom, for smart-ban).
//!
//! # Picking order
//!
//! [`PiecePicker::pick_blocks`] returns up to `max` blocks for a peer:
//!
//! 1. free blocks of pieces already in progress that the peer has — first
//!    those the peer itself is already working on, then the others, rarest
//!    first — so partial pieces are completed before new ones are started;
//! 2. blocks of new pieces the peer has: high-priority pieces first, in
//!    index order; then, in sequential mode, the lowest-numbered wanted
//!    pieces; otherwise at random while we have fewer than
//!    [`PickerConfig::initial_random_pieces`] complete pieces (so we quickly
//!    have something to trade), rarest first afterwards, ties broken at
//!    random, normal pieces before low-priority ones;
//! 3. in *endgame* (every available missing piece is in progress and the peer
//!    found no free block), blocks already requested from other peers,
//!    bounded by [`PickerConfig::max_requests_per_block`] in flight per block.
//!    When one copy arrives [`BlockOutcome::cancel`] lists the other peers to
//!    send `cancel` to.
//!
//! # Data structure
//!
//! Pieces that could be started (wanted, not in progress) are kept in one
//! array sorted by availability, split into buckets of equal availability
//! (libtorrent's piece-priority boundaries). An availability change moves a piece one
//! bucket by swapping it with the bucket's edge element — O(1) — and then
//! with a random element of its new bucket, which keeps ties in random
//! order. Picking walks an array from the rarest bucket that the peer can
//! possibly have and stops as soon as it has enough pieces, so the common
//! case (a peer with most pieces) costs O(1) per piece; pieces nobody has
//! are skipped in O(1). Peers with every piece ("seeds") are counted once in
//! a separate counter, so `have_all` is O(1) and a seed's departure does not
//! reorder anything. Pieces in progress with a free block ("open") are kept
//! in a separate, smaller order by availability.
//!
//! The pieces in progress are indexed per peer (the pieces it requested or
//! sent blocks of, and which of those are open), so a pick, a block, a
//! timeout or a departure costs time in proportion to what that peer is
//! doing, not to the number of pieces in progress.
//!
//! # Modules
//!
//! * `geometry` — piece and block sizes, request validation;
//! * `availability` — the rarest-first orders (bucketed for pieces to
//!   start, a sorted set for open partial pieces);
//! * `inflight` — pieces in progress, their blocks, the per-peer index;
//! * `peers` — peers' pieces and the availability counts they add up to;
//! * `policy` — the picking order above;
//! * `lifecycle` — what happens to a request: answered, rejected, timed
//!   out, cancelled; a piece verified or failed.

mod availability;
mod geometry;
mod inflight;
mod lifecycle;
mod peers;
mod policy;

#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod tests;

use crate::fixed_hash::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use thiserror::Error;

use crate::bitfield::{Bitfield, BitfieldError};
use crate::PeerKey;
use availability::{BucketOrder, OpenOrder};
use geometry::Geometry;
use inflight::InFlight;
use peers::PeerEntry;

pub use geometry::{BlockRequest, BLOCK_SIZE};

/// Piece priority: do not download.
pub const PRIORITY_SKIP: u8 = 0;
/// Piece priority: low (1–3 alike): started only when no normal or high
/// piece the peer has can be.
pub const PRIORITY_LOW: u8 = 1;
/// Piece priority: normal, the default.
pub const PRIORITY_NORMAL: u8 = 4;
/// Piece priority: high (5–7 alike): started before any other, in index
/// order.
pub const PRIORITY_HIGH: u8 = 7;

/// Maximum supported value of [`PickerConfig::max_requests_per_block`].
pub const MAX_REQUESTS_PER_BLOCK: u8 = 3;

/// Errors of the [`PiecePicker`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PickerError {
    /// The piece count, piece length and total length are inconsistent.
    #[error("invalid torrent geometry: {0}")]
    InvalidGeometry(&'static str),
    /// A piece index is not smaller than the piece count (e.g. a peer's
    /// `have` message).
    #[error("piece index {index} out of range ({count} pieces)")]
    PieceOutOfRange {
        /// The offending index.
        index: u32,
        /// The number of pieces.
        count: u32,
    },
    /// A peer bitfield is malformed or has the wrong length.
    #[error(transparent)]
    Bitfield(#[from] BitfieldError),
}

/// Tunables of the [`PiecePicker`].
#[derive(Debug, Clone)]
pub struct PickerConfig {
    /// Seed of the picker's RNG (tie-breaking, initial random pieces). A
    /// session should pass a random value so that different clients do not
    /// all pick in the same order.
    pub seed: u64,
    /// Pick new pieces at random (instead of rarest first) while we have
    /// fewer than this many complete pieces.
    pub initial_random_pieces: u32,
    /// In endgame, at most this many peers may have the same block requested
    /// at once (clamped to `1..=`[`MAX_REQUESTS_PER_BLOCK`]; 1 disables
    /// endgame duplicates).
    pub max_requests_per_block: u8,
}

impl Default for PickerConfig {
    fn default() -> Self {
        PickerConfig {
            seed: 0,
            initial_random_pieces: 4,
            max_requests_per_block: 2,
        }
    }
}

/// How a received block was classified by [`PiecePicker::on_block_received`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockStatus {
    /// We had requested this block from this peer: store it.
    Expected,
    /// The piece is in progress and the block is still missing, but it was
    /// not (or no longer, e.g. after a timeout) requested from this peer:
    /// stored anyway. Many of these from one peer are suspicious.
    Unrequested,
    /// The block had already been received (endgame race, or a late answer):
    /// discard the data.
    Duplicate,
    /// We have the piece or are not downloading it: discard the data.
    NotWanted,
    /// No such block in this torrent (bad index, offset or length): a
    /// protocol violation.
    Invalid,
}

/// Result of [`PiecePicker::on_block_received`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// Classification of the block.
    pub status: BlockStatus,
    /// Every block of the piece has now been received: the caller should
    /// hash it and report [`PiecePicker::on_piece_verified`] or
    /// [`PiecePicker::on_piece_failed`].
    pub piece_complete: bool,
    /// Other peers that had the same block requested (endgame): send them a
    /// `cancel`. Their requests are already forgotten by the picker.
    pub cancel: Vec<PeerKey>,
}

impl BlockOutcome {
    fn simple(status: BlockStatus) -> Self {
        BlockOutcome {
            status,
            piece_complete: false,
            cancel: Vec::new(),
        }
    }

    /// Whether the data should be written to storage.
    pub fn should_store(&self) -> bool {
        matches!(
            self.status,
            BlockStatus::Expected | BlockStatus::Unrequested
        )
    }
}

/// Which peer sent each block of a piece, as returned by
/// [`PiecePicker::on_piece_verified`] and [`PiecePicker::on_piece_failed`] for
/// smart-ban.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PieceContributors {
    /// The piece.
    pub piece: u32,
    /// Sender of each block, by block index (`None` if the block had not been
    /// received or the piece was not being downloaded).
    pub blocks: Vec<Option<PeerKey>>,
}

impl PieceContributors {
    /// The distinct peers that sent at least one block, sorted.
    pub fn peers(&self) -> Vec<PeerKey> {
        let mut v: Vec<PeerKey> = self.blocks.iter().flatten().copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The piece picker of one torrent; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct PiecePicker {
    geo: Geometry,
    config: PickerConfig,
    rng: StdRng,

    have: Bitfield,
    /// Not have, and priority > 0.
    wanted: Bitfield,
    priority: Vec<u8>,
    /// Per-piece number of non-seed peers having the piece.
    count: Vec<u32>,
    /// Number of peers having every piece.
    seeds: u32,

    /// Pieces that could be started (wanted, not in progress), key
    /// 1 + `count`; 0 for the others.
    fresh: BucketOrder,
    /// Pieces in progress with a free block, by `count`.
    open: OpenOrder,

    inflight: InFlight,
    peers: HashMap<PeerKey, PeerEntry>,

    /// Wanted pieces of high priority, started first in index order.
    high: std::collections::BTreeSet<u32>,
    /// Pieces of low priority (had or not).
    low_count: u32,
    /// Start new pieces in index order rather than rarest first.
    sequential: bool,
    /// No wanted piece lies below this index (sequential mode's cursor).
    seq_from: u32,
}

impl PiecePicker {
    /// A picker for a torrent of `piece_count` pieces of `piece_length`
    /// bytes (the last one possibly shorter) totalling `total_length` bytes,
    /// with no piece and no peer yet.
    pub fn new(
        piece_count: u32,
        piece_length: u32,
        total_length: u64,
        config: PickerConfig,
    ) -> Result<Self, PickerError> {
        let geo = Geometry::new(piece_count, piece_length, total_length)?;
        let len = piece_count as usize;
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut order: Vec<u32> = (0..piece_count).collect();
        order.shuffle(&mut rng);
        let mut config = config;
        config.max_requests_per_block = config
            .max_requests_per_block
            .clamp(1, MAX_REQUESTS_PER_BLOCK);
        let inflight = InFlight::new(len, config.max_requests_per_block);
        Ok(PiecePicker {
            geo,
            config,
            rng,
            have: Bitfield::new(len),
            wanted: Bitfield::full(len),
            priority: vec![PRIORITY_NORMAL; len],
            count: vec![0; len],
            seeds: 0,
            fresh: BucketOrder::with_key_one(order),
            open: OpenOrder::default(),
            inflight,
            peers: HashMap::default(),
            high: Default::default(),
            low_count: 0,
            sequential: false,
            seq_from: 0,
        })
    }

    // ----------------------------------------------------------------------
    // Geometry

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.geo.piece_count
    }

    /// Nominal piece length.
    pub fn piece_length(&self) -> u32 {
        self.geo.piece_length
    }

    /// Total length of the torrent in bytes.
    pub fn total_length(&self) -> u64 {
        self.geo.total_length
    }

    /// Length of piece `index` (0 if out of range).
    pub fn piece_size(&self, index: u32) -> u32 {
        self.geo.piece_size(index)
    }

    /// Number of blocks of piece `index` (0 if out of range).
    pub fn blocks_in_piece(&self, index: u32) -> u32 {
        self.geo.blocks_in_piece(index)
    }

    /// The request for block `block` of piece `piece`, if it exists.
    pub fn block_request(&self, piece: u32, block: u32) -> Option<BlockRequest> {
        self.geo.block_request(piece, block)
    }

    // ----------------------------------------------------------------------
    // Our pieces

    /// The pieces we have.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Number of pieces we have.
    pub fn num_have(&self) -> u32 {
        self.have.count_ones() as u32
    }

    /// Whether we have piece `index`.
    pub fn has_piece(&self, index: u32) -> bool {
        self.have.get(index as usize)
    }

    /// True when we have every piece whose priority is not 0.
    pub fn is_finished(&self) -> bool {
        self.wanted.none()
    }

    /// True when we have every piece.
    pub fn is_seed(&self) -> bool {
        self.have.is_complete()
    }

    /// Number of pieces currently in progress (some block requested or
    /// received, not yet verified).
    pub fn num_downloading(&self) -> usize {
        self.inflight.len()
    }

    /// Marks a piece as had without downloading it (resume data, pieces
    /// verified at startup). Outstanding requests for it are forgotten.
    pub fn mark_have(&mut self, index: u32) -> Result<(), PickerError> {
        self.geo.check_index(index)?;
        if self.have.get(index as usize) {
            return Ok(());
        }
        self.inflight.remove(index);
        let _ = self.have.set(index as usize, true);
        self.refresh_wanted(index);
        Ok(())
    }

    /// Sets the priority of a piece: [`PRIORITY_SKIP`] (0) means "do not
    /// download", 1–3 low, [`PRIORITY_NORMAL`] (4) normal, 5–7 high (see
    /// the picking order). Pieces already in progress are finished
    /// regardless.
    pub fn set_piece_priority(&mut self, index: u32, priority: u8) -> Result<(), PickerError> {
        self.geo.check_index(index)?;
        let is_low = |p: u8| p > PRIORITY_SKIP && p < PRIORITY_NORMAL;
        let old = self.priority[index as usize];
        if is_low(old) && !is_low(priority) {
            self.low_count -= 1;
        } else if !is_low(old) && is_low(priority) {
            self.low_count += 1;
        }
        self.priority[index as usize] = priority;
        self.refresh_wanted(index);
        Ok(())
    }

    /// Priority of piece `index` (0 if out of range).
    pub fn piece_priority(&self, index: u32) -> u8 {
        self.priority.get(index as usize).copied().unwrap_or(0)
    }

    /// Start new pieces in index order (for streaming) instead of rarest
    /// first; high-priority pieces still go first.
    pub fn set_sequential(&mut self, on: bool) {
        self.sequential = on;
        self.seq_from = 0;
    }

    /// Whether new pieces are started in index order.
    pub fn is_sequential(&self) -> bool {
        self.sequential
    }

    /// Recomputes `wanted` for a piece, interest counts and its place in
    /// the orders. O(peers) when `wanted` changes.
    fn refresh_wanted(&mut self, index: u32) {
        let i = index as usize;
        let w = !self.have.get(i) && self.priority[i] > 0;
        if w && self.priority[i] > PRIORITY_NORMAL {
            self.high.insert(index);
        } else {
            self.high.remove(&index);
        }
        if w {
            self.seq_from = self.seq_from.min(index);
        }
        if self.wanted.get(i) != w {
            let _ = self.wanted.set(i, w);
            for e in self.peers.values_mut() {
                if e.bitfield.get(i) {
                    if w {
                        e.interesting += 1;
                    } else {
                        e.interesting = e.interesting.saturating_sub(1);
                    }
                }
            }
        }
        self.reorder(index);
    }

    // ----------------------------------------------------------------------
    // Availability ordering

    /// Moves piece `p` to its bucket in both orders, after a change of its
    /// availability, of `wanted` or of its in-progress state.
    fn reorder(&mut self, p: u32) {
        let count = self.count[p as usize];
        let fresh = if self.wanted.get(p as usize) && !self.inflight.is_downloading(p) {
            count + 1
        } else {
            0
        };
        self.fresh.set_key(p, fresh, &mut self.rng);
        let open = self.inflight.is_open(p).then_some(count);
        self.open.set(p, open, &mut self.rng);
    }

    /// Whether piece `index` has blocks requested or received but is not
    /// yet verified.
    pub fn is_downloading(&self, index: u32) -> bool {
        index < self.piece_count() && self.inflight.is_downloading(index)
    }

    /// Number of peers known to have piece `index` (0 if out of range).
    pub fn availability(&self, index: u32) -> u32 {
        match self.count.get(index as usize) {
            Some(&c) => c + self.seeds,
            None => 0,
        }
    }

    /// Checks every internal invariant; panics on violation. For tests.
    #[cfg(test)]
    fn check_invariants(&self) {
        let n = self.geo.piece_count as usize;
        // Orders.
        self.fresh.check(|p| {
            if self.wanted.get(p as usize) && !self.inflight.is_downloading(p) {
                self.count[p as usize] + 1
            } else {
                0
            }
        });
        self.open.check(self.geo.piece_count, |p| {
            self.inflight.is_open(p).then_some(self.count[p as usize])
        });
        // Availability.
        let mut count = vec![0u32; n];
        let mut seeds = 0;
        for e in self.peers.values() {
            assert_eq!(e.seed, e.bitfield.is_complete());
            assert_eq!(
                e.interesting as usize,
                e.bitfield.count_and(&self.wanted).unwrap()
            );
            if e.seed {
                seeds += 1;
            } else {
                for i in e.bitfield.iter_ones() {
                    count[i] += 1;
                }
            }
        }
        assert_eq!(count, self.count);
        assert_eq!(seeds, self.seeds);
        // Pieces in progress and the per-peer index.
        self.inflight.check(self.config.max_requests_per_block);
        for p in 0..self.geo.piece_count {
            if self.inflight.is_downloading(p) {
                assert!(!self.have.get(p as usize));
            }
        }
        for k in self.inflight.indexed_peers() {
            assert!(self.peers.contains_key(&k), "index entry of unknown {k:?}");
        }
    }
}
