//! Smart-ban: find out which peer sent the bad block of a piece that failed
//! its hash check, without ever blaming an honest one.
//!
//! Every stored block is recorded with its sender and, while more than one
//! peer is connected (so pieces can be mixed), a fingerprint (CRC-32,
//! cheap). When a piece fails and one peer sent all of it, that peer is
//! guilty.
//! Otherwise the fingerprints of the failed attempt are kept; once the
//! piece passes, its blocks are known good, and every peer whose block in
//! a failed attempt differs from the good one sent corrupt data. A peer
//! that sent correct data always matches, so it is never banned.

use std::collections::HashMap;

use shoal_wire::PeerId;

/// Who sent each block of one attempt at a piece, and its fingerprint if
/// one was taken.
type Attempt = Vec<Option<(PeerId, Option<u32>)>>;

/// Per-torrent smart-ban bookkeeping; see the [module documentation](self).
#[derive(Debug, Default)]
pub(crate) struct SmartBan {
    in_progress: HashMap<u32, Attempt>,
    failed: HashMap<u32, Vec<Attempt>>,
}

/// Most failed attempts remembered per piece.
const MAX_ATTEMPTS: usize = 8;

impl SmartBan {
    /// A block of `piece` (`blocks` blocks long) arrived from `peer`;
    /// `data` is given when a fingerprint should be taken.
    pub fn record(
        &mut self,
        piece: u32,
        block: u32,
        blocks: u32,
        peer: PeerId,
        data: Option<&[u8]>,
    ) {
        let attempt = self
            .in_progress
            .entry(piece)
            .or_insert_with(|| vec![None; blocks as usize]);
        if let Some(slot) = attempt.get_mut(block as usize) {
            slot.get_or_insert((peer, data.map(crc32fast::hash)));
        }
    }

    /// `piece` failed its hash check: returns the peers proven guilty now
    /// (the sole sender of the piece), and remembers the attempt.
    pub fn on_failed(&mut self, piece: u32) -> Vec<PeerId> {
        let Some(attempt) = self.in_progress.remove(&piece) else {
            return Vec::new();
        };
        let mut senders: Vec<PeerId> = attempt.iter().flatten().map(|(p, _)| *p).collect();
        senders.sort_unstable();
        senders.dedup();
        if senders.len() == 1 {
            return senders;
        }
        let attempts = self.failed.entry(piece).or_default();
        if attempts.len() < MAX_ATTEMPTS {
            attempts.push(attempt);
        }
        Vec::new()
    }

    /// `piece` passed: returns the peers whose blocks in earlier failed
    /// attempts differ from the good data.
    pub fn on_verified(&mut self, piece: u32) -> Vec<PeerId> {
        let good = self.in_progress.remove(&piece);
        let Some(attempts) = self.failed.remove(&piece) else {
            return Vec::new();
        };
        let Some(good) = good else {
            return Vec::new();
        };
        let mut guilty = Vec::new();
        for attempt in attempts {
            for (old, new) in attempt.iter().zip(&good) {
                if let (Some((peer, Some(crc))), Some((_, Some(good_crc)))) = (old, new) {
                    if crc != good_crc && !guilty.contains(peer) {
                        guilty.push(*peer);
                    }
                }
            }
        }
        guilty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> PeerId {
        PeerId([n; 20])
    }

    #[test]
    fn sole_sender_of_a_bad_piece_is_guilty() {
        let mut s = SmartBan::default();
        s.record(3, 0, 2, id(1), Some(b"aa"));
        s.record(3, 1, 2, id(1), Some(b"bb"));
        assert_eq!(s.on_failed(3), vec![id(1)]);
    }

    #[test]
    fn mixed_piece_blames_only_the_sender_of_the_bad_block() {
        let mut s = SmartBan::default();
        s.record(5, 0, 2, id(1), Some(b"good0"));
        s.record(5, 1, 2, id(2), Some(b"BAD!!"));
        assert!(s.on_failed(5).is_empty());
        // A second attempt passes: its blocks are the good ones.
        s.record(5, 0, 2, id(1), Some(b"good0"));
        s.record(5, 1, 2, id(3), Some(b"good1"));
        assert_eq!(s.on_verified(5), vec![id(2)]);
        // Nothing left over.
        assert!(s.on_verified(5).is_empty());
    }

    #[test]
    fn honest_peers_in_many_failed_pieces_are_never_blamed() {
        let mut s = SmartBan::default();
        for piece in 0..10 {
            s.record(piece, 0, 2, id(1), Some(b"good"));
            s.record(piece, 1, 2, id(9), Some(b"evil"));
            assert!(s.on_failed(piece).is_empty());
            s.record(piece, 0, 2, id(1), Some(b"good"));
            s.record(piece, 1, 2, id(1), Some(b"fine"));
            assert_eq!(s.on_verified(piece), vec![id(9)]);
        }
    }

    #[test]
    fn blocks_without_fingerprint_are_never_blamed() {
        let mut s = SmartBan::default();
        s.record(4, 0, 2, id(1), None);
        s.record(4, 1, 2, id(2), Some(b"evil"));
        assert!(s.on_failed(4).is_empty());
        s.record(4, 0, 2, id(1), Some(b"good"));
        s.record(4, 1, 2, id(1), Some(b"fine"));
        assert_eq!(s.on_verified(4), vec![id(2)]);
    }

    #[test]
    fn first_copy_of_a_block_is_kept() {
        let mut s = SmartBan::default();
        s.record(1, 0, 1, id(1), Some(b"x"));
        s.record(1, 0, 1, id(2), Some(b"y"));
        assert_eq!(s.on_failed(1), vec![id(1)]);
    }
}
