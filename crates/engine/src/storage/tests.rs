//! Unit tests of the storage: vectored writes, the memory bound on a huge
//! sparse torrent, spilled pieces verified by read-back, and the async
//! handle under concurrency.

use super::*;
use shoal_metainfo::InfoHash;
use std::fs::File;

/// Deterministic content: byte `i` of the stream.
fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn content(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| byte_at(offset + i)).collect()
}

/// A torrent built directly (no metainfo round trip), with real hashes for
/// the pieces listed in `hashed` (all if `None`) and zero hashes elsewhere.
fn torrent(piece_length: u64, files: Vec<(Vec<String>, u64)>, hashed: Option<&[u32]>) -> Torrent {
    let multi = files.len() > 1;
    let layout = Layout::new(piece_length, files, multi).unwrap();
    let piece_hashes = (0..layout.piece_count)
        .map(|p| {
            if hashed.is_none_or(|h| h.contains(&p)) {
                let len = layout.piece_size(p) as usize;
                Sha1::digest(content(layout.piece_offset(p), len)).into()
            } else {
                [0u8; 20]
            }
        })
        .collect();
    Torrent {
        info_hash: InfoHash([3; 20]),
        info_bytes: Vec::new(),
        name: "t".into(),
        layout,
        piece_hashes,
        private: false,
        source: None,
        trackers: Vec::new(),
        web_seeds: Vec::new(),
        comment: None,
        created_by: None,
        creation_date: None,
    }
}

fn config(cap: usize) -> StorageConfig {
    StorageConfig {
        write_cache_bytes: cap,
        ..StorageConfig::default()
    }
}

fn write_piece(s: &Storage, p: u32, block: u32) -> WriteOutcome {
    let l = &s.torrent.layout;
    let size = l.piece_size(p) as u32;
    let mut last = WriteOutcome::Stored;
    for begin in (0..size).step_by(block as usize) {
        let len = block.min(size - begin);
        let data = content(l.piece_offset(p) + u64::from(begin), len as usize);
        last = s.write_block(p, begin, &data).unwrap();
    }
    last
}

#[test]
fn cursor_splits_buffers_at_any_point() {
    let a = [1u8, 2, 3];
    let b = [4u8];
    let c = [5u8, 6];
    let bufs: [&[u8]; 3] = [&a, &b, &c];
    let mut cur = Cursor::new(&bufs);
    assert_eq!(cur.take(2).concat(), [1, 2]);
    assert_eq!(cur.take(3).concat(), [3, 4, 5]);
    assert_eq!(cur.take(9).concat(), [6]);
    assert!(cur.take(1).is_empty());
}

#[test]
fn pwrite_all_handles_more_slices_than_iov_max() {
    let dir = tempfile::tempdir().unwrap();
    let f = File::create(dir.path().join("f")).unwrap();
    let data: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| vec![i as u8; (i % 7) as usize])
        .collect();
    let slices: Vec<&[u8]> = data.iter().map(|v| &v[..]).collect();
    pwrite_all(&f, &slices, 5).unwrap();
    let got = std::fs::read(dir.path().join("f")).unwrap();
    assert_eq!(&got[5..], &data.concat()[..]);
}

