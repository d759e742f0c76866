//! In-flight blocks: the pieces being downloaded (partial pieces), the state
//! of each of their blocks, and a per-peer index of them.
//!
//! A piece is *in progress* from its first request until it is verified,
//! failed or abandoned (nothing requested and nothing received any more).
//! Each of its blocks is free, requested (by up to
//! [`MAX_REQUESTS_PER_BLOCK`](super::MAX_REQUESTS_PER_BLOCK) peers) or
//! received (and from whom, for smart-ban). A piece with at least one free
//! block is *open*.
//!
//! Each piece lists the peers *involved* in it: those that requested or
//! sent one of its blocks. The per-peer index mirrors those lists: for every
//! peer, the pieces it is involved in and the open ones among them, and the
//! number of blocks requested from it. So finishing a peer's own partial
//! pieces, or releasing everything a departing peer had requested, costs
//! time in proportion to that peer's pieces, never to every piece in
//! progress.
//!
//! For endgame, the pieces with a block that may still be requested from
//! one more peer (missing, requested, fewer requesters than the bound) are
//! kept in a set too, so a peer that finds no such block does not rescan
//! every piece in progress.

use std::collections::BTreeSet;

use crate::fixed_hash::HashMap;

use super::geometry::{BlockRequest, BLOCK_SIZE};
use super::{BlockOutcome, BlockStatus, MAX_REQUESTS_PER_BLOCK};
use crate::PeerKey;

/// Marks a piece with no in-progress state.
const NONE: u32 = u32::MAX;

/// State of one block of a piece in progress.
#[derive(Debug, Clone, Copy)]
pub(super) struct Block {
    /// Who sent it, once received.
    pub(super) received: Option<PeerKey>,
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

    /// The peers this block is requested from.
    pub(super) fn requesters(&self) -> &[PeerKey] {
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
pub(super) struct Downloading {
    pub(super) piece: u32,
    pub(super) blocks: Vec<Block>,
    /// Blocks neither requested nor received.
    free: u32,
    /// Blocks requested and not received.
    requested: u32,
    /// Blocks received.
    received: u32,
    /// Peers involved: they requested or sent blocks of this piece.
    peers: Vec<PeerKey>,
    /// Blocks missing and requested from fewer peers than the bound
    /// (endgame may add a requester).
    dupable: u32,
}

/// The per-peer index entry. An entry with no request and no piece is
/// removed, so the index holds only peers with something in flight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PeerPieces {
    /// Blocks currently requested from the peer.
    requests: u32,
    /// Pieces whose `peers` list holds the peer.
    involved: BTreeSet<u32>,
    /// The open pieces among `involved`.
    open: BTreeSet<u32>,
}

impl PeerPieces {
    fn is_empty(&self) -> bool {
        self.requests == 0 && self.involved.is_empty()
    }
}

/// Result of [`InFlight::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Released {
    /// The request was not outstanding.
    No,
    /// Released; the piece is still in progress.
    Yes,
    /// Released, and the piece had nothing else requested or received: it
    /// is no longer in progress.
    Abandoned,
}

/// Every piece in progress, with the per-peer index.
#[derive(Debug, Clone)]
pub(super) struct InFlight {
    pieces: Vec<Downloading>,
    /// Index into `pieces` of each piece, or `NONE`.
    slot: Vec<u32>,
    by_peer: HashMap<PeerKey, PeerPieces>,
    /// Pieces with `dupable > 0`.
    dupable: BTreeSet<u32>,
    /// The bound on requesters per block.
    max_requests: u8,
}

/// Whether endgame may add a requester to `blk`.
fn is_dupable(blk: &Block, max_requests: u8) -> bool {
    blk.received.is_none() && blk.nreq > 0 && blk.nreq < max_requests
}

/// Removes `piece` from the peer's index entry (dropping an empty entry).
fn uninvolve(by_peer: &mut HashMap<PeerKey, PeerPieces>, peer: PeerKey, piece: u32) {
    if let Some(e) = by_peer.get_mut(&peer) {
        e.involved.remove(&piece);
        e.open.remove(&piece);
        if e.is_empty() {
            by_peer.remove(&peer);
        }
    }
}

/// One request fewer for `peer` (dropping an empty entry).
fn unrequest(by_peer: &mut HashMap<PeerKey, PeerPieces>, peer: PeerKey) {
    if let Some(e) = by_peer.get_mut(&peer) {
        e.requests = e.requests.saturating_sub(1);
        if e.is_empty() {
            by_peer.remove(&peer);
        }
    }
}

