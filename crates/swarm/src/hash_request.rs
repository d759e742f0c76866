//! BEP 52 hash exchange, sans-I/O: answering `hash request`s for piece
//! layers from a torrent's `piece layers` ([`answer`]), and getting the
//! piece layers a magnet link's info dictionary lacks from peers
//! ([`LayerFetch`]), every answer checked against the file's `pieces root`
//! by its merkle proof before it is used.

use shoal_metainfo::merkle::{self, Hash256};
use shoal_metainfo::{Layout, BLOCK_SIZE};
use shoal_wire::HashRange;
use std::collections::HashMap;
use thiserror::Error;

/// Most hashes asked for in one request: 256 hashes (8 KiB) plus the
/// proof fit the default frame limit of every peer.
pub const MAX_REQUEST_HASHES: u32 = 256;

/// Largest `length` of a request we answer (libtorrent's own limit).
pub const MAX_ANSWER_HASHES: u32 = 8192;

/// Why a `hashes` answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashError {
    /// It answers nothing we asked.
    #[error("hashes for a range we did not ask")]
    Unrequested,
    /// Its proof does not lead to the file's root.
    #[error("hashes whose proof does not match the file's root")]
    BadProof,
}

/// Height of the piece layer: `log2(piece_length / 16 KiB)`.
pub fn piece_height(layout: &Layout) -> u32 {
    (layout.piece_length / BLOCK_SIZE).max(1).trailing_zeros()
}

/// The full height of file `len` bytes' tree.
fn tree_height(len: u64) -> u32 {
    merkle::tree_height(merkle::block_count(len))
}

/// The file whose root is `root`, with a piece layer (more than one piece).
fn layered_file(layout: &Layout, root: &Hash256) -> Option<usize> {
    layout
        .files
        .iter()
        .position(|f| f.pieces_root.as_ref() == Some(root) && f.length > layout.piece_length)
}

/// The answer to `req` (base hashes then uncles, lowest first) from the
/// piece layers of `layout`, or `None` to reject it: a file we do not know
/// or whose layer we lack, a base other than the piece layer, a malformed
/// or oversized range.
pub fn answer(layout: &Layout, req: &HashRange) -> Option<Vec<Hash256>> {
    let ph = piece_height(layout);
    if req.base_layer != ph
        || req.length == 0
        || req.length > MAX_ANSWER_HASHES
        || !req.length.is_power_of_two()
        || !req.index.is_multiple_of(req.length)
    {
        return None;
    }
    let f = &layout.files[layered_file(layout, &req.pieces_root)?];
    let pieces = f.length.div_ceil(layout.piece_length) as usize;
    if f.piece_layer.len() != pieces {
        return None;
    }
    let top = tree_height(f.length);
    let width = 1usize << (top - ph);
    let (index, length) = (req.index as usize, req.length as usize);
    if index + length > width {
        return None;
    }
    let mut layer = f.piece_layer.clone();
    layer.resize(width, merkle::pad_hash(ph));
    let hashes = layer[index..index + length].to_vec();
    let mut out = hashes;
    // Climb to the requested subtree's root, then one uncle per layer.
    let mut h = ph;
    let mut i = index;
    let mut n = length;
    while n > 1 {
        layer = merkle::parent_layer(&layer, h);
        h += 1;
        i >>= 1;
        n >>= 1;
    }
    let mut uncles = 0;
    while h < top && uncles < req.proof_layers {
        out.push(layer[i ^ 1]);
        layer = merkle::parent_layer(&layer, h);
        h += 1;
        i >>= 1;
        uncles += 1;
    }
    Some(out)
}

/// Getting the piece layers a torrent lacks (a magnet link's dictionary
/// has none) from peers: [`LayerFetch::requests`] lists what to ask, each
/// answer goes to [`LayerFetch::on_hashes`], and once
/// [`LayerFetch::is_done`] [`LayerFetch::apply`] fills the layout.
#[derive(Debug, Clone)]
pub struct LayerFetch {
    /// Requests not yet answered, by range.
    wanted: Vec<(usize, HashRange)>,
    /// Layers being filled, by file index (piece-layer width, padded).
    got: HashMap<usize, Vec<Option<Hash256>>>,
}

impl LayerFetch {
    /// What `layout` lacks: the piece layer of every file of more than
    /// one piece that has none.
    pub fn new(layout: &Layout) -> LayerFetch {
        let ph = piece_height(layout);
        let mut wanted = Vec::new();
        let mut got = HashMap::new();
        for (i, f) in layout.files.iter().enumerate() {
            let Some(root) = f.pieces_root else { continue };
            if f.length <= layout.piece_length || f.is_padding() {
                continue;
            }
            let pieces = f.length.div_ceil(layout.piece_length);
            if f.piece_layer.len() as u64 == pieces {
                continue;
            }
            let top = tree_height(f.length);
            let width = 1u64 << (top - ph);
            let chunk = width.min(u64::from(MAX_REQUEST_HASHES));
            let mut index = 0u64;
            while index < pieces {
                wanted.push((
                    i,
                    HashRange {
                        pieces_root: root,
                        base_layer: ph,
                        index: index as u32,
                        length: chunk as u32,
                        proof_layers: top - ph - chunk.trailing_zeros(),
                    },
                ));
                index += chunk;
            }
            got.insert(i, vec![None; pieces as usize]);
        }
        LayerFetch { wanted, got }
    }

