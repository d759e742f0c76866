//! Checks shared by the metainfo fuzz targets and the corpus-replay test.
#![allow(dead_code)]

fn safe_components(path: &[String]) {
    assert!(!path.is_empty());
    for c in path {
        assert!(!c.is_empty() && c != "." && c != "..");
        assert!(!c.contains('/') && !c.contains('\\') && !c.contains('\0'));
        assert!(c.len() <= 255);
    }
}

/// Parse `data` as a .torrent (v1, v2 or hybrid); an accepted torrent must
/// be consistent, every on-disk path safe and distinct, and no file also a
/// folder.
pub fn torrent(data: &[u8]) {
    use std::collections::HashSet;
    if let Ok(t) = shoal_metainfo::Torrent::from_bytes(data) {
        let v = t.meta_version();
        if v.has_v1() {
            assert_eq!(t.piece_hashes.len(), t.piece_count() as usize);
        } else {
            assert!(t.piece_hashes.is_empty());
            assert_eq!(t.info_hash_v2().map(|h| h.truncated()), Some(t.info_hash));
        }
        assert!(t.total_length() > 0);
        let mut files = HashSet::new();
        let mut dirs = HashSet::new();
        let mut sum = 0;
        for f in &t.layout.files {
            assert_eq!(f.offset, sum);
            sum += f.length;
            safe_components(&f.path);
            if let Some(target) = &f.symlink_target {
                safe_components(target);
                assert_eq!(f.length, 0);
            }
            if f.is_padding() {
                continue;
            }
            assert!(files.insert(f.path.clone()), "duplicate {:?}", f.path);
            for depth in 1..f.path.len() {
                dirs.insert(f.path[..depth].to_vec());
            }
            if v.has_v2() && f.length > 0 {
                assert_eq!(f.offset % t.layout.piece_length, 0);
                assert!(f.pieces_root.is_some());
            }
        }
        assert_eq!(sum, t.total_length());
        assert!(files.is_disjoint(&dirs));
        for r in &t.layout.renames {
            assert!(r.file.is_none_or(|i| i < t.layout.files.len()));
        }
        let m = t.magnet();
        let again =
            shoal_metainfo::Magnet::parse(&m.to_string()).map(|m| (m.info_hash, m.info_hash_v2));
        assert_eq!(again.ok(), Some((m.info_hash, m.info_hash_v2)));
    }
}

/// A merkle proof built from a tree over leaves derived from `data` must
/// verify, and must not once a byte of it (or of the claimed position)
/// changes. The proof request (base, index, length) comes from the input.
pub fn merkle_proof(data: &[u8]) {
    use shoal_metainfo::merkle::{fold_proof, leaf_hash, verify_proof, MerkleTree};
    if data.len() < 4 {
        return;
    }
    let leaves: Vec<[u8; 32]> = data[4..].chunks(3).take(300).map(leaf_hash).collect();
    if leaves.is_empty() {
        return;
    }
    let tree = MerkleTree::from_leaves(&leaves);
    let base = u32::from(data[0] % 6);
    let length = 1u64 << (data[1] % 5);
    let index = u64::from(data[2]) * length;
    let flip = data[3];
    // Arbitrary hashes folded must never panic.
    let junk: Vec<[u8; 32]> = data.chunks(32).take(8).map(leaf_hash).collect();
    let _ = fold_proof(base, index, &junk, &junk);
    let Some((hashes, uncles)) = tree.proof(base, index, length, 64) else {
        return;
    };
    let root = tree.root();
    let h = tree.height();
    assert!(verify_proof(&root, h, base, index, &hashes, &uncles));
    let mut bad = hashes.clone();
    let i = usize::from(flip) % bad.len();
    bad[i][usize::from(flip) % 32] ^= 1 << (flip % 8);
    assert!(!verify_proof(&root, h, base, index, &bad, &uncles));
    if !uncles.is_empty() {
        let mut bad = uncles.clone();
        let i = usize::from(flip) % bad.len();
        bad[i][0] ^= 1;
        assert!(!verify_proof(&root, h, base, index, &hashes, &bad));
    }
}

/// Parse `data` as a magnet link; an accepted link must round-trip.
pub fn magnet(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(m) = shoal_metainfo::Magnet::parse(s) {
            let again = shoal_metainfo::Magnet::parse(&m.to_string());
            assert_eq!(again.as_ref().ok(), Some(&m));
        }
    }
}
