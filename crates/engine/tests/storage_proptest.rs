//! Property test of the write cache: blocks cut anywhere (overlapping,
//! unaligned, repeated, some with bad data), any cache size, any order.
//! Only pieces sent bad data ever fail, every piece ends verified exactly
//! once, the files equal the source, and
//! memory never exceeds the cap by more than one block.

mod storage_support;

use proptest::prelude::*;
use shoal_engine::storage::{StorageConfig, WriteOutcome};
use std::collections::HashSet;
use storage_support::multi;

/// (piece, begin, len, corrupt) with begin and len relative to the piece.
fn block() -> impl Strategy<Value = (u32, u32, u32, bool)> {
    (0u32..5, 0u32..16384, 1u32..20000, prop::bool::weighted(0.1))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_blocks_round_trip(
        blocks in prop::collection::vec(block(), 0..80),
        cap in 1usize..100_000,
        order_seed in any::<u64>(),
    ) {
        let fx = multi(
            "p",
            16 << 10,
            &[("a", 20_000), ("e", 0), ("b", 7), ("c/d", 50_000), ("f", 1)],
            3,
        );
        let l = &fx.torrent.layout;
        let dir = tempfile::tempdir().unwrap();
        let s = fx.open(
            dir.path(),
            StorageConfig { write_cache_bytes: cap, ..StorageConfig::default() },
        );
        let mut verified = HashSet::new();
        let mut corrupted = HashSet::new();
        let mut record = |p: u32, r: WriteOutcome, corrupted: &HashSet<u32>| match r {
            WriteOutcome::Verified => assert!(verified.insert(p), "piece {p} verified twice"),
            // Only a piece that was sent bad data may fail.
            WriteOutcome::Failed => assert!(corrupted.contains(&p), "piece {p} failed"),
            _ => {}
        };
        // Random cuts, clamped into their piece.
        for (p, begin, len, corrupt) in blocks {
            let p = p % l.piece_count;
            let size = l.piece_size(p) as u32;
            let begin = begin % size;
            let len = len.min(size - begin);
            let mut data = fx.data(p, begin, len).to_vec();
            if corrupt {
                data[0] ^= 0x80;
                corrupted.insert(p);
            }
            record(p, s.write_block(p, begin, &data).unwrap(), &corrupted);
            prop_assert!(s.cache_stats().mem_bytes <= cap.max(1) + 20_000);
        }
        // Then the regular blocks, rotated, until everything is verified
        // (a piece that took a bad cut fails once and is written again).
        let mut all = fx.blocks();
        let n = all.len();
        all.rotate_left((order_seed % n as u64) as usize);
        for _ in 0..2 {
            for &(p, begin, len) in &all {
                let r = s.write_block(p, begin, fx.data(p, begin, len)).unwrap();
                record(p, r, &corrupted);
            }
        }
        prop_assert!(s.verified().is_complete());
        prop_assert_eq!(verified.len(), l.piece_count as usize);
        let stats = s.cache_stats();
        prop_assert_eq!(stats.mem_bytes, 0);
        prop_assert!(stats.peak_bytes <= cap + 20_000, "{:?}", stats);
        fx.assert_files_equal(dir.path());
    }
}