#[test]
fn memory_stays_flat_on_a_1_gib_sparse_torrent() {
    // 1 GiB in 1,024 pieces of 1 MiB. One block of every piece arrives
    // (the worst case: a thousand partial pieces), then three pieces are
    // finished: two had spilled, and are verified without reading back
    // (their spilled first blocks were hashed before they left memory).
    let dir = tempfile::tempdir().unwrap();
    let t = torrent(
        1 << 20,
        vec![(vec!["big".into()], 1 << 30)],
        Some(&[0, 7, 1023]),
    );
    let cap = 4 << 20;
    let block = 16 << 10;
    let s = Storage::open(Arc::new(t), dir.path(), config(cap)).unwrap();
    for p in 0..1024u32 {
        let data = content(u64::from(p) << 20, block);
        assert_eq!(s.write_block(p, 0, &data).unwrap(), WriteOutcome::Stored);
        assert!(s.cache_stats().mem_bytes <= cap);
    }
    let stats = s.cache_stats();
    assert!(stats.peak_bytes <= cap + block, "{stats:?}");
    assert!(
        stats.spilled_bytes >= (1024 * block - cap) as u64,
        "{stats:?}"
    );
    assert_eq!(stats.pieces_in_progress, 1024);
    for p in [0u32, 7, 1023] {
        assert_eq!(write_piece(&s, p, block as u32), WriteOutcome::Verified);
    }
    // Piece 1 completes with wrong data (its hash is zero): Failed.
    assert_eq!(write_piece(&s, 1, block as u32), WriteOutcome::Failed);
    assert!(s.cache_stats().peak_bytes <= cap + block);
    let file = std::fs::metadata(dir.path().join("big")).unwrap();
    assert_eq!(file.len(), 1 << 30, "preallocated to full length");
    use std::os::unix::fs::MetadataExt;
    assert!(
        file.blocks() * 512 < 256 << 20,
        "sparse: {} blocks",
        file.blocks()
    );
    assert_eq!(s.verified().count_ones(), 3);
    assert_eq!(s.read_back_bytes(), 0, "in-order pieces were read back");
    for p in [0u32, 7, 1023] {
        assert!(s.hash_piece(p).unwrap());
    }
}

#[test]
fn spilled_blocks_ahead_of_a_gap_are_read_back_and_the_rest_is_not() {
    // Pieces of 64 KiB in four blocks, a cache of 16 KiB: every other
    // write spills. Piece 0 arrives in order; piece 1 last block first.
    let dir = tempfile::tempdir().unwrap();
    let t = torrent(64 << 10, vec![(vec!["f".into()], 256 << 10)], None);
    let s = Storage::open(Arc::new(t), dir.path(), config(16 << 10)).unwrap();
    let block = 16u32 << 10;
    let write = |p: u32, i: u32| {
        let begin = i * block;
        let data = content(u64::from(p) * (64 << 10) + u64::from(begin), block as usize);
        s.write_block(p, begin, &data).unwrap()
    };
    for i in 0..4 {
        write(0, i);
        write(2, i); // interleaved, so piece 0 spills between its blocks
    }
    assert!(s.has_piece(0) && s.has_piece(2));
    assert!(s.cache_stats().spilled_bytes > 0);
    assert_eq!(s.read_back_bytes(), 0, "in order: nothing read back");
    for i in [3, 2, 1, 0] {
        write(1, i);
        write(3, 3 - i);
    }
    assert!(s.has_piece(1) && s.has_piece(3));
    let back = s.read_back_bytes();
    assert!(back > 0, "blocks spilled ahead of a gap must be read back");
    assert!(back <= 2 * (64 << 10), "read back {back} bytes");
    for p in 0..4 {
        assert!(s.hash_piece(p).unwrap());
    }
}

#[test]
fn spilled_piece_with_bad_data_fails_and_can_be_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let t = torrent(64 << 10, vec![(vec!["f".into()], 256 << 10)], None);
    let s = Storage::open(Arc::new(t), dir.path(), config(16 << 10)).unwrap();
    // Half of piece 2 with garbage, then enough of others to spill it.
    s.write_block(2, 0, &[0xee; 16 << 10]).unwrap();
    s.write_block(2, 16 << 10, &content((2 << 16) + (16 << 10), 16 << 10))
        .unwrap();
    s.write_block(0, 0, &content(0, 16 << 10)).unwrap();
    assert!(s.cache_stats().spilled_bytes >= 32 << 10);
    let rest = content((2 << 16) + (32 << 10), 32 << 10);
    assert_eq!(
        s.write_block(2, 32 << 10, &rest).unwrap(),
        WriteOutcome::Failed
    );
    assert!(!s.has_piece(2));
    assert_eq!(write_piece(&s, 2, 16 << 10), WriteOutcome::Verified);
    assert!(s.hash_piece(2).unwrap());
}