impl InFlight {
    /// Nothing in progress, for a torrent of `pieces` pieces, with at
    /// most `max_requests` requesters per block.
    pub(super) fn new(pieces: usize, max_requests: u8) -> Self {
        InFlight {
            pieces: Vec::new(),
            slot: vec![NONE; pieces],
            by_peer: HashMap::default(),
            dupable: BTreeSet::new(),
            max_requests,
        }
    }

    /// The smallest piece `>= from` with a block endgame may request from
    /// one more peer.
    pub(super) fn dupable_from(&self, from: u32) -> Option<u32> {
        self.dupable.range(from..).next().copied()
    }

    /// Brings `pieces[si]`'s membership of the endgame set up to date.
    fn dupable_changed(&mut self, si: usize) {
        let d = &self.pieces[si];
        if d.dupable > 0 {
            self.dupable.insert(d.piece);
        } else {
            self.dupable.remove(&d.piece);
        }
    }

    /// Number of pieces in progress.
    pub(super) fn len(&self) -> usize {
        self.pieces.len()
    }

    fn slot_of(&self, piece: u32) -> Option<usize> {
        match self.slot.get(piece as usize) {
            Some(&s) if s != NONE => Some(s as usize),
            _ => None,
        }
    }

    /// Whether `piece` is in progress.
    pub(super) fn is_downloading(&self, piece: u32) -> bool {
        self.slot_of(piece).is_some()
    }

    /// Number of free blocks of `piece` (0 if it is not in progress).
    pub(super) fn free(&self, piece: u32) -> u32 {
        self.slot_of(piece).map_or(0, |si| self.pieces[si].free)
    }

    /// Whether `piece` is in progress with a free block.
    pub(super) fn is_open(&self, piece: u32) -> bool {
        self.free(piece) > 0
    }

    /// Whether `peer` is involved in `piece`.
    pub(super) fn is_involved(&self, piece: u32, peer: PeerKey) -> bool {
        self.by_peer
            .get(&peer)
            .is_some_and(|e| e.involved.contains(&piece))
    }

    /// Number of blocks currently requested from `peer`.
    pub(super) fn requests(&self, peer: PeerKey) -> u32 {
        self.by_peer.get(&peer).map_or(0, |e| e.requests)
    }

    /// The smallest open piece `>= from` that `peer` is involved in.
    pub(super) fn own_open_from(&self, peer: PeerKey, from: u32) -> Option<u32> {
        self.by_peer.get(&peer)?.open.range(from..).next().copied()
    }

    /// The peers block `block` of `piece` is requested from.
    #[cfg(test)]
    pub(super) fn requesters(&self, piece: u32, block: u32) -> &[PeerKey] {
        self.slot_of(piece)
            .and_then(|si| self.pieces[si].blocks.get(block as usize))
            .map_or(&[], |b| b.requesters())
    }

    /// Adds `peer` to the piece's involved peers and to the index.
    fn involve(&mut self, si: usize, peer: PeerKey) {
        let d = &mut self.pieces[si];
        if d.peers.contains(&peer) {
            return;
        }
        d.peers.push(peer);
        let e = self.by_peer.entry(peer).or_default();
        e.involved.insert(d.piece);
        if d.free > 0 {
            e.open.insert(d.piece);
        }
    }

    /// After the free count of `pieces[si]` changed: if the piece opened or
    /// closed, updates the open sets of its involved peers.
    fn free_changed(&mut self, si: usize, was_open: bool) {
        let d = &self.pieces[si];
        let open = d.free > 0;
        if open == was_open {
            return;
        }
        for p in &d.peers {
            if let Some(e) = self.by_peer.get_mut(p) {
                if open {
                    e.open.insert(d.piece);
                } else {
                    e.open.remove(&d.piece);
                }
            }
        }
    }

    /// Starts `piece` (not in progress yet) with `nblocks` free blocks.
    pub(super) fn start(&mut self, piece: u32, nblocks: u32) {
        let si = self.pieces.len();
        self.pieces.push(Downloading {
            piece,
            blocks: vec![Block::FREE; nblocks as usize],
            free: nblocks,
            requested: 0,
            received: 0,
            peers: Vec::new(),
            dupable: 0,
        });
        self.slot[piece as usize] = si as u32;
    }

