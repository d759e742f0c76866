//! Virtual content: the torrent's bytes, generated from a seed, and the
//! wrong bytes a corrupt node sends instead.
//!
//! Blocks are slices of one shared buffer, so sending one copies nothing.
//! A receiver "hashes" a piece by comparing each stored block with the
//! expected bytes: the outcome is the one a SHA-1 check would give.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// The content of a simulated torrent.
#[derive(Debug, Clone)]
pub struct Content {
    data: Bytes,
    /// The same bytes with every byte flipped: what corrupt nodes send.
    corrupt: Bytes,
    piece_length: u32,
}

impl Content {
    /// `total` bytes of pseudo-random content, from `seed`.
    pub fn new(total: u64, piece_length: u32, seed: u64) -> Content {
        let mut data = vec![0u8; usize::try_from(total).unwrap_or(usize::MAX)];
        StdRng::seed_from_u64(seed).fill_bytes(&mut data);
        let corrupt: Vec<u8> = data.iter().map(|b| !b).collect();
        Content {
            data: Bytes::from(data),
            corrupt: Bytes::from(corrupt),
            piece_length,
        }
    }

    /// Total size in bytes.
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Whether the content is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn range(&self, piece: u32, begin: u32, length: u32) -> Option<std::ops::Range<usize>> {
        let start = u64::from(piece) * u64::from(self.piece_length) + u64::from(begin);
        let end = start + u64::from(length);
        (end <= self.len()).then_some(start as usize..end as usize)
    }

    /// The true bytes of a block (`None` if it lies outside the content).
    pub fn block(&self, piece: u32, begin: u32, length: u32) -> Option<Bytes> {
        self.range(piece, begin, length).map(|r| self.data.slice(r))
    }

    /// Wrong bytes for a block.
    pub fn corrupt_block(&self, piece: u32, begin: u32, length: u32) -> Option<Bytes> {
        self.range(piece, begin, length)
            .map(|r| self.corrupt.slice(r))
    }

    /// Whether `data` is the true content of the block.
    pub fn is_correct(&self, piece: u32, begin: u32, data: &[u8]) -> bool {
        self.range(piece, begin, data.len() as u32)
            .is_some_and(|r| self.data[r] == *data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn true_blocks_check_and_corrupt_ones_do_not() {
        let c = Content::new(100_000, 32768, 7);
        let good = c.block(1, 16384, 16384).unwrap();
        let bad = c.corrupt_block(1, 16384, 16384).unwrap();
        assert!(c.is_correct(1, 16384, &good));
        assert!(!c.is_correct(1, 16384, &bad));
        assert!(c.block(3, 0, 16384).is_none(), "past the end");
        assert_eq!(
            Content::new(64, 32, 7).block(0, 0, 64),
            Content::new(64, 32, 7).block(0, 0, 64)
        );
    }
}
