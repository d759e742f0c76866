//! Picking policy: in which order a peer is given blocks (see the
//! [picker documentation](super) for the order itself).
//!
//! Finishing the peer's own partial pieces walks its entry in the per-peer
//! index; other partial pieces and new ones come from the rarest-first
//! orders, walked from the rarest bucket the peer can have; endgame
//! duplicates come from the set of pieces with a block that may take one
//! more requester. None of these scans every piece in progress.

use rand::Rng;

use super::geometry::BlockRequest;
use super::PiecePicker;
use crate::bitfield::Bitfield;
use crate::PeerKey;

impl PiecePicker {
    /// True in *endgame*: every missing wanted piece that some connected peer
    /// has is in progress. A peer that then finds no free block to take is
    /// given blocks already requested from others (bounded per block).
    pub fn in_endgame(&self) -> bool {
        let lo = if self.seeds > 0 {
            self.fresh.start(1)
        } else {
            self.fresh.start(2)
        };
        lo >= self.geo.piece_count && !self.is_finished()
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
        let limit = start + max;

        self.pick_own_partial(peer, &bf, limit, out);
        if out.len() < limit {
            self.pick_other_partial(peer, &bf, is_seed, limit, out);
        }
        if out.len() < limit && interesting {
            self.pick_new(peer, &bf, is_seed, limit, out);
        }
        if out.len() < limit && self.in_endgame() {
            self.pick_busy(peer, &bf, limit, out);
        }

        if let Some(e) = self.peers.get_mut(&peer) {
            e.bitfield = bf;
        }
        out.len() - start
    }