    /// Requests free blocks of `piece` (of `size` bytes) from `peer`, in
    /// block order, until `out` holds `limit` entries. Returns how many.
    pub(super) fn take_free(
        &mut self,
        piece: u32,
        size: u32,
        peer: PeerKey,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) -> u32 {
        let Some(si) = self.slot_of(piece) else {
            return 0;
        };
        let d = &mut self.pieces[si];
        let was_open = d.free > 0;
        let mut taken = 0;
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
            d.dupable += u32::from(is_dupable(blk, self.max_requests));
            taken += 1;
            let begin = b as u32 * BLOCK_SIZE;
            out.push(BlockRequest {
                piece,
                begin,
                length: (size - begin).min(BLOCK_SIZE),
            });
        }
        if taken > 0 {
            self.by_peer.entry(peer).or_default().requests += taken;
            self.involve(si, peer);
            self.free_changed(si, was_open);
            self.dupable_changed(si);
        }
        taken
    }

    /// Endgame: requests from `peer` blocks of `piece` (of `size` bytes)
    /// that are requested from exactly `level` other peers, until `out`
    /// holds `limit` entries. Returns how many.
    pub(super) fn take_busy(
        &mut self,
        piece: u32,
        size: u32,
        peer: PeerKey,
        level: u8,
        limit: usize,
        out: &mut Vec<BlockRequest>,
    ) -> u32 {
        let Some(si) = self.slot_of(piece) else {
            return 0;
        };
        let max = self.max_requests;
        let d = &mut self.pieces[si];
        let mut taken = 0;
        for (b, blk) in d.blocks.iter_mut().enumerate() {
            if out.len() >= limit {
                break;
            }
            if blk.received.is_some() || blk.nreq != level || blk.requesters().contains(&peer) {
                continue;
            }
            let before = is_dupable(blk, max);
            blk.reqs[blk.nreq as usize] = peer;
            blk.nreq += 1;
            d.dupable = d.dupable + u32::from(is_dupable(blk, max)) - u32::from(before);
            taken += 1;
            let begin = b as u32 * BLOCK_SIZE;
            out.push(BlockRequest {
                piece,
                begin,
                length: (size - begin).min(BLOCK_SIZE),
            });
        }
        if taken > 0 {
            self.by_peer.entry(peer).or_default().requests += taken;
            self.involve(si, peer);
            self.dupable_changed(si);
        }
        taken
    }

    /// Block `block` of `piece` arrived from `peer`. The sender becomes
    /// involved in the piece if `involve` (or it had requested the block).
    /// `None` if the piece is not in progress.
    pub(super) fn receive(
        &mut self,
        piece: u32,
        block: u32,
        peer: PeerKey,
        involve: bool,
    ) -> Option<BlockOutcome> {
        let si = self.slot_of(piece)?;
        let d = &mut self.pieces[si];
        let was_open = d.free > 0;
        let max = self.max_requests;
        let blk = d.blocks.get_mut(block as usize)?;
        let was_dupable = is_dupable(blk, max);
        let was_requested = blk.remove_requester(peer);
        if was_requested {
            unrequest(&mut self.by_peer, peer);
        }
        if blk.received.is_some() {
            // Received blocks have no requesters: nothing changed.
            return Some(BlockOutcome::simple(BlockStatus::Duplicate));
        }
        let cancel: Vec<PeerKey> = blk.requesters().to_vec();
        if was_requested || blk.nreq > 0 {
            d.requested -= 1;
        } else {
            d.free -= 1;
        }
        blk.nreq = 0;
        blk.received = Some(peer);
        d.received += 1;
        d.dupable -= u32::from(was_dupable);
        let piece_complete = d.received as usize == d.blocks.len();
        for &p in &cancel {
            unrequest(&mut self.by_peer, p);
        }
        if was_requested || involve {
            self.involve(si, peer);
        }
        self.free_changed(si, was_open);
        self.dupable_changed(si);
        Some(BlockOutcome {
            status: if was_requested {
                BlockStatus::Expected
            } else {
                BlockStatus::Unrequested
            },
            piece_complete,
            cancel,
        })
    }

    /// Forgets the request of block `block` of `piece` to `peer`.
    pub(super) fn release(&mut self, piece: u32, block: u32, peer: PeerKey) -> Released {
        let Some(si) = self.slot_of(piece) else {
            return Released::No;
        };
        let d = &mut self.pieces[si];
        let was_open = d.free > 0;
        let max = self.max_requests;
        let Some(blk) = d.blocks.get_mut(block as usize) else {
            return Released::No;
        };
        let was_dupable = is_dupable(blk, max);
        if !blk.remove_requester(peer) {
            return Released::No;
        }
        d.dupable = d.dupable + u32::from(is_dupable(blk, max)) - u32::from(was_dupable);
        if blk.nreq == 0 && blk.received.is_none() {
            d.requested -= 1;
            d.free += 1;
        }
        unrequest(&mut self.by_peer, peer);
        self.free_changed(si, was_open);
        self.dupable_changed(si);
        if self.abandon_if_idle(piece) {
            Released::Abandoned
        } else {
            Released::Yes
        }
    }

    /// Forgets every request to `peer` and its involvement in every piece
    /// (the blocks it sent stay attributed to it). Returns the released
    /// blocks as (piece, block) and every piece it was involved in.
    pub(super) fn release_peer(&mut self, peer: PeerKey) -> (Vec<(u32, u32)>, Vec<u32>) {
        let Some(entry) = self.by_peer.remove(&peer) else {
            return (Vec::new(), Vec::new());
        };
        let mut released = Vec::new();
        for &piece in &entry.involved {
            let Some(si) = self.slot_of(piece) else {
                continue;
            };
            let d = &mut self.pieces[si];
            let was_open = d.free > 0;
            if let Some(i) = d.peers.iter().position(|&p| p == peer) {
                d.peers.swap_remove(i);
            }
            for (b, blk) in d.blocks.iter_mut().enumerate() {
                let was_dupable = is_dupable(blk, self.max_requests);
                if blk.remove_requester(peer) {
                    d.dupable = d.dupable + u32::from(is_dupable(blk, self.max_requests))
                        - u32::from(was_dupable);
                    if blk.nreq == 0 && blk.received.is_none() {
                        d.requested -= 1;
                        d.free += 1;
                    }
                    released.push((piece, b as u32));
                }
            }
            self.free_changed(si, was_open);
            self.dupable_changed(si);
        }
        let touched: Vec<u32> = entry.involved.into_iter().collect();
        for &piece in &touched {
            self.abandon_if_idle(piece);
        }
        (released, touched)
    }

    /// Removes a piece with nothing requested and nothing received; true if
    /// it did.
    fn abandon_if_idle(&mut self, piece: u32) -> bool {
        let idle = self
            .slot_of(piece)
            .is_some_and(|si| self.pieces[si].received == 0 && self.pieces[si].requested == 0);
        if idle {
            self.remove(piece);
        }
        idle
    }

    /// Removes the in-progress state of `piece`, forgetting its outstanding
    /// requests, and returns it (`None` if it was not in progress).
    pub(super) fn remove(&mut self, piece: u32) -> Option<Downloading> {
        let si = self.slot_of(piece)?;
        let d = self.pieces.swap_remove(si);
        self.slot[piece as usize] = NONE;
        self.dupable.remove(&piece);
        if let Some(moved) = self.pieces.get(si) {
            self.slot[moved.piece as usize] = si as u32;
        }
        for blk in &d.blocks {
            for &p in blk.requesters() {
                unrequest(&mut self.by_peer, p);
            }
        }
        for &p in &d.peers {
            uninvolve(&mut self.by_peer, p, piece);
        }
        Some(d)
    }

    /// Checks every invariant, recomputing the per-peer index by brute
    /// force; panics on violation. For tests.
    #[cfg(test)]
    pub(super) fn check(&self, max_requests_per_block: u8) {
        assert_eq!(
            self.slot.iter().filter(|&&s| s != NONE).count(),
            self.pieces.len()
        );
        let mut index: HashMap<PeerKey, PeerPieces> = HashMap::default();
        let mut dupable = BTreeSet::new();
        for (si, d) in self.pieces.iter().enumerate() {
            assert_eq!(self.slot[d.piece as usize] as usize, si);
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
            assert!(d.received > 0 || d.requested > 0, "idle piece {}", d.piece);
            let dup = d
                .blocks
                .iter()
                .filter(|b| is_dupable(b, max_requests_per_block))
                .count();
            assert_eq!(dup, d.dupable as usize, "dupable blocks of {}", d.piece);
            if dup > 0 {
                dupable.insert(d.piece);
            }
            let mut peers = d.peers.clone();
            peers.sort_unstable();
            peers.dedup();
            assert_eq!(peers.len(), d.peers.len(), "duplicate involved peer");
            for b in &d.blocks {
                assert!(b.received.is_none() || b.nreq == 0);
                assert!(b.nreq <= max_requests_per_block);
                for p in b.requesters() {
                    index.entry(*p).or_default().requests += 1;
                    assert!(d.peers.contains(p), "requester not involved");
                }
            }
            for p in &d.peers {
                let e = index.entry(*p).or_default();
                e.involved.insert(d.piece);
                if d.free > 0 {
                    e.open.insert(d.piece);
                }
            }
        }
        assert_eq!(index, self.by_peer, "per-peer index");
        assert_eq!(dupable, self.dupable, "endgame set");
        assert_eq!(max_requests_per_block, self.max_requests);
    }

    /// The peers with an index entry. For tests.
    #[cfg(test)]
    pub(super) fn indexed_peers(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.by_peer.keys().copied()
    }
}
