//! BitTorrent v2 merkle trees (BEP 52): SHA-256 over 16 KiB blocks.
//!
//! Each file has its own tree. Its leaves are the SHA-256 of each 16 KiB
//! block (the last one may be short), padded with all-zero hashes to a
//! power of two; each node is the SHA-256 of its two children. A subtree
//! made only of padding therefore hashes to [`pad_hash`] of its height.
//!
//! Heights count from the leaves: height 0 is the block layer, height
//! `log2(piece_length / 16 KiB)` is the *piece layer* a `.torrent` stores
//! in `piece layers`, and the root (the file's `pieces root`) is at the
//! tree's full height.
//!
//! Proofs follow the `hash request` / `hashes` messages (BEP 52): a run of
//! `2^k` consecutive hashes at some base layer (starting at a multiple of
//! its length) plus one *uncle* per layer above the run's subtree, lowest
//! first. [`fold_proof`] climbs as far as the uncles go; [`verify_proof`]
//! checks the climb ends at the root.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a merkle node.
pub type Hash256 = [u8; 32];

/// The leaf size of every v2 merkle tree.
pub const BLOCK_SIZE: usize = 16 << 10;

/// Deepest tree handled: 2^50 bytes of 16 KiB blocks is 2^36 leaves.
pub const MAX_HEIGHT: u32 = 40;

/// The hash of one block (at most 16 KiB; the last block of a file may be
/// shorter and is hashed as it is, not padded).
pub fn leaf_hash(block: &[u8]) -> Hash256 {
    Sha256::digest(block).into()
}

/// A parent node: SHA-256 of the two children, left then right.
pub fn hash_pair(left: &Hash256, right: &Hash256) -> Hash256 {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of a subtree of `height` made only of padding: zero at the
/// leaves, `hash_pair(pad, pad)` above.
pub fn pad_hash(height: u32) -> Hash256 {
    let mut h = [0u8; 32];
    for _ in 0..height.min(MAX_HEIGHT) {
        h = hash_pair(&h, &h);
    }
    h
}

/// Number of leaves (blocks) of a file of `length` bytes.
pub fn block_count(length: u64) -> u64 {
    length.div_ceil(BLOCK_SIZE as u64)
}

/// Height of a tree over `leaves` leaves (padded to a power of two).
pub fn tree_height(leaves: u64) -> u32 {
    leaves.max(1).next_power_of_two().trailing_zeros()
}

/// The layer above `layer` (nodes at `height`), padding an odd end with
/// [`pad_hash`]`(height)`.
pub fn parent_layer(layer: &[Hash256], height: u32) -> Vec<Hash256> {
    let pad = pad_hash(height);
    layer
        .chunks(2)
        .map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&pad)))
        .collect()
}

/// The root over `nodes` sitting at `height`, as the subtree of `width`
/// positions at that height (a power of two, at least `nodes.len()`); the
/// missing positions are padding. Returns `None` if `width` is not a power
/// of two or is too small.
pub fn root_from_layer(nodes: &[Hash256], height: u32, width: u64) -> Option<Hash256> {
    if !width.is_power_of_two() || (nodes.len() as u64) > width || height > MAX_HEIGHT {
        return None;
    }
    let top = height + width.trailing_zeros();
    if top > MAX_HEIGHT {
        return None;
    }
    if nodes.is_empty() {
        return Some(pad_hash(top));
    }
    let mut layer = nodes.to_vec();
    let mut h = height;
    while h < top {
        layer = parent_layer(&layer, h);
        h += 1;
    }
    layer.first().copied()
}

/// The `pieces root` of a file from its leaf hashes (one per block).
pub fn file_root(leaves: &[Hash256]) -> Hash256 {
    let width = (leaves.len() as u64).max(1).next_power_of_two();
    root_from_layer(leaves, 0, width).unwrap_or([0; 32])
}

/// The hash of one piece from its blocks' leaf hashes: the subtree of
/// `blocks_per_piece` leaves (padded). This is the entry of the piece
/// layer; for a file of one piece or less the file's root is
/// [`file_root`] instead (its tree is narrower than a piece).
pub fn piece_hash(leaves: &[Hash256], blocks_per_piece: u64) -> Option<Hash256> {
    root_from_layer(leaves, 0, blocks_per_piece)
}

