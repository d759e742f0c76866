//! Smart-ban: find out which address sent the bad block of a piece that
//! failed its hash check, without ever blaming an honest one.
//!
//! Every stored block is recorded with its sender's IP address and, while
//! more than one peer is connected (so pieces can be mixed), a fingerprint:
//! the block's SHA-1, as libtorrent takes. A linear checksum such as CRC-32
//! would not do: a peer that knows the content can craft a corrupt block
//! with the same CRC and go unblamed. When a piece fails and one address
//! sent all of it, that address is guilty. Otherwise the fingerprints of
//! the failed attempt are kept; once the piece passes, its blocks are known
//! good, and every address whose block in a failed attempt differs from the
//! good one sent corrupt data. An address that sent correct data always
//! matches, so it is never banned.
//!
//! Senders are IP addresses, not peer ids or ports, so a peer that
//! reconnects with a new id from a new port is still the same sender. The
//! sender type is a parameter so that sources other than peers (web seeds,
//! BEP 19) can be told apart from a peer on the same address.

use crate::fixed_hash::HashMap;
use std::net::IpAddr;

use sha1::{Digest, Sha1};

/// A block's fingerprint.
type Fingerprint = [u8; 20];

/// Who sent each block of one attempt at a piece, and its fingerprint if
/// one was taken.
type Attempt<S> = Vec<Option<(S, Option<Fingerprint>)>>;

/// Per-torrent smart-ban bookkeeping; see the [module documentation](self).
/// `S` names a sender (an IP address by default).
#[derive(Debug)]
pub(crate) struct SmartBan<S = IpAddr> {
    in_progress: HashMap<u32, Attempt<S>>,
    failed: HashMap<u32, Vec<Attempt<S>>>,
}

impl<S> Default for SmartBan<S> {
    fn default() -> Self {
        SmartBan {
            in_progress: HashMap::default(),
            failed: HashMap::default(),
        }
    }
}

/// Most failed attempts remembered per piece.
const MAX_ATTEMPTS: usize = 8;

impl<S: Copy + Ord> SmartBan<S> {
    /// A block of `piece` (`blocks` blocks long) arrived from `sender`;
    /// `data` is given when a fingerprint should be taken.
    pub fn record(&mut self, piece: u32, block: u32, blocks: u32, sender: S, data: Option<&[u8]>) {
        let attempt = self
            .in_progress
            .entry(piece)
            .or_insert_with(|| vec![None; blocks as usize]);
        if let Some(slot) = attempt.get_mut(block as usize) {
            slot.get_or_insert_with(|| (sender, data.map(|d| Sha1::digest(d).into())));
        }
    }

    /// `piece` failed its hash check: returns the senders proven guilty now
    /// (the sole sender of the piece), and remembers the attempt.
    pub fn on_failed(&mut self, piece: u32) -> Vec<S> {
        let Some(attempt) = self.in_progress.remove(&piece) else {
            return Vec::new();
        };
        let mut senders: Vec<S> = attempt.iter().flatten().map(|(p, _)| *p).collect();
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

    /// `piece` passed: returns the senders whose blocks in earlier failed
    /// attempts differ from the good data.
    pub fn on_verified(&mut self, piece: u32) -> Vec<S> {
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
                if let (Some((peer, Some(fp))), Some((_, Some(good_fp)))) = (old, new) {
                    if fp != good_fp && !guilty.contains(peer) {
                        guilty.push(*peer);
                    }
                }
            }
        }
        guilty
    }

    /// Pieces with bookkeeping in memory (in progress or failed), for
    /// accounting.
    pub fn tracked_pieces(&self) -> usize {
        self.in_progress.len() + self.failed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
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

    /// A block that differs from `good` but has the same CRC-32: CRC is
    /// linear, so flipping a combination of bits whose checksum
    /// contributions cancel keeps it. Found by Gaussian elimination over
    /// the contributions of the first 33 bits.
    fn crc32_twin(good: &[u8]) -> Vec<u8> {
        let base = crc32fast::hash(good);
        // Contribution of flipping bit i (affine part cancels out).
        let contrib = |i: usize| {
            let mut m = good.to_vec();
            m[i / 8] ^= 1 << (i % 8);
            crc32fast::hash(&m) ^ base
        };
        // Rows: (contribution, set of flipped bits as a u64 mask).
        let mut rows: Vec<(u32, u64)> = (0..33).map(|i| (contrib(i), 1u64 << i)).collect();
        let mut r = 0;
        for bit in (0..32).rev() {
            let Some(p) = (r..rows.len()).find(|&k| rows[k].0 >> bit & 1 == 1) else {
                continue;
            };
            rows.swap(r, p);
            for k in 0..rows.len() {
                if k != r && rows[k].0 >> bit & 1 == 1 {
                    rows[k].0 ^= rows[r].0;
                    rows[k].1 ^= rows[r].1;
                }
            }
            r += 1;
        }
        let (_, mask) = rows
            .iter()
            .find(|(c, m)| *c == 0 && *m != 0)
            .copied()
            .expect("33 vectors in a 32-dimensional space are dependent");
        let mut twin = good.to_vec();
        for i in 0..33 {
            if mask >> i & 1 == 1 {
                twin[i / 8] ^= 1 << (i % 8);
            }
        }
        twin
    }

    #[test]
    fn a_corrupt_block_with_a_forged_crc32_is_still_caught() {
        let good = vec![0x5au8; 16 * 1024];
        let evil = crc32_twin(&good);
        assert_ne!(good, evil);
        assert_eq!(crc32fast::hash(&good), crc32fast::hash(&evil));
        let mut s = SmartBan::default();
        s.record(7, 0, 2, id(1), Some(&good));
        s.record(7, 1, 2, id(2), Some(&evil));
        assert!(s.on_failed(7).is_empty());
        s.record(7, 0, 2, id(1), Some(&good));
        s.record(7, 1, 2, id(3), Some(&good));
        assert_eq!(s.on_verified(7), vec![id(2)]);
    }
}
