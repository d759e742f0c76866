//! What the picker knows about each connected peer: its pieces, and the
//! per-piece availability counts they add up to.
//!
//! A peer with every piece (a "seed") is counted once in
//! `PiecePicker::seeds` instead of once per piece, so `have_all` and a
//! seed's departure are O(1); other bitfield changes are O(pieces the peer
//! has), as they must be.

use super::{PickerError, PiecePicker};
use crate::bitfield::{Bitfield, BitfieldError};
use crate::PeerKey;

/// What the picker knows about one peer.
#[derive(Debug, Clone)]
pub(super) struct PeerEntry {
    pub(super) bitfield: Bitfield,
    /// Counted in `PiecePicker::seeds` rather than per piece; equivalent to
    /// the bitfield being complete.
    pub(super) seed: bool,
    /// Number of pieces the peer has that we want.
    pub(super) interesting: u32,
}

impl PeerEntry {
    fn empty(pieces: usize) -> Self {
        PeerEntry {
            bitfield: Bitfield::new(pieces),
            seed: false,
            interesting: 0,
        }
    }
}

impl PiecePicker {
    fn inc_count(&mut self, p: u32) {
        self.count[p as usize] += 1;
        self.reorder(p);
    }

    fn dec_count(&mut self, p: u32) {
        let c = &mut self.count[p as usize];
        if *c > 0 {
            *c -= 1;
            self.reorder(p);
        }
    }

    /// Registers a peer that has no piece (yet). Other peer methods register
    /// unknown peers implicitly.
    pub fn add_peer(&mut self, peer: PeerKey) {
        let len = self.geo.piece_count as usize;
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
        self.inflight.requests(peer) as usize
    }

    /// Removes a peer's pieces from the availability counts (keeps the entry).
    fn remove_availability(&mut self, peer: PeerKey) {
        let Some(e) = self.peers.get_mut(&peer) else {
            return;
        };
        let bf = std::mem::replace(
            &mut e.bitfield,
            Bitfield::new(self.geo.piece_count as usize),
        );
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
        let n = self.geo.piece_count as usize;
        if bitfield.len() != n {
            return Err(BitfieldError::LengthMismatch(bitfield.len(), n).into());
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
        self.geo.check_index(index)?;
        let wanted = self.wanted.get(index as usize);
        let len = self.geo.piece_count as usize;
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
            for p in 0..self.geo.piece_count {
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
    /// record of blocks it already sent is kept (smart-ban). Costs time in
    /// proportion to the pieces it was involved in and (unless it is a
    /// seed) the pieces it has, not to the number of pieces in progress.
    pub fn on_peer_gone(&mut self, peer: PeerKey) {
        self.release_peer_requests(peer);
        self.remove_availability(peer);
        self.peers.remove(&peer);
    }
}
