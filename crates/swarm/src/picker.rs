//! Block picking for one torrent: which blocks to request from which peer.
//!
//! The [`PiecePicker`] owns everything the decision depends on:
//!
//! * the torrent geometry (piece count, piece length, total length; the last
//!   piece may be shorter, blocks are [`BLOCK_SIZE`] bytes except the last of
//!   each piece);
//! * which pieces we have, and per-piece priorities (0 = skip);
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
//!    those the peer itself is already working on, then the others — so
//!    partial pieces are completed before new ones are started;
//! 2. blocks of new pieces the peer has: at random while we have fewer than
//!    [`PickerConfig::initial_random_pieces`] complete pieces (so we quickly
//!    have something to trade), rarest first afterwards, ties broken at
//!    random;
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
//! (libtorrent's piece-priority boundaries). An availability change moves a
//! piece one bucket by swapping it with the bucket's edge element — O(1) — and
//! then with a random element of its new bucket, which keeps ties in random
//! order. Picking walks the array from the rarest bucket that the peer can
//! possibly have and stops as soon as it has enough pieces, so the common case
//! (a peer with most pieces) costs O(1) per piece; pieces nobody has are
//! skipped in O(1). Peers with every piece ("seeds") are counted once in a
//! separate counter, so `have_all` is O(1) and a seed's departure does not
//! reorder anything.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use thiserror::Error;

use crate::bitfield::{Bitfield, BitfieldError};
use crate::PeerKey;

/// Size of a block (request unit), 16 KiB, the de facto standard.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// Maximum supported value of [`PickerConfig::max_requests_per_block`].
pub const MAX_REQUESTS_PER_BLOCK: u8 = 3;

const NONE: u32 = u32::MAX;

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

/// One block request: the payload of a BEP 3 `request`, `cancel` or (minus
/// the data) `piece` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRequest {
    /// Piece index.
    pub piece: u32,
    /// Byte offset within the piece (a multiple of [`BLOCK_SIZE`]).
    pub begin: u32,
    /// Length in bytes ([`BLOCK_SIZE`], or less for the last block of a
    /// piece).
    pub length: u32,
}

impl BlockRequest {
    /// Index of the block within its piece.
    pub fn block_index(&self) -> u32 {
        self.begin / BLOCK_SIZE
    }
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

/// State of one block of a piece in progress.
#[derive(Debug, Clone, Copy)]
struct Block {
    /// Who sent it, once received.
    received: Option<PeerKey>,
    /// Peers it is currently requested from (first `nreq` entries).
    reqs: [PeerKey; MAX_REQUESTS_PER_BLOCK as usize],
    nreq: u8,
}

impl Block {
    const FREE: Block = Block {
        received: None,
        reqs: [PeerKey(0); MAX_REQUESTS_PER_BLOCK as usize],
        nreq: 0,
    };

    fn requesters(&self) -> &[PeerKey] {
        &self.reqs[..self.nreq as usize]
    }

    fn is_free(&self) -> bool {
        self.received.is_none() && self.nreq == 0
    }

    /// Removes `peer` from the requesters; true if it was one.
    fn remove_requester(&mut self, peer: PeerKey) -> bool {
        let n = self.nreq as usize;
        match self.reqs[..n].iter().position(|&p| p == peer) {
            Some(i) => {
                self.reqs.copy_within(i + 1..n, i);
                self.nreq -= 1;
                true
            }
            None => false,
        }
    }
}

/// A piece with at least one block requested or received.
#[derive(Debug, Clone)]
struct Downloading {
    piece: u32,
    blocks: Vec<Block>,
    /// Blocks neither requested nor received.
    free: u32,
    /// Blocks requested and not received.
    requested: u32,
    /// Blocks received.
    received: u32,
    /// Peers that requested or sent blocks of this piece (preference for
    /// phase 1 of picking, and quick release on peer departure).
    peers: Vec<PeerKey>,
}

/// What the picker knows about one peer.
#[derive(Debug, Clone)]
struct PeerEntry {
    bitfield: Bitfield,
    /// Counted in `PiecePicker::seeds` rather than per piece; equivalent to
    /// the bitfield being complete.
    seed: bool,
    /// Number of pieces the peer has that we want.
    interesting: u32,
    /// Number of blocks currently requested from the peer.
    requests: u32,
}

impl PeerEntry {
    fn empty(pieces: usize) -> Self {
        PeerEntry {
            bitfield: Bitfield::new(pieces),
            seed: false,
            interesting: 0,
            requests: 0,
        }
    }
}

/// The piece picker of one torrent; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct PiecePicker {
    piece_count: u32,
    piece_length: u32,
    total_length: u64,
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