    /// The requests still unanswered.
    pub fn requests(&self) -> impl Iterator<Item = &HashRange> {
        self.wanted.iter().map(|(_, r)| r)
    }

    /// Whether every layer is complete.
    pub fn is_done(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Take a `hashes` answer: it must answer an open request and prove
    /// against the file's root.
    pub fn on_hashes(
        &mut self,
        layout: &Layout,
        range: &HashRange,
        hashes: &[Hash256],
    ) -> Result<(), HashError> {
        let Some(pos) = self.wanted.iter().position(|(_, r)| {
            r.pieces_root == range.pieces_root
                && r.base_layer == range.base_layer
                && r.index == range.index
                && r.length == range.length
        }) else {
            return Err(HashError::Unrequested);
        };
        let (file, req) = self.wanted[pos];
        let len = req.length as usize;
        if hashes.len() < len {
            return Err(HashError::BadProof);
        }
        let (base, uncles) = hashes.split_at(len);
        let top = tree_height(layout.files[file].length);
        if !merkle::verify_proof(
            &req.pieces_root,
            top,
            req.base_layer,
            u64::from(req.index),
            base,
            uncles,
        ) {
            return Err(HashError::BadProof);
        }
        if let Some(layer) = self.got.get_mut(&file) {
            for (slot, h) in layer.iter_mut().skip(req.index as usize).zip(base) {
                *slot = Some(*h);
            }
        }
        self.wanted.swap_remove(pos);
        Ok(())
    }

    /// Put the layers fetched into `layout` (only complete ones).
    pub fn apply(self, layout: &mut Layout) {
        for (file, layer) in self.got {
            if let (Some(f), Some(layer)) = (
                layout.files.get_mut(file),
                layer.into_iter().collect::<Option<Vec<_>>>(),
            ) {
                f.piece_layer = layer;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_metainfo::{CreateOptions, CreateProgress, Creator, MetaVersion, Torrent};

    /// A v2 torrent with a 9-piece file, a 300-piece one and a small one.
    fn torrent() -> Torrent {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        std::fs::create_dir(&root).unwrap();
        let bytes = |n: usize, s: u8| {
            (0..n)
                .map(|i| (i as u8).wrapping_mul(s))
                .collect::<Vec<u8>>()
        };
        std::fs::write(root.join("a"), bytes(9 * 16_384 - 5, 3)).unwrap();
        std::fs::write(root.join("b"), bytes(300 * 16_384 + 1, 5)).unwrap();
        std::fs::write(root.join("c"), bytes(100, 7)).unwrap();
        let opts = CreateOptions {
            piece_length: Some(16_384),
            version: MetaVersion::V2,
            ..CreateOptions::default()
        };
        Creator::scan(&root)
            .unwrap()
            .create(&opts, &CreateProgress::default())
            .unwrap()
            .1
    }

    #[test]
    fn layers_fetched_from_answers_equal_the_torrents() {
        let full = torrent();
        let mut bare = Torrent::from_info_bytes(&full.info_bytes).unwrap();
        let mut fetch = LayerFetch::new(&bare.layout);
        let reqs: Vec<HashRange> = fetch.requests().copied().collect();
        // a: one request of 16; b: two of 256 (width 512).
        assert_eq!(reqs.len(), 3);
        assert!(!fetch.is_done());
        for r in &reqs {
            let hashes = answer(&full.layout, r).expect("answerable");
            // A tampered answer is refused and leaves the request open.
            let mut bad = hashes.clone();
            bad[0][0] ^= 1;
            assert_eq!(
                fetch.on_hashes(&bare.layout, r, &bad),
                Err(HashError::BadProof)
            );
            fetch.on_hashes(&bare.layout, r, &hashes).unwrap();
            assert_eq!(
                fetch.on_hashes(&bare.layout, r, &hashes),
                Err(HashError::Unrequested)
            );
        }
        assert!(fetch.is_done());
        fetch.apply(&mut bare.layout);
        for (a, b) in bare.layout.files.iter().zip(&full.layout.files) {
            assert_eq!(a.piece_layer, b.piece_layer);
        }
    }

    #[test]
    fn requests_we_cannot_answer_are_rejected() {
        let t = torrent();
        let root = t.layout.files[0].pieces_root.unwrap();
        let ok = HashRange {
            pieces_root: root,
            base_layer: 0,
            index: 0,
            length: 4,
            proof_layers: 2,
        };
        assert!(answer(&t.layout, &ok).is_some());
        for bad in [
            HashRange {
                base_layer: 1,
                ..ok
            },
            HashRange { index: 2, ..ok },
            HashRange { length: 3, ..ok },
            HashRange { index: 16, ..ok },
            HashRange {
                pieces_root: [9; 32],
                ..ok
            },
            HashRange {
                length: 1 << 20,
                ..ok
            },
        ] {
            assert!(answer(&t.layout, &bad).is_none(), "{bad:?}");
        }
    }
}