#[test]
fn inconsistent_torrent_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = torrent(16 << 10, vec![(vec!["f".into()], 100)], None);
    t.piece_hashes.clear();
    assert!(matches!(
        Storage::open(Arc::new(t), dir.path(), config(1 << 20)),
        Err(StorageError::InvalidTorrent(_))
    ));
    let mut t = torrent(
        16 << 10,
        vec![(vec!["a".into()], 1), (vec!["..".into()], 1)],
        None,
    );
    assert!(matches!(
        Storage::open(Arc::new(t.clone()), dir.path(), config(1 << 20)),
        Err(StorageError::UnsafePath { .. })
    ));
    t.layout.files[1].path = vec!["x".into(), "a/b".into()];
    assert!(Storage::open(Arc::new(t), dir.path(), config(1 << 20)).is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn async_handle_many_writers_bounded_memory() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let piece = 64u64 << 10;
    let t = torrent(
        piece,
        vec![
            (vec!["a".into()], 3 << 20),
            (vec!["b".into()], 5),
            (vec!["c".into()], (5 << 20) + 17),
        ],
        None,
    );
    let pieces = t.layout.piece_count;
    let cap = 512 << 10;
    let handle = StorageHandle::new(Storage::open(Arc::new(t), dir.path(), config(cap)).unwrap());
    let writers = 8u32;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..writers {
            let h = handle.clone();
            tasks.push(tokio::spawn(async move {
                let mut verified = 0;
                // Writer w takes pieces w, w+8, ...; blocks of several
                // pieces interleave so many pieces are partial at once.
                let mine: Vec<u32> = (w..pieces).step_by(writers as usize).collect();
                for chunk in mine.chunks(3) {
                    for begin in (0..piece as u32).step_by(16 << 10) {
                        for &p in chunk {
                            let l = &h.storage().torrent().layout;
                            let size = l.piece_size(p) as u32;
                            if begin >= size {
                                continue;
                            }
                            let len = (16 << 10).min(size - begin);
                            let data = content(l.piece_offset(p) + u64::from(begin), len as usize);
                            match h.write_block(p, begin, Bytes::from(data)).await.unwrap() {
                                WriteOutcome::Verified => verified += 1,
                                WriteOutcome::Stored => {}
                                other => panic!("piece {p}: {other:?}"),
                            }
                        }
                    }
                }
                verified
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        assert_eq!(total, pieces);
        assert!(handle.verified().is_complete());
        let stats = handle.cache_stats();
        assert_eq!(stats.mem_bytes, 0);
        // Each writer may overshoot by a block, and pieces being hashed
        // still hold their memory.
        assert!(
            stats.peak_bytes <= cap + writers as usize * piece as usize,
            "{stats:?}"
        );
        let block = handle.read_block(pieces - 1, 0, 17).await.unwrap();
        let l = &handle.storage().torrent().layout;
        assert_eq!(&block[..], &content(l.piece_offset(pieces - 1), 17)[..]);
        handle.save_resume().await.unwrap();
    });
    let a = std::fs::read(dir.path().join("t/a")).unwrap();
    assert_eq!(a, content(0, 3 << 20));
    let c = std::fs::read(dir.path().join("t/c")).unwrap();
    assert_eq!(c, content((3 << 20) + 5, (5 << 20) + 17));
}

#[test]
fn hashing_slower_than_writing_applies_backpressure() {
    // One peer writes as fast as it can and hands each completing block to
    // a task of its own (as the session does); one blocking thread hashes.
    // Without backpressure the complete pieces waiting to be hashed pile up
    // in memory; with it the writer waits and memory stays near the cap.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let piece = 256u32 << 10;
    let t = torrent(u64::from(piece), vec![(vec!["f".into()], 32 << 20)], None);
    let cap = 1 << 20;
    let cfg = StorageConfig {
        blocking_threads: 1,
        ..config(cap)
    };
    let handle = StorageHandle::new(Storage::open(Arc::new(t), dir.path(), cfg).unwrap());
    let all = Bytes::from(content(0, 32 << 20));
    rt.block_on(async {
        let mut completions = Vec::new();
        for p in 0..128u32 {
            for begin in (0..piece).step_by(16 << 10) {
                let at = (p * piece + begin) as usize;
                let data = all.slice(at..at + (16 << 10));
                if begin + (16 << 10) == piece {
                    let h = handle.clone();
                    completions.push(tokio::spawn(async move {
                        h.write_block(p, begin, data).await.unwrap()
                    }));
                } else {
                    let r = handle.write_block(p, begin, data).await.unwrap();
                    assert_eq!(r, WriteOutcome::Stored);
                }
            }
        }
        for c in completions {
            assert_eq!(c.await.unwrap(), WriteOutcome::Verified);
        }
    });
    let stats = handle.cache_stats();
    assert!(handle.verified().is_complete());
    assert!(
        stats.peak_bytes <= cap + piece as usize + (16 << 10),
        "{stats:?}"
    );
}

/// Files of odd sizes put file boundaries (and so write offsets) off any
/// 4 KiB boundary: the direct path writes aligned middles and buffered
/// edges; every byte must land where the page-cache-only path puts it, and
/// small pieces (spilled partially under a tiny cache) too.
#[test]
fn direct_and_buffered_writes_give_the_same_files() {
    let files = vec![
        (vec!["a".to_owned()], 5_000),
        (vec!["b".to_owned()], 70_001),
        (vec!["c".to_owned()], 0),
        (vec!["d".to_owned()], 123_457),
        (vec!["e".to_owned()], 4_096),
    ];
    let total: u64 = files.iter().map(|(_, l)| l).sum();
    for (piece_length, cap) in [(32_768u64, 1usize << 20), (65_536, 20 << 10)] {
        let mut dirs = Vec::new();
        for direct_io in [DirectIo::Always, DirectIo::Never] {
            let dir = tempfile::tempdir().unwrap();
            let t = torrent(piece_length, files.clone(), None);
            let cfg = StorageConfig {
                direct_io,
                ..config(cap)
            };
            let s = Storage::open(Arc::new(t), dir.path(), cfg).unwrap();
            let count = s.torrent.layout.piece_count;
            // Out of order, in blocks that are not a multiple of 4 KiB.
            for p in (0..count).rev() {
                assert_eq!(
                    write_piece(&s, p, 6_000),
                    WriteOutcome::Verified,
                    "piece {p}"
                );
            }
            s.flush().unwrap();
            // Where the file system allows direct writes, they were used.
            let probe = File::create(dir.path().join("probe")).unwrap();
            if direct_io == DirectIo::Always && direct::reopen_direct(&probe).is_ok() {
                assert!(lock(&s.direct).values().any(Option::is_some));
            }
            dirs.push(dir);
        }
        let mut offset = 0u64;
        for (name, len) in &files {
            let want = content(offset, *len as usize);
            for d in &dirs {
                let got = std::fs::read(d.path().join("t").join(&name[0])).unwrap();
                assert!(
                    got == want,
                    "{} differs (piece length {piece_length})",
                    name[0]
                );
            }
            offset += len;
        }
        assert_eq!(offset, total);
    }
}

/// `DirectIo::Auto` writes past the page cache only while the driver says
/// no connected peer may ask for the pieces.
#[test]
fn auto_writes_direct_only_while_no_peer_may_ask() {
    let dir = tempfile::tempdir().unwrap();
    let probe = File::create(dir.path().join("probe")).unwrap();
    if direct::reopen_direct(&probe).is_err() {
        eprintln!("this file system refuses O_DIRECT: nothing to tell apart");
        return;
    }
    for may_ask in [true, false] {
        let d = tempfile::tempdir_in(dir.path()).unwrap();
        let t = torrent(64 << 10, vec![(vec!["f".into()], 256 << 10)], None);
        let cfg = StorageConfig {
            direct_io: DirectIo::Auto,
            ..config(1 << 20)
        };
        let s = Storage::open(Arc::new(t), d.path(), cfg).unwrap();
        s.set_peers_may_ask(may_ask);
        for p in 0..4 {
            assert_eq!(write_piece(&s, p, 16 << 10), WriteOutcome::Verified);
        }
        let used_direct = lock(&s.direct).values().any(Option::is_some);
        assert_eq!(used_direct, !may_ask, "peers may ask: {may_ask}");
    }
}

/// Content named like the resume folder would share it with resume files.
#[test]
fn content_named_like_the_resume_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let single = torrent(16384, vec![(vec![".shoal".to_owned()], 100)], None);
    let mut multi = torrent(
        16384,
        vec![(vec!["a".to_owned()], 10), (vec!["b".to_owned()], 10)],
        None,
    );
    multi.name = ".shoal".into();
    for t in [single, multi] {
        match Storage::open(Arc::new(t), dir.path(), config(1 << 20)) {
            Err(StorageError::ReservedName(n)) => assert_eq!(n, ".shoal"),
            other => panic!("expected ReservedName, got {other:?}"),
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