    /// All pieces, sorted by bucket key.
    order: Vec<u32>,
    /// Position of each piece in `order`.
    pos: Vec<u32>,
    /// Bucket key of each piece: 0 = not startable (have, unwanted or in
    /// progress), otherwise 1 + `count`.
    key: Vec<u32>,
    /// Start index in `order` of each bucket key.
    bounds: Vec<u32>,

    downloading: Vec<Downloading>,
    /// Index into `downloading` of each piece, or `NONE`.
    slot: Vec<u32>,

    peers: HashMap<PeerKey, PeerEntry>,
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
        if piece_count == 0 || piece_count == NONE {
            return Err(PickerError::InvalidGeometry("piece count"));
        }
        if piece_length == 0 {
            return Err(PickerError::InvalidGeometry("zero piece length"));
        }
        let plen = u64::from(piece_length);
        let n = u64::from(piece_count);
        if total_length <= (n - 1) * plen || total_length > n * plen {
            return Err(PickerError::InvalidGeometry(
                "total length does not match piece count and length",
            ));
        }
        let len = piece_count as usize;
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut order: Vec<u32> = (0..piece_count).collect();
        order.shuffle(&mut rng);
        let mut pos = vec![0u32; len];
        for (i, &p) in order.iter().enumerate() {
            pos[p as usize] = i as u32;
        }
        let mut config = config;
        config.max_requests_per_block = config
            .max_requests_per_block
            .clamp(1, MAX_REQUESTS_PER_BLOCK);
        Ok(PiecePicker {
            piece_count,
            piece_length,
            total_length,
            config,
            rng,
            have: Bitfield::new(len),
            wanted: Bitfield::full(len),
            priority: vec![1; len],
            count: vec![0; len],
            seeds: 0,
            order,
            pos,
            key: vec![1; len],
            bounds: vec![0, 0],
            downloading: Vec::new(),
            slot: vec![NONE; len],
            peers: HashMap::new(),
        })
    }

    // ----------------------------------------------------------------------
    // Geometry

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// Nominal piece length.
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Total length of the torrent in bytes.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Length of piece `index` (0 if out of range).
    pub fn piece_size(&self, index: u32) -> u32 {
        if index >= self.piece_count {
            return 0;
        }
        if index + 1 == self.piece_count {
            let before = u64::from(self.piece_count - 1) * u64::from(self.piece_length);
            // Validated in `new`: 0 < total - before <= piece_length.
            (self.total_length - before) as u32
        } else {
            self.piece_length
        }
    }

    /// Number of blocks of piece `index` (0 if out of range).
    pub fn blocks_in_piece(&self, index: u32) -> u32 {
        self.piece_size(index).div_ceil(BLOCK_SIZE)
    }

    /// The request for block `block` of piece `piece`, if it exists.
    pub fn block_request(&self, piece: u32, block: u32) -> Option<BlockRequest> {
        let size = self.piece_size(piece);
        let begin = block.checked_mul(BLOCK_SIZE)?;
        if begin >= size {
            return None;
        }
        Some(BlockRequest {
            piece,
            begin,
            length: (size - begin).min(BLOCK_SIZE),
        })
    }

    /// Block index of `r` if it is exactly one block of this torrent.
    fn validate(&self, r: &BlockRequest) -> Option<u32> {
        if r.begin & (BLOCK_SIZE - 1) != 0 {
            return None;
        }
        let b = r.block_index();
        (self.block_request(r.piece, b)? == *r).then_some(b)
    }

    fn check_index(&self, index: u32) -> Result<(), PickerError> {
        if index >= self.piece_count {
            return Err(PickerError::PieceOutOfRange {
                index,
                count: self.piece_count,
            });
        }
        Ok(())
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
        self.downloading.len()
    }

    /// Marks a piece as had without downloading it (resume data, pieces
    /// verified at startup). Outstanding requests for it are forgotten.
    pub fn mark_have(&mut self, index: u32) -> Result<(), PickerError> {
        self.check_index(index)?;
        if self.have.get(index as usize) {
            return Ok(());
        }
        if self.slot[index as usize] != NONE {
            self.drop_download(index);
        }
        let _ = self.have.set(index as usize, true);
        self.refresh_wanted(index);
        Ok(())
    }

    /// Sets the priority of a piece: 0 means "do not download"; every other
    /// value currently means "normal". Pieces already in progress are
    /// finished regardless.
    pub fn set_piece_priority(&mut self, index: u32, priority: u8) -> Result<(), PickerError> {
        self.check_index(index)?;
        self.priority[index as usize] = priority;
        self.refresh_wanted(index);
        Ok(())
    }

    /// Priority of piece `index` (0 if out of range).
    pub fn piece_priority(&self, index: u32) -> u8 {
        self.priority.get(index as usize).copied().unwrap_or(0)
    }

    /// Recomputes `wanted` for a piece, interest counts and its bucket.
    fn refresh_wanted(&mut self, index: u32) {
        let i = index as usize;
        let w = !self.have.get(i) && self.priority[i] > 0;
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
        self.update_key(index);
    }

    // ----------------------------------------------------------------------
    // Availability ordering

    fn desired_key(&self, p: u32) -> u32 {
        let i = p as usize;
        if !self.wanted.get(i) || self.slot[i] != NONE {
            0
        } else {
            self.count[i] + 1
        }
    }

    fn bucket_end(&self, k: u32) -> u32 {
        self.bounds
            .get(k as usize + 1)
            .copied()
            .unwrap_or(self.piece_count)
    }

    fn swap_positions(&mut self, a: u32, b: u32) {
        if a == b {
            return;
        }
        let (pa, pb) = (self.order[a as usize], self.order[b as usize]);
        self.order.swap(a as usize, b as usize);
        self.pos[pa as usize] = b;
        self.pos[pb as usize] = a;
    }

    /// Moves piece `p` to its desired bucket, one bucket at a time, then to a
    /// random position inside it.
    fn update_key(&mut self, p: u32) {
        let target = self.desired_key(p);
        let mut k = self.key[p as usize];
        if k == target {
            return;
        }
        while k < target {
            if k as usize + 1 == self.bounds.len() {
                self.bounds.push(self.piece_count);
            }
            let last = self.bounds[k as usize + 1] - 1;
            self.swap_positions(self.pos[p as usize], last);
            self.bounds[k as usize + 1] -= 1;
            k += 1;
        }
        while k > target {
            let first = self.bounds[k as usize];
            self.swap_positions(self.pos[p as usize], first);
            self.bounds[k as usize] += 1;
            k -= 1;
        }
        self.key[p as usize] = k;
        if k > 0 {
            let (lo, hi) = (self.bounds[k as usize], self.bucket_end(k));
            if hi - lo > 1 {
                let r = self.rng.gen_range(lo..hi);
                self.swap_positions(self.pos[p as usize], r);
            }
        }
    }

    fn inc_count(&mut self, p: u32) {
        self.count[p as usize] += 1;
        self.update_key(p);
    }

    fn dec_count(&mut self, p: u32) {
        let c = &mut self.count[p as usize];
        if *c > 0 {
            *c -= 1;
            self.update_key(p);
        }
    }

    /// Number of peers known to have piece `index` (0 if out of range).
    pub fn availability(&self, index: u32) -> u32 {
        match self.count.get(index as usize) {
            Some(&c) => c + self.seeds,
            None => 0,
        }
    }

    // ----------------------------------------------------------------------
    // Peers

    /// Registers a peer that has no piece (yet). Other peer methods register
    /// unknown peers implicitly.
    pub fn add_peer(&mut self, peer: PeerKey) {
        let len = self.piece_count as usize;
        self.peers
            .entry(peer)
            .or_insert_with(|| PeerEntry::empty(len));
    }

    /// Number of registered peers.
    pub fn num_peers(&self) -> usize {
        self.peers.len()
    }

    /// The pieces `peer` has, if it is registered.
    pub fn peer_pieces(&self, peer: PeerKey) -> Option<&Bitfield> {
        self.peers.get(&peer).map(|e| &e.bitfield)
    }

    /// Whether `peer` has a piece we want (we should be interested in it).
    pub fn is_interesting(&self, peer: PeerKey) -> bool {
        self.peers.get(&peer).is_some_and(|e| e.interesting > 0)
    }

    /// Number of blocks currently requested from `peer`.
    pub fn outstanding_requests(&self, peer: PeerKey) -> usize {
        self.peers.get(&peer).map_or(0, |e| e.requests as usize)
    }

    /// Removes a peer's pieces from the availability counts (keeps the entry).
    fn remove_availability(&mut self, peer: PeerKey) {
        let Some(e) = self.peers.get_mut(&peer) else {
            return;
        };
        let bf = std::mem::replace(&mut e.bitfield, Bitfield::new(self.piece_count as usize));
        let was_seed = std::mem::replace(&mut e.seed, false);
        e.interesting = 0;
        if was_seed {
            self.seeds = self.seeds.saturating_sub(1);
        } else {
            for i in bf.iter_ones() {
                self.dec_count(i as u32);
            }
        }
    }

    /// Sets the peer's pieces (BEP 3 `bitfield` message, parse it with
    /// [`Bitfield::from_bytes`]). Replaces anything known about the peer's
    /// pieces so far.
    pub fn peer_bitfield(&mut self, peer: PeerKey, bitfield: Bitfield) -> Result<(), PickerError> {
        if bitfield.len() != self.piece_count as usize {
            return Err(
                BitfieldError::LengthMismatch(bitfield.len(), self.piece_count as usize).into(),
            );
        }
        self.add_peer(peer);
        self.remove_availability(peer);
        let interesting = bitfield.count_and(&self.wanted)? as u32;
        let seed = bitfield.is_complete();
        if seed {
            self.seeds += 1;
        } else {
            for i in bitfield.iter_ones() {
                self.inc_count(i as u32);
            }
        }
        if let Some(e) = self.peers.get_mut(&peer) {
            e.bitfield = bitfield;
            e.seed = seed;
            e.interesting = interesting;
        }
        Ok(())
    }

    /// The peer has every piece (BEP 6 `have all`). O(1) for availability.
    pub fn peer_have_all(&mut self, peer: PeerKey) {
        self.add_peer(peer);
        self.remove_availability(peer);
        self.seeds += 1;
        let interesting = self.wanted.count_ones() as u32;
        if let Some(e) = self.peers.get_mut(&peer) {
            e.bitfield.set_all();
            e.seed = true;
            e.interesting = interesting;
        }
    }

    /// The peer has no piece (BEP 6 `have none`).
    pub fn peer_have_none(&mut self, peer: PeerKey) {
        self.add_peer(peer);
        self.remove_availability(peer);
    }

    /// The peer announced piece `index` (`have` message). Returns whether
    /// this was news (repeated announcements are ignored).
    pub fn peer_have(&mut self, peer: PeerKey, index: u32) -> Result<bool, PickerError> {
        self.check_index(index)?;
        let wanted = self.wanted.get(index as usize);
        let len = self.piece_count as usize;
        let e = self
            .peers
            .entry(peer)
            .or_insert_with(|| PeerEntry::empty(len));
        if e.bitfield.set(index as usize, true)? {
            return Ok(false);
        }
        if wanted {
            e.interesting += 1;
        }
        let complete = e.bitfield.is_complete();
        if complete {
            // Becomes a seed: move its contribution to the seed counter.
            e.seed = true;
            self.seeds += 1;
            for p in 0..self.piece_count {
                if p != index {
                    self.dec_count(p);
                }
            }
        } else {
            self.inc_count(index);
        }
        Ok(true)
    }

    /// Whether `peer` has piece `index`.
    pub fn peer_has(&self, peer: PeerKey, index: u32) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|e| e.bitfield.get(index as usize))
    }

    /// The peer disconnected: its requests are released so other peers can
    /// pick those blocks, and its pieces leave the availability counts. The
    /// record of blocks it already sent is kept (smart-ban).
    pub fn on_peer_gone(&mut self, peer: PeerKey) {
        self.release_peer_requests(peer);
        self.remove_availability(peer);
        self.peers.remove(&peer);
    }

    // ----------------------------------------------------------------------
    // Picking

    /// True in *endgame*: every missing wanted piece that some connected peer
    /// has is in progress. A peer that then finds no free block to take is
    /// given blocks already requested from others (bounded per block).
    pub fn in_endgame(&self) -> bool {
        let lo = if self.seeds > 0 {
            self.bounds[1]
        } else {
            self.bucket_end(1)
        };
        lo >= self.piece_count && !self.is_finished()
    }

    /// Picks up to `max` blocks to request from `peer` and records them as
    /// requested from it. Returns nothing for an unknown peer.
    pub fn pick_blocks(&mut self, peer: PeerKey, max: usize) -> Vec<BlockRequest> {
        let mut out = Vec::new();
        self.pick_blocks_into(peer, max, &mut out);
        out
    }

    /// Like [`PiecePicker::pick_blocks`], appending to `out` (allocation
    /// free when `out` has capacity). Returns the number of blocks added.
    pub fn pick_blocks_into(
        &mut self,
        peer: PeerKey,
        max: usize,
        out: &mut Vec<BlockRequest>,
    ) -> usize {
        if max == 0 {
            return 0;
        }
        let Some(e) = self.peers.get_mut(&peer) else {
            return 0;
        };
        // Borrow the bitfield out of the map for the duration of the pick.
        let bf = std::mem::replace(&mut e.bitfield, Bitfield::new(0));
        let is_seed = e.seed;
        // A peer without any wanted piece cannot have a startable one: skip
        // the scan (pieces in progress may still need it if their priority
        // was set to 0 meanwhile).
        let interesting = e.interesting > 0;
        let start = out.len();

        self.pick_partial(peer, &bf, max, out);
        if out.len() - start < max && interesting {
            self.pick_new(peer, &bf, is_seed, start + max, out);
        }
        if out.len() - start < max && self.in_endgame() {
            self.pick_busy(peer, &bf, start + max, out);
        }

        let added = out.len() - start;
        if let Some(e) = self.peers.get_mut(&peer) {
            e.bitfield = bf;
            e.requests += added as u32;
        }
        added
    }

    /// Up to `max` blocks for `peer` from `pieces` only (BEP 6 allowed-fast
    /// pieces, which the peer serves even while it chokes us): free blocks
    /// of those in progress, then those not started yet, in the given
    /// order. No endgame duplicates. Returns the number of blocks added.
    pub fn pick_blocks_among(
        &mut self,
        peer: PeerKey,
        pieces: &[u32],
        max: usize,
        out: &mut Vec<BlockRequest>,
    ) -> usize {
        let Some(e) = self.peers.get(&peer) else {
            return 0;
        };
        if max == 0 || pieces.is_empty() {
            return 0;
        }
        let mut bf = Bitfield::new(self.piece_count as usize);
        for &p in pieces {
            if e.bitfield.get(p as usize) {
                let _ = bf.set(p as usize, true);
            }
        }
        let start = out.len();
        self.pick_partial(peer, &bf, max, out);
        for &p in pieces {
            if out.len() - start >= max {
                break;
            }
            let i = p as usize;
            if bf.get(i) && self.wanted.get(i) && self.slot[i] == NONE {
                let si = self.start_download(p);
                self.take_free_blocks(si, peer, start + max, out);
            }
        }
        let added = out.len() - start;
        if let Some(e) = self.peers.get_mut(&peer) {
            e.requests += added as u32;
        }
        added
    }

    /// Phase 1: free blocks of pieces in progress.
    fn pick_partial(
        &mut self,
        peer: PeerKey,
        bf: &Bitfield,
        max: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let limit = out.len() + max;
        for involved_pass in [true, false] {
            for si in 0..self.downloading.len() {
                if out.len() >= limit {
                    return;
                }
                let d = &self.downloading[si];
                if d.free == 0
                    || !bf.get(d.piece as usize)
                    || d.peers.contains(&peer) != involved_pass
                {
                    continue;
                }
                self.take_free_blocks(si, peer, limit, out);
            }
        }
    }

    /// Requests free blocks of `downloading[si]` from `peer` until `out`
    /// holds `limit` entries.
    fn take_free_blocks(
        &mut self,
        si: usize,
        peer: PeerKey,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let piece = self.downloading[si].piece;
        let size = self.piece_size(piece);
        let d = &mut self.downloading[si];
        for (b, blk) in d.blocks.iter_mut().enumerate() {
            if out.len() >= limit || d.free == 0 {
                break;
            }
            if !blk.is_free() {
                continue;
            }
            blk.reqs[0] = peer;
            blk.nreq = 1;
            d.free -= 1;
            d.requested += 1;
            let begin = b as u32 * BLOCK_SIZE;
            out.push(BlockRequest {
                piece,
                begin,
                length: (size - begin).min(BLOCK_SIZE),
            });
        }
        if !d.peers.contains(&peer) {
            d.peers.push(peer);
        }
    }

    /// Phase 2: start new pieces the peer has, rarest first (or random
    /// initially).
    fn pick_new(
        &mut self,
        peer: PeerKey,
        bf: &Bitfield,
        is_seed: bool,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let n = self.piece_count;
        // A non-seed peer can only have pieces with count >= 1 (key >= 2).
        let lo = if is_seed {
            self.bounds[1]
        } else {
            self.bucket_end(1)
        };
        if lo >= n {
            return;
        }
        let need = limit - out.len();
        // Random start while we have little to trade, else the rarest end.
        let start = if self.num_have() < self.config.initial_random_pieces {
            self.rng.gen_range(lo..n)
        } else {
            lo
        };
        let mut chosen: Vec<u32> = Vec::new();
        let mut blocks = 0usize;
        for i in (start..n).chain(lo..start) {
            let p = self.order[i as usize];
            if bf.get(p as usize) {
                chosen.push(p);
                blocks += self.blocks_in_piece(p) as usize;
                if blocks >= need {
                    break;
                }
            }
        }
        for p in chosen {
            let si = self.start_download(p);
            self.take_free_blocks(si, peer, limit, out);
        }
    }

    /// Creates the in-progress state of piece `p` and takes it out of the
    /// availability order. Returns its slot.
    fn start_download(&mut self, p: u32) -> usize {
        let nblocks = self.blocks_in_piece(p);
        let si = self.downloading.len();
        self.downloading.push(Downloading {
            piece: p,
            blocks: vec![Block::FREE; nblocks as usize],
            free: nblocks,
            requested: 0,
            received: 0,
            peers: Vec::new(),
        });
        self.slot[p as usize] = si as u32;
        self.update_key(p);
        si
    }

    /// Phase 3 (endgame): blocks already requested from other peers.
    fn pick_busy(
        &mut self,
        peer: PeerKey,
        bf: &Bitfield,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let max_req = self.config.max_requests_per_block;
        // Least-requested blocks first.
        for level in 1..max_req {
            for si in 0..self.downloading.len() {
                if out.len() >= limit {
                    return;
                }
                let piece = self.downloading[si].piece;
                if self.downloading[si].requested == 0 || !bf.get(piece as usize) {
                    continue;
                }
                let size = self.piece_size(piece);
                let d = &mut self.downloading[si];
                let mut any = false;
                for (b, blk) in d.blocks.iter_mut().enumerate() {
                    if out.len() >= limit {
                        break;
                    }
                    if blk.received.is_some()
                        || blk.nreq != level
                        || blk.requesters().contains(&peer)
                    {
                        continue;
                    }
                    blk.reqs[blk.nreq as usize] = peer;
                    blk.nreq += 1;
                    any = true;
                    let begin = b as u32 * BLOCK_SIZE;
                    out.push(BlockRequest {
                        piece,
                        begin,
                        length: (size - begin).min(BLOCK_SIZE),
                    });
                }
                if any && !d.peers.contains(&peer) {
                    d.peers.push(peer);
                }
            }
        }
    }

    // ----------------------------------------------------------------------
    // Request lifecycle

    /// A block arrived from `peer`. See [`BlockOutcome`].
    pub fn on_block_received(&mut self, peer: PeerKey, block: BlockRequest) -> BlockOutcome {
        let Some(b) = self.validate(&block) else {
            return BlockOutcome::simple(BlockStatus::Invalid);
        };
        let si = self.slot[block.piece as usize];
        if si == NONE {
            return BlockOutcome::simple(BlockStatus::NotWanted);
        }
        let d = &mut self.downloading[si as usize];
        let blk = &mut d.blocks[b as usize];
        let was_requested = blk.remove_requester(peer);
        let mut released = Vec::new();
        if was_requested {
            released.push(peer);
        }
        let outcome = if blk.received.is_some() {
            BlockOutcome::simple(BlockStatus::Duplicate)
        } else {
            let cancel: Vec<PeerKey> = blk.requesters().to_vec();
            released.extend_from_slice(&cancel);
            if was_requested || blk.nreq > 0 {
                d.requested -= 1;
            } else {
                d.free -= 1;
            }
            blk.nreq = 0;
            blk.received = Some(peer);
            d.received += 1;
            if !d.peers.contains(&peer) {
                d.peers.push(peer);
            }
            BlockOutcome {
                status: if was_requested {
                    BlockStatus::Expected
                } else {
                    BlockStatus::Unrequested
                },
                piece_complete: d.received as usize == d.blocks.len(),
                cancel,
            }
        };
        for p in released {
            if let Some(e) = self.peers.get_mut(&p) {
                e.requests = e.requests.saturating_sub(1);
            }
        }
        outcome
    }

    /// The peer rejected our request (BEP 6 `reject request`): the block is
    /// released for other peers. Returns whether it was outstanding.
    pub fn on_request_rejected(&mut self, peer: PeerKey, block: BlockRequest) -> bool {
        self.release_request(peer, block)
    }

    /// Our request to `peer` timed out: the block is released for other
    /// peers (if the peer still sends it, it is accepted as
    /// [`BlockStatus::Unrequested`] while missing). Returns whether it was
    /// outstanding.
    pub fn on_request_timeout(&mut self, peer: PeerKey, block: BlockRequest) -> bool {
        self.release_request(peer, block)
    }

    /// We cancelled our request to `peer` for `block`; same as a timeout.
    pub fn on_request_cancelled(&mut self, peer: PeerKey, block: BlockRequest) -> bool {
        self.release_request(peer, block)
    }

    fn release_request(&mut self, peer: PeerKey, block: BlockRequest) -> bool {
        let Some(b) = self.validate(&block) else {
            return false;
        };
        let si = self.slot[block.piece as usize];
        if si == NONE {
            return false;
        }
        let d = &mut self.downloading[si as usize];
        let blk = &mut d.blocks[b as usize];
        if !blk.remove_requester(peer) {
            return false;
        }
        if blk.nreq == 0 && blk.received.is_none() {
            d.requested -= 1;
            d.free += 1;
        }
        if let Some(e) = self.peers.get_mut(&peer) {
            e.requests = e.requests.saturating_sub(1);
        }
        self.maybe_abandon(si as usize);
        true
    }

    /// Releases every request outstanding to `peer` (e.g. it choked us
    /// without the fast extension). Returns the released blocks.
    pub fn release_peer_requests(&mut self, peer: PeerKey) -> Vec<BlockRequest> {
        let mut released = Vec::new();
        let mut touched = Vec::new();
        for si in 0..self.downloading.len() {
            let d = &mut self.downloading[si];
            let Some(pi) = d.peers.iter().position(|&p| p == peer) else {
                continue;
            };
            d.peers.swap_remove(pi);
            let piece = d.piece;
            for (b, blk) in d.blocks.iter_mut().enumerate() {
                if blk.remove_requester(peer) {
                    if blk.nreq == 0 && blk.received.is_none() {
                        d.requested -= 1;
                        d.free += 1;
                    }
                    released.push((piece, b as u32));
                }
            }
            touched.push(si);
        }
        // Abandon from the back so swap_remove does not move unvisited slots.
        for &si in touched.iter().rev() {
            self.maybe_abandon(si);
        }
        if let Some(e) = self.peers.get_mut(&peer) {
            e.requests = 0;
        }
        released
            .into_iter()
            .filter_map(|(p, b)| self.block_request(p, b))
            .collect()
    }

    /// Returns a piece with nothing requested and nothing received to the
    /// availability order.
    fn maybe_abandon(&mut self, si: usize) {
        let d = &self.downloading[si];
        if d.received == 0 && d.requested == 0 {
            let piece = d.piece;
            self.remove_download(si);
            self.update_key(piece);
        }
    }

    fn remove_download(&mut self, si: usize) -> Downloading {
        let d = self.downloading.swap_remove(si);
        self.slot[d.piece as usize] = NONE;
        if let Some(moved) = self.downloading.get(si) {
            self.slot[moved.piece as usize] = si as u32;
        }
        d
    }

    /// Removes a piece's download state, forgetting outstanding requests, and
    /// returns who sent each block.
    fn drop_download(&mut self, piece: u32) -> PieceContributors {
        let si = self.slot[piece as usize];
        if si == NONE {
            return PieceContributors {
                piece,
                blocks: vec![None; self.blocks_in_piece(piece) as usize],
            };
        }
        let d = self.remove_download(si as usize);
        for blk in &d.blocks {
            for p in blk.requesters() {
                if let Some(e) = self.peers.get_mut(p) {
                    e.requests = e.requests.saturating_sub(1);
                }
            }
        }
        PieceContributors {
            piece,
            blocks: d.blocks.iter().map(|b| b.received).collect(),
        }
    }

    /// The piece passed its hash check: we have it. Returns who sent each
    /// block (smart-ban uses it to clear suspicion).
    pub fn on_piece_verified(&mut self, index: u32) -> Result<PieceContributors, PickerError> {
        self.check_index(index)?;
        let contributors = self.drop_download(index);
        let _ = self.have.set(index as usize, true);
        self.refresh_wanted(index);
        Ok(contributors)
    }

    /// The piece failed its hash check: every block is reset for
    /// re-download, and who sent each block is returned so the caller can
    /// apply smart-ban.
    pub fn on_piece_failed(&mut self, index: u32) -> Result<PieceContributors, PickerError> {
        self.check_index(index)?;
        let contributors = self.drop_download(index);
        self.update_key(index);
        Ok(contributors)
    }

    /// Checks every internal invariant; panics on violation. For tests.
    #[cfg(test)]
    fn check_invariants(&self) {
        let n = self.piece_count as usize;
        // Ordering structure.
        for (i, &p) in self.order.iter().enumerate() {
            assert_eq!(self.pos[p as usize] as usize, i);
        }
        for p in 0..self.piece_count {
            let k = self.key[p as usize];
            assert_eq!(k, self.desired_key(p), "key of piece {p}");
            let at = self.pos[p as usize];
            assert!(self.bounds[k as usize] <= at && at < self.bucket_end(k));
        }
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
        // Downloads.
        let mut reqs: HashMap<PeerKey, u32> = HashMap::new();
        for (si, d) in self.downloading.iter().enumerate() {
            assert_eq!(self.slot[d.piece as usize] as usize, si);
            assert!(!self.have.get(d.piece as usize));
            let free = d.blocks.iter().filter(|b| b.is_free()).count();
            let received = d.blocks.iter().filter(|b| b.received.is_some()).count();
            let requested = d
                .blocks
                .iter()
                .filter(|b| b.received.is_none() && b.nreq > 0)
                .count();
            assert_eq!(
                (free, received, requested),
                (d.free as usize, d.received as usize, d.requested as usize)
            );
            assert!(d.received > 0 || d.requested > 0);
            for b in &d.blocks {
                assert!(b.received.is_none() || b.nreq == 0);
                assert!(b.nreq <= self.config.max_requests_per_block);
                for p in b.requesters() {
                    *reqs.entry(*p).or_default() += 1;
                    assert!(d.peers.contains(p));
                }
            }
        }
        assert_eq!(
            self.slot.iter().filter(|&&s| s != NONE).count(),
            self.downloading.len()
        );
        for (k, e) in &self.peers {
            assert_eq!(e.requests, reqs.get(k).copied().unwrap_or(0), "peer {k:?}");
        }
    }
}

#[cfg(test)]
mod tests {
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
                    let si = p.slot[r.piece as usize];
                    si != NONE && p.downloading[si as usize].blocks[r.block_index() as usize]
                        .requesters().contains(peer)
                });
                p.check_invariants();
                for (k, e) in &p.peers {
                    prop_assert_eq!(
                        e.requests as usize,
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
}
