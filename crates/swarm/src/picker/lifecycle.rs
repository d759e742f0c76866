//! The life of a request after it is sent: answered (expected, unrequested,
//! duplicate), rejected, timed out or cancelled; the peer releasing all of
//! its requests; and the end of a piece, verified or failed, with who sent
//! each block (smart-ban).
//!
//! Each of these costs time in proportion to one block, one piece or one
//! peer's pieces, never to the number of pieces in progress.

use super::inflight::Released;
use super::{BlockOutcome, BlockRequest, BlockStatus, PickerError, PieceContributors, PiecePicker};
use crate::PeerKey;

impl PiecePicker {
    /// A block arrived from `peer`. See [`BlockOutcome`].
    pub fn on_block_received(&mut self, peer: PeerKey, block: BlockRequest) -> BlockOutcome {
        let Some(b) = self.geo.block_index(&block) else {
            return BlockOutcome::simple(BlockStatus::Invalid);
        };
        // A registered sender that has the piece counts as working on it
        // (it is preferred to finish it); an unknown sender, or one sending
        // a piece it does not claim, is only recorded as the block's sender.
        let involve = self.peer_has(peer, block.piece);
        match self.inflight.receive(block.piece, b, peer, involve) {
            Some(outcome) => {
                self.reorder(block.piece);
                outcome
            }
            None => BlockOutcome::simple(BlockStatus::NotWanted),
        }
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
        let Some(b) = self.geo.block_index(&block) else {
            return false;
        };
        match self.inflight.release(block.piece, b, peer) {
            Released::No => false,
            Released::Yes | Released::Abandoned => {
                self.reorder(block.piece);
                true
            }
        }
    }

    /// Releases every request outstanding to `peer` (e.g. it choked us
    /// without the fast extension). Returns the released blocks. Costs time
    /// in proportion to the pieces the peer was involved in.
    pub fn release_peer_requests(&mut self, peer: PeerKey) -> Vec<BlockRequest> {
        let (released, touched) = self.inflight.release_peer(peer);
        for p in touched {
            self.reorder(p);
        }
        released
            .into_iter()
            .filter_map(|(p, b)| self.geo.block_request(p, b))
            .collect()
    }

    /// Removes a piece's download state, forgetting outstanding requests, and
    /// returns who sent each block.
    fn drop_download(&mut self, piece: u32) -> PieceContributors {
        match self.inflight.remove(piece) {
            Some(d) => PieceContributors {
                piece,
                blocks: d.blocks.iter().map(|b| b.received).collect(),
            },
            None => PieceContributors {
                piece,
                blocks: vec![None; self.geo.blocks_in_piece(piece) as usize],
            },
        }
    }

    /// The piece passed its hash check: we have it. Returns who sent each
    /// block (smart-ban uses it to clear suspicion).
    pub fn on_piece_verified(&mut self, index: u32) -> Result<PieceContributors, PickerError> {
        self.geo.check_index(index)?;
        let contributors = self.drop_download(index);
        let _ = self.have.set(index as usize, true);
        self.refresh_wanted(index);
        Ok(contributors)
    }

    /// The piece failed its hash check: every block is reset for
    /// re-download, and who sent each block is returned so the caller can
    /// apply smart-ban.
    pub fn on_piece_failed(&mut self, index: u32) -> Result<PieceContributors, PickerError> {
        self.geo.check_index(index)?;
        let contributors = self.drop_download(index);
        self.reorder(index);
        Ok(contributors)
    }
}