/// The root of a file larger than one piece from its piece layer.
/// `piece_height` is `log2(piece_length / 16 KiB)`. This is how a `.torrent`'s
/// `piece layers` entry is checked against its `pieces root`.
pub fn root_from_piece_layer(layer: &[Hash256], piece_height: u32) -> Option<Hash256> {
    let width = (layer.len() as u64).max(1).next_power_of_two();
    root_from_layer(layer, piece_height, width)
}

/// Every layer of one file's tree, leaves (padded to a power of two with
/// zero hashes) first, root last. Serves `hash request`s and checks
/// `hashes` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    layers: Vec<Vec<Hash256>>,
}

impl MerkleTree {
    /// The tree over these leaf hashes (one per 16 KiB block).
    pub fn from_leaves(leaves: &[Hash256]) -> MerkleTree {
        let width = (leaves.len().max(1)).next_power_of_two();
        let mut first = leaves.to_vec();
        first.resize(width, [0; 32]);
        let mut layers = vec![first];
        while layers.last().is_some_and(|l| l.len() > 1) {
            let h = layers.len() as u32 - 1;
            let next = parent_layer(&layers[layers.len() - 1], h);
            layers.push(next);
        }
        MerkleTree { layers }
    }

    /// The root (the file's `pieces root`).
    pub fn root(&self) -> Hash256 {
        self.layers
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or([0; 32])
    }

    /// Height of the root above the leaves.
    pub fn height(&self) -> u32 {
        self.layers.len() as u32 - 1
    }

    /// The nodes at `height` (0: leaves), padding included.
    pub fn layer(&self, height: u32) -> Option<&[Hash256]> {
        self.layers.get(height as usize).map(Vec::as_slice)
    }

    /// The proof for `length` hashes at `base` starting at `index` (a
    /// `hash request`): those hashes, then up to `proof_layers` uncles,
    /// lowest first. `None` when the request is malformed: `length` not a
    /// power of two, `index` not a multiple of it, or out of range.
    pub fn proof(
        &self,
        base: u32,
        index: u64,
        length: u64,
        proof_layers: u32,
    ) -> Option<(Vec<Hash256>, Vec<Hash256>)> {
        let layer = self.layer(base)?;
        if !length.is_power_of_two() || !index.is_multiple_of(length) {
            return None;
        }
        let end = index.checked_add(length)?;
        if end > layer.len() as u64 {
            return None;
        }
        let hashes = layer[index as usize..end as usize].to_vec();
        let mut uncles = Vec::new();
        let mut h = base + length.trailing_zeros();
        let mut i = index >> length.trailing_zeros();
        while h < self.height() && (uncles.len() as u32) < proof_layers {
            let l = &self.layers[h as usize];
            uncles.push(l[(i ^ 1) as usize]);
            h += 1;
            i >>= 1;
        }
        Some((hashes, uncles))
    }
}

/// Where a proof leads: the node at `height`/`index` and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofNode {
    /// Height above the leaves.
    pub height: u32,
    /// Index within that layer.
    pub index: u64,
    /// The computed hash.
    pub hash: Hash256,
}

/// Hash a run of `hashes` at `base` starting at `index` up to its subtree
/// root, then climb one layer per uncle. Returns the node reached, or
/// `None` if the run is malformed (empty, length not a power of two,
/// misaligned, or too high).
pub fn fold_proof(
    base: u32,
    index: u64,
    hashes: &[Hash256],
    uncles: &[Hash256],
) -> Option<ProofNode> {
    let len = hashes.len() as u64;
    if len == 0 || !len.is_power_of_two() || !index.is_multiple_of(len) {
        return None;
    }
    let mut height = base;
    let mut layer = hashes.to_vec();
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|p| hash_pair(&p[0], &p[1])).collect();
        height += 1;
    }
    let mut hash = layer[0];
    let mut i = index >> len.trailing_zeros();
    if height as usize + uncles.len() > MAX_HEIGHT as usize {
        return None;
    }
    for uncle in uncles {
        hash = if i & 1 == 0 {
            hash_pair(&hash, uncle)
        } else {
            hash_pair(uncle, &hash)
        };
        i >>= 1;
        height += 1;
    }
    Some(ProofNode {
        height,
        index: i,
        hash,
    })
}

