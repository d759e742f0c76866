//! Availability order: pieces sorted into buckets of equal key (rarest
//! first), libtorrent's piece-priority boundaries.
//!
//! A [`BucketOrder`] holds every piece of the torrent in one array sorted by
//! a small integer key per piece. Key 0 means "not in this order"; the
//! picker gives a piece it may pick the key `1 + availability`, so walking
//! the array from the start of bucket 1 visits the rarest pieces first.
//! Changing a key moves the piece one bucket at a time by swapping it with
//! the bucket's edge element — O(1) per bucket crossed, and an availability
//! change crosses one — and then with a random element of its new bucket,
//! which keeps ties in random order.
//!
//! The pieces in progress with a free block are kept apart, in an
//! [`OpenOrder`]: they enter and leave it far more often than pieces change
//! availability, and a [`BucketOrder`] move from or to key 0 crosses every
//! bucket in between (one per distinct availability, up to the number of
//! peers).

use std::collections::BTreeSet;

use crate::fixed_hash::HashMap;

use rand::rngs::StdRng;
use rand::Rng;

/// Pieces sorted by key, in buckets of equal key.
#[derive(Debug, Clone)]
pub(super) struct BucketOrder {
    /// All pieces, sorted by key.
    order: Vec<u32>,
    /// Position of each piece in `order`.
    pos: Vec<u32>,
    /// Key of each piece.
    key: Vec<u32>,
    /// Start index in `order` of each key's bucket (a key beyond the end
    /// has an empty bucket at the end of `order`).
    bounds: Vec<u32>,
}

impl BucketOrder {
    /// Every piece in bucket 1, in the given order.
    pub(super) fn with_key_one(order: Vec<u32>) -> Self {
        let mut pos = vec![0u32; order.len()];
        for (i, &p) in order.iter().enumerate() {
            pos[p as usize] = i as u32;
        }
        BucketOrder {
            key: vec![1; order.len()],
            bounds: vec![0, 0],
            order,
            pos,
        }
    }

    fn len(&self) -> u32 {
        self.order.len() as u32
    }

    /// Index in the order where the bucket of key `k` starts (the end of
    /// the order if every key is smaller).
    pub(super) fn start(&self, k: u32) -> u32 {
        self.bounds.get(k as usize).copied().unwrap_or(self.len())
    }

    /// The piece at index `i` of the order.
    pub(super) fn at(&self, i: u32) -> u32 {
        self.order[i as usize]
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

    /// Moves `piece` to the bucket of key `target`, one bucket at a time,
    /// then to a random position inside it (unless `target` is 0).
    pub(super) fn set_key(&mut self, piece: u32, target: u32, rng: &mut StdRng) {
        let p = piece as usize;
        let mut k = self.key[p];
        if k == target {
            return;
        }
        while k < target {
            if k as usize + 1 == self.bounds.len() {
                self.bounds.push(self.len());
            }
            let last = self.bounds[k as usize + 1] - 1;
            self.swap_positions(self.pos[p], last);
            self.bounds[k as usize + 1] -= 1;
            k += 1;
        }
        while k > target {
            let first = self.bounds[k as usize];
            self.swap_positions(self.pos[p], first);
            self.bounds[k as usize] += 1;
            k -= 1;
        }
        self.key[p] = k;
        if k > 0 {
            let (lo, hi) = (self.start(k), self.start(k + 1));
            if hi - lo > 1 {
                let r = rng.gen_range(lo..hi);
                self.swap_positions(self.pos[p], r);
            }
        }
    }

    /// Checks the structure, and that every piece's key is `desired(piece)`;
    /// panics on violation. For tests.
    #[cfg(test)]
    pub(super) fn check(&self, desired: impl Fn(u32) -> u32) {
        for (i, &p) in self.order.iter().enumerate() {
            assert_eq!(self.pos[p as usize] as usize, i);
        }
        for p in 0..self.len() {
            let k = self.key[p as usize];
            assert_eq!(k, desired(p), "key of piece {p}");
            let at = self.pos[p as usize];
            assert!(self.start(k) <= at && at < self.start(k + 1));
        }
    }
}

/// The pieces in progress that have a free block ("open"), rarest first,
/// ties in random order.
///
/// Unlike [`BucketOrder`] it holds only its members, so a piece entering
/// or leaving it costs O(log open pieces), not one step per bucket of
/// availability.
#[derive(Debug, Clone, Default)]
pub(super) struct OpenOrder {
    /// (availability key, random tie-breaker, piece).
    set: BTreeSet<(u32, u32, u32)>,
    /// Key and tie-breaker of each member.
    members: HashMap<u32, (u32, u32)>,
}

impl OpenOrder {
    /// Makes `piece` a member with availability key `key`, or removes it
    /// (`None`). A member keeps its tie-breaker while its key changes.
    pub(super) fn set(&mut self, piece: u32, key: Option<u32>, rng: &mut StdRng) {
        match (self.members.get(&piece).copied(), key) {
            (None, None) => {}
            (Some((old, _)), Some(new)) if old == new => {}
            (Some((old, tie)), Some(new)) => {
                self.set.remove(&(old, tie, piece));
                self.set.insert((new, tie, piece));
                self.members.insert(piece, (new, tie));
            }
            (Some((old, tie)), None) => {
                self.set.remove(&(old, tie, piece));
                self.members.remove(&piece);
            }
            (None, Some(new)) => {
                let tie = rng.gen();
                self.set.insert((new, tie, piece));
                self.members.insert(piece, (new, tie));
            }
        }
    }

    /// The members with a key of at least `min`, lowest key first.
    pub(super) fn keyed_at_least(&self, min: u32) -> impl Iterator<Item = u32> + '_ {
        self.set.range((min, 0, 0)..).map(|&(_, _, p)| p)
    }

    /// Checks that the members and their keys are exactly `desired` (for
    /// pieces `0..pieces`); panics otherwise. For tests.
    #[cfg(test)]
    pub(super) fn check(&self, pieces: u32, desired: impl Fn(u32) -> Option<u32>) {
        assert_eq!(self.set.len(), self.members.len());
        for p in 0..pieces {
            let got = self.members.get(&p).map(|&(k, _)| k);
            assert_eq!(got, desired(p), "open key of piece {p}");
            if let Some(&(k, t)) = self.members.get(&p) {
                assert!(self.set.contains(&(k, t, p)));
            }
        }
    }
}