    /// Up to `max` blocks for `peer` from `pieces` only (BEP 6 allowed-fast
    /// pieces, which the peer serves even while it chokes us): free blocks
    /// of those in progress (the peer's own first), then those not started
    /// yet, in the given order. No endgame duplicates. Returns the number of
    /// blocks added. Costs time in proportion to `pieces`.
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
        let theirs: Vec<u32> = pieces
            .iter()
            .copied()
            .filter(|&p| e.bitfield.get(p as usize))
            .collect();
        let start = out.len();
        let limit = start + max;
        for own in [true, false] {
            for &p in &theirs {
                if out.len() >= limit {
                    break;
                }
                if self.inflight.is_open(p) && self.inflight.is_involved(p, peer) == own {
                    self.take_free(p, peer, limit, out);
                }
            }
        }
        for &p in &theirs {
            if out.len() >= limit {
                break;
            }
            if self.wanted.get(p as usize) && !self.inflight.is_downloading(p) {
                self.start_and_take(p, peer, limit, out);
            }
        }
        out.len() - start
    }

    /// Requests free blocks of `piece` (in progress) from `peer` until `out`
    /// holds `limit` entries.
    fn take_free(&mut self, piece: u32, peer: PeerKey, limit: usize, out: &mut Vec<BlockRequest>) {
        let size = self.geo.piece_size(piece);
        if self.inflight.take_free(piece, size, peer, limit, out) > 0 {
            self.reorder(piece);
        }
    }

    /// Starts `piece` and requests its first blocks from `peer`.
    fn start_and_take(
        &mut self,
        piece: u32,
        peer: PeerKey,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let size = self.geo.piece_size(piece);
        self.inflight.start(piece, self.geo.blocks_in_piece(piece));
        self.inflight.take_free(piece, size, peer, limit, out);
        self.reorder(piece);
    }

    /// Phase 1a: free blocks of partial pieces the peer is involved in.
    fn pick_own_partial(
        &mut self,
        peer: PeerKey,
        bf: &Bitfield,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let mut from = 0;
        while out.len() < limit {
            let Some(p) = self.inflight.own_open_from(peer, from) else {
                return;
            };
            // p < piece_count < u32::MAX
            from = p + 1;
            if bf.get(p as usize) {
                self.take_free(p, peer, limit, out);
            }
        }
    }

    /// Phase 1b: free blocks of other partial pieces the peer has, rarest
    /// first.
    fn pick_other_partial(
        &mut self,
        peer: PeerKey,
        bf: &Bitfield,
        is_seed: bool,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        // A non-seed peer can only have pieces with count >= 1.
        let min = u32::from(!is_seed);
        let need = limit - out.len();
        let mut chosen: Vec<u32> = Vec::new();
        let mut blocks = 0usize;
        for p in self.open.keyed_at_least(min) {
            if bf.get(p as usize) {
                chosen.push(p);
                blocks += self.inflight.free(p) as usize;
                if blocks >= need {
                    break;
                }
            }
        }
        for p in chosen {
            self.take_free(p, peer, limit, out);
        }
    }

    /// Phase 2: start new pieces the peer has: high priority first, then
    /// in index order (sequential mode) or rarest first (random initially),
    /// normal priority before low.
    fn pick_new(
        &mut self,
        peer: PeerKey,
        bf: &Bitfield,
        is_seed: bool,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        if !self.high.is_empty() {
            self.pick_new_high(peer, bf, limit, out);
        }
        if out.len() >= limit {
            return;
        }
        if self.sequential {
            self.pick_new_in_order(peer, bf, limit, out);
            return;
        }
        self.pick_new_rarest(peer, bf, is_seed, limit, out, false);
        if out.len() < limit && self.low_count > 0 {
            self.pick_new_rarest(peer, bf, is_seed, limit, out, true);
        }
    }

    /// Whether `p` could be started now (wanted, not in progress).
    fn startable(&self, p: u32) -> bool {
        self.wanted.get(p as usize) && !self.inflight.is_downloading(p)
    }

    /// Starts high-priority pieces the peer has, in index order.
    fn pick_new_high(
        &mut self,
        peer: PeerKey,
        bf: &Bitfield,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let need = limit - out.len();
        let mut chosen: Vec<u32> = Vec::new();
        let mut blocks = 0usize;
        for &p in &self.high {
            if blocks >= need {
                break;
            }
            if bf.get(p as usize) && self.startable(p) {
                chosen.push(p);
                blocks += self.geo.blocks_in_piece(p) as usize;
            }
        }
        for p in chosen {
            self.start_and_take(p, peer, limit, out);
        }
    }

    /// Sequential mode: starts the lowest-numbered pieces the peer has.
    fn pick_new_in_order(
        &mut self,
        peer: PeerKey,
        bf: &Bitfield,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let n = self.geo.piece_count;
        while self.seq_from < n && !self.wanted.get(self.seq_from as usize) {
            self.seq_from += 1;
        }
        let need = limit - out.len();
        let mut chosen: Vec<u32> = Vec::new();
        let mut blocks = 0usize;
        for p in self.seq_from..n {
            if blocks >= need {
                break;
            }
            if bf.get(p as usize) && self.startable(p) {
                chosen.push(p);
                blocks += self.geo.blocks_in_piece(p) as usize;
            }
        }
        for p in chosen {
            self.start_and_take(p, peer, limit, out);
        }
    }

    /// Starts pieces the peer has, rarest first (or from a random place
    /// while we have few pieces): those of normal or high priority, or
    /// with `low`, only those of low priority.
    fn pick_new_rarest(
        &mut self,
        peer: PeerKey,
        bf: &Bitfield,
        is_seed: bool,
        limit: usize,
        out: &mut Vec<BlockRequest>,
        low: bool,
    ) {
        let n = self.geo.piece_count;
        // A non-seed peer can only have pieces with count >= 1 (key >= 2).
        let lo = if is_seed {
            self.fresh.start(1)
        } else {
            self.fresh.start(2)
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
            let p = self.fresh.at(i);
            let is_low = self.priority[p as usize] < super::PRIORITY_NORMAL;
            if is_low == low && bf.get(p as usize) {
                chosen.push(p);
                blocks += self.geo.blocks_in_piece(p) as usize;
                if blocks >= need {
                    break;
                }
            }
        }
        for p in chosen {
            self.start_and_take(p, peer, limit, out);
        }
    }

    /// Phase 3 (endgame): blocks already requested from other peers,
    /// least-requested first.
    fn pick_busy(
        &mut self,
        peer: PeerKey,
        bf: &Bitfield,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let max_req = self.config.max_requests_per_block;
        for level in 1..max_req {
            let mut from = 0;
            while out.len() < limit {
                let Some(piece) = self.inflight.dupable_from(from) else {
                    break;
                };
                // piece < piece_count < u32::MAX
                from = piece + 1;
                if bf.get(piece as usize) {
                    let size = self.geo.piece_size(piece);
                    self.inflight
                        .take_busy(piece, size, peer, level, limit, out);
                }
            }
        }
    }
}