/// Whether `hashes` at `base` from `index`, with `uncles`, prove against
/// `root`, the root of a tree `tree_height` high (see [`tree_height`]).
pub fn verify_proof(
    root: &Hash256,
    tree_height: u32,
    base: u32,
    index: u64,
    hashes: &[Hash256],
    uncles: &[Hash256],
) -> bool {
    fold_proof(base, index, hashes, uncles)
        .is_some_and(|n| n.height == tree_height && n.index == 0 && n.hash == *root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash256> {
        (0..n).map(|i| leaf_hash(&[i as u8; 100])).collect()
    }

    #[test]
    fn single_block_root_is_its_hash() {
        let l = leaves(1);
        assert_eq!(file_root(&l), l[0]);
        assert_eq!(MerkleTree::from_leaves(&l).root(), l[0]);
    }

    #[test]
    fn padding_uses_zero_leaves() {
        let l = leaves(3);
        let a = hash_pair(&l[0], &l[1]);
        let b = hash_pair(&l[2], &[0; 32]);
        assert_eq!(file_root(&l), hash_pair(&a, &b));
        assert_eq!(pad_hash(1), hash_pair(&[0; 32], &[0; 32]));
    }

    #[test]
    fn piece_layer_gives_the_same_root() {
        for n in [1usize, 2, 5, 8, 9, 33, 64, 100] {
            let l = leaves(n);
            let tree = MerkleTree::from_leaves(&l);
            assert_eq!(tree.root(), file_root(&l), "{n}");
            // Pieces of 4 blocks (height 2).
            if n > 4 {
                let layer: Vec<Hash256> = l.chunks(4).map(|c| piece_hash(c, 4).unwrap()).collect();
                assert_eq!(root_from_piece_layer(&layer, 2), Some(tree.root()), "{n}");
                assert_eq!(&tree.layer(2).unwrap()[..layer.len()], &layer[..]);
            }
        }
    }

    #[test]
    fn proofs_verify_and_tampering_fails() {
        let l = leaves(37);
        let tree = MerkleTree::from_leaves(&l);
        let root = tree.root();
        let height = tree.height();
        assert_eq!(height, tree_height(37));
        for (base, index, len) in [
            (0u32, 0u64, 1u64),
            (0, 8, 4),
            (0, 36, 1),
            (1, 4, 4),
            (2, 0, 8),
        ] {
            let (hashes, uncles) = tree.proof(base, index, len, 64).unwrap();
            assert_eq!(hashes.len() as u64, len);
            assert!(verify_proof(&root, height, base, index, &hashes, &uncles));
            let mut bad = hashes.clone();
            bad[0][0] ^= 1;
            assert!(!verify_proof(&root, height, base, index, &bad, &uncles));
            if let Some(u) = uncles.first() {
                let mut bad_uncles = uncles.clone();
                bad_uncles[0] = [u[0] ^ 1; 32];
                assert!(!verify_proof(
                    &root,
                    height,
                    base,
                    index,
                    &hashes,
                    &bad_uncles
                ));
            }
            // Wrong position.
            assert!(!verify_proof(
                &root,
                height,
                base,
                index + len,
                &hashes,
                &uncles
            ));
        }
        // A partial proof lands on a node of a known layer.
        let (hashes, uncles) = tree.proof(0, 8, 4, 1).unwrap();
        let node = fold_proof(0, 8, &hashes, &uncles).unwrap();
        assert_eq!((node.height, node.index), (3, 1));
        assert_eq!(node.hash, tree.layer(3).unwrap()[1]);
        // Malformed requests.
        assert!(tree.proof(0, 3, 2, 8).is_none());
        assert!(tree.proof(0, 0, 3, 8).is_none());
        assert!(tree.proof(0, 64, 1, 8).is_none());
        assert!(tree.proof(99, 0, 1, 8).is_none());
        assert!(fold_proof(0, 0, &[], &[]).is_none());
        assert!(fold_proof(0, 1, &hashes, &[]).is_none());
    }
}
