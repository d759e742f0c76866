//! Checking pieces of a v2 torrent (BEP 52) against their files' merkle
//! trees: every 16 KiB block is hashed with SHA-256 (a leaf), the leaves of
//! a piece fold into its piece-layer hash, and that must equal the
//! torrent's `piece layers` entry (or the file's `pieces root` for a file
//! of one piece or less).
//!
//! A piece never holds two files' data in v2: it starts on a file
//! boundary, and only the file's tail padding may follow its last byte.
//! The leaves are taken over the file's bytes only (the last block of a
//! file may be short), never over that padding.

use shoal_metainfo::merkle::{self, Hash256};
use shoal_metainfo::{Layout, BLOCK_SIZE};

/// Whether every file of more than one piece has its piece layer, so every
/// piece can be checked.
pub(crate) fn layers_complete(layout: &Layout) -> bool {
    layout.files.iter().all(|f| {
        f.is_padding()
            || f.length == 0
            || f.attr.symlink
            || if f.length <= layout.piece_length {
                f.pieces_root.is_some()
            } else {
                f.piece_layer.len() as u64 == f.length.div_ceil(layout.piece_length)
            }
    })
}

/// The file bytes of `piece` within its `data` (the whole piece): `data`
/// without the padding after the file's end. `None` for an all-padding
/// piece.
fn file_part<'a>(layout: &Layout, piece: u32, data: &'a [u8]) -> Option<&'a [u8]> {
    let (fi, _) = layout.v2_piece_file(piece)?;
    let f = &layout.files[fi];
    let start = layout.piece_offset(piece);
    let end = (f.offset + f.length).min(start + data.len() as u64);
    data.get(..end.saturating_sub(start) as usize)
}

/// The SHA-256 leaf hash of every 16 KiB block of `piece`'s file bytes.
pub(crate) fn block_leaves(layout: &Layout, piece: u32, data: &[u8]) -> Vec<Hash256> {
    file_part(layout, piece, data)
        .map(|d| {
            d.chunks(merkle::BLOCK_SIZE)
                .map(merkle::leaf_hash)
                .collect()
        })
        .unwrap_or_default()
}

/// The hash `piece` has, from its leaves, to compare with
/// [`Layout::v2_piece_hash`]: the file's root for a file of one piece or
/// less, else the piece's subtree of `piece_length / 16 KiB` leaves.
pub(crate) fn piece_hash_of(layout: &Layout, piece: u32, leaves: &[Hash256]) -> Option<Hash256> {
    let (fi, _) = layout.v2_piece_file(piece)?;
    if layout.files[fi].length <= layout.piece_length {
        Some(merkle::file_root(leaves))
    } else {
        merkle::piece_hash(leaves, layout.piece_length / BLOCK_SIZE)
    }
}

/// Whether the whole `data` of `piece` matches the torrent's merkle
/// hashes. An all-padding piece matches when it is all zeros.
pub(crate) fn piece_matches(layout: &Layout, piece: u32, data: &[u8]) -> bool {
    if layout.v2_piece_file(piece).is_none() {
        return data.iter().all(|b| *b == 0);
    }
    let Some(want) = layout.v2_piece_hash(piece) else {
        return false;
    };
    let leaves = block_leaves(layout, piece, data);
    piece_hash_of(layout, piece, &leaves) == Some(want)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_metainfo::{CreateOptions, CreateProgress, Creator, MetaVersion, Torrent};

    #[test]
    fn pieces_of_a_v2_torrent_match_and_a_flipped_byte_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        std::fs::create_dir(&root).unwrap();
        // Two pieces and a bit, and a one-block file: padding between them.
        let a: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
        std::fs::write(root.join("a"), &a).unwrap();
        std::fs::write(root.join("b"), b"tiny").unwrap();
        let opts = CreateOptions {
            piece_length: Some(32 << 10),
            version: MetaVersion::V2,
            ..CreateOptions::default()
        };
        let (bytes, _) = Creator::scan(&root)
            .unwrap()
            .create(&opts, &CreateProgress::default())
            .unwrap();
        let t = Torrent::from_bytes(&bytes).unwrap();
        let l = &t.layout;
        assert!(layers_complete(l));
        let mut stream = Vec::new();
        for f in &l.files {
            if f.is_padding() {
                stream.extend(std::iter::repeat_n(0u8, f.length as usize));
            } else {
                stream.extend(std::fs::read(root.join(f.relative_path())).unwrap());
            }
        }
        for p in 0..l.piece_count {
            let start = l.piece_offset(p) as usize;
            let data = &stream[start..start + l.piece_size(p) as usize];
            assert!(piece_matches(l, p, data), "piece {p}");
            if l.v2_piece_file(p).is_some() {
                let mut bad = data.to_vec();
                bad[0] ^= 1;
                assert!(!piece_matches(l, p, &bad), "piece {p}");
            }
        }
    }
}
