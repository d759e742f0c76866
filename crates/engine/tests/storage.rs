//! Storage integration tests: round trips across file boundaries, bad
//! data, bounds checks, symlinks planted in the download directory, the
//! handle cache and the async handle.

mod storage_support;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use shoal_engine::storage::{Storage, StorageConfig, StorageError, StorageHandle, WriteOutcome};
use shoal_metainfo::CreateProgress;
use std::collections::HashSet;
use std::path::Path;
use storage_support::{all_files, multi, single, Fixture, BLOCK};

/// Odd sizes, empty files and tiny files, so the first block spans the
/// end of `a.bin`, all of `dir/b` and `dir/c`, and the start of `d`.
fn odd_fixture(seed: u64) -> Fixture {
    multi(
        "odd",
        32 << 10,
        &[
            ("a.bin", 10_000),
            ("empty1", 0),
            ("dir/b", 3),
            ("dir/c", 5),
            ("dir/sub/empty2", 0),
            ("d", 50_001),
            ("e", 3 * 16_384 + 7),
            ("f/g/h", 1),
            ("z-empty", 0),
        ],
        seed,
    )
}

fn cfg(cache: usize) -> StorageConfig {
    StorageConfig {
        write_cache_bytes: cache,
        ..StorageConfig::default()
    }
}

fn round_trip(fx: &Fixture, dir: &Path, config: StorageConfig, seed: u64) {
    let s = fx.open(dir, config);
    // Zero-length files exist from the start.
    for (i, f) in fx.torrent.layout.files.iter().enumerate() {
        if f.length == 0 {
            assert_eq!(std::fs::metadata(fx.path(dir, i)).unwrap().len(), 0);
        }
    }
    let mut blocks = fx.blocks();
    blocks.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut verified = HashSet::new();
    for &(p, begin, len) in &blocks {
        match s.write_block(p, begin, fx.data(p, begin, len)).unwrap() {
            WriteOutcome::Verified => assert!(verified.insert(p), "piece {p} verified twice"),
            WriteOutcome::Stored => {}
            other => panic!("block {p}/{begin}: {other:?}"),
        }
    }
    assert_eq!(verified.len(), fx.torrent.layout.piece_count as usize);
    assert!(s.verified().is_complete());
    assert_eq!(s.cache_stats().mem_bytes, 0);
    // Everything is on disk, and served back exactly.
    fx.assert_files_equal(dir);
    for &(p, begin, len) in &blocks {
        assert_eq!(
            &s.read_block(p, begin, len).unwrap()[..],
            fx.data(p, begin, len)
        );
    }
    // Duplicates after completion change nothing.
    let (p, begin, len) = blocks[0];
    assert_eq!(
        s.write_block(p, begin, &vec![0; len as usize]).unwrap(),
        WriteOutcome::Duplicate
    );
    fx.assert_files_equal(dir);
    // Nothing but the content was created.
    let base = dir.join("odd");
    let mut got: Vec<_> = all_files(dir)
        .into_iter()
        .map(|p| p.strip_prefix(&base).unwrap().to_path_buf())
        .collect();
    got.sort();
    let mut want: Vec<_> = fx
        .torrent
        .layout
        .files
        .iter()
        .map(|f| f.relative_path())
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn multi_file_round_trip_in_random_order() {
    for seed in 0..4 {
        let fx = odd_fixture(seed);
        let dir = tempfile::tempdir().unwrap();
        round_trip(&fx, dir.path(), cfg(32 << 20), seed);
    }
}

#[test]
fn multi_file_round_trip_through_a_tiny_cache() {
    // A cache smaller than a piece: partial pieces spill to disk and are
    // verified by reading back.
    for seed in 10..13 {
        let fx = odd_fixture(seed);
        let dir = tempfile::tempdir().unwrap();
        round_trip(&fx, dir.path(), cfg(20_000), seed);
    }
}

#[test]
fn first_block_spans_four_files() {
    let fx = odd_fixture(1);
    let spans = fx.torrent.layout.spans(0, u64::from(BLOCK));
    assert!(spans.len() >= 3, "{spans:?}");
}

#[test]
fn bad_block_fails_its_piece_which_stays_writable() {
    let fx = odd_fixture(7);
    let dir = tempfile::tempdir().unwrap();
    let s = fx.open(dir.path(), cfg(32 << 20));
    let blocks: Vec<_> = fx.blocks().into_iter().filter(|b| b.0 == 1).collect();
    assert!(blocks.len() >= 2);
    let mut last = None;
    for (i, &(p, begin, len)) in blocks.iter().enumerate() {
        let mut data = fx.data(p, begin, len).to_vec();
        if i == 0 {
            data[100] ^= 1;
        }
        last = Some(s.write_block(p, begin, &data).unwrap());
    }
    assert_eq!(last, Some(WriteOutcome::Failed));
    assert!(!s.has_piece(1));
    assert!(matches!(
        s.read_block(1, 0, 10),
        Err(StorageError::NotVerified(1))
    ));
    // The bad piece never reached the disk (hashed from memory first):
    // `d` (holding piece 1 only) was not even created.
    assert!(fx.torrent.layout.file_pieces(5) == (0..2));
    assert!(!fx.path(dir.path(), 5).exists());
    // Written again correctly, it verifies.
    assert_eq!(fx.write_pieces(&s, [1]), 1);
    assert!(s.has_piece(1));
    assert!(s.hash_piece(1).unwrap());
}

#[test]
fn out_of_bounds_requests_are_refused() {
    let fx = odd_fixture(3);
    let dir = tempfile::tempdir().unwrap();
    let s = fx.open(dir.path(), cfg(32 << 20));
    let l = &fx.torrent.layout;
    let last = l.piece_count - 1;
    let last_size = l.piece_size(last) as u32;
    fx.write_pieces(&s, 0..l.piece_count);
    assert!(s.verified().is_complete());

    let peer_errors = [
        s.read_block(l.piece_count, 0, 16).unwrap_err(),
        s.read_block(u32::MAX, 0, 16).unwrap_err(),
        s.read_block(last, last_size - 10, 11).unwrap_err(),
        s.read_block(last, last_size, 1).unwrap_err(),
        s.read_block(0, 0, 0).unwrap_err(),
        s.read_block(0, u32::MAX, 16).unwrap_err(),
        s.read_block(0, 0, (128 << 10) + 1).unwrap_err(),
        s.write_block(last, last_size - 1, &[0, 0]).unwrap_err(),
        s.write_block(l.piece_count, 0, &[0]).unwrap_err(),
        s.write_block(0, 0, &[]).unwrap_err(),
        s.write_block(0, u32::MAX, &[0]).unwrap_err(),
    ];
    for e in &peer_errors {
        assert!(e.is_peer_error(), "{e}");
    }
    assert!(matches!(
        peer_errors[0],
        StorageError::PieceOutOfRange { .. }
    ));
    assert!(matches!(
        peer_errors[2],
        StorageError::BlockOutOfBounds { .. }
    ));
    assert!(matches!(peer_errors[6], StorageError::ReadTooLong { .. }));
    // Exactly up to the end is fine.
    let end = s.read_block(last, last_size - 10, 10).unwrap();
    assert_eq!(&end[..], fx.data(last, last_size - 10, 10));
    assert!(s.hash_piece(l.piece_count).is_err());
    fx.assert_files_equal(dir.path());
}

#[test]
fn symlinked_content_folder_is_refused() {
    let fx = odd_fixture(2);
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("odd")).unwrap();
    let err = Storage::open(fx.torrent.clone(), dir.path(), cfg(1 << 20)).unwrap_err();
    assert!(matches!(err, StorageError::Symlink(_)), "{err}");
    assert!(all_files(outside.path()).is_empty());
}

#[test]
fn symlinked_subfolder_is_refused_and_nothing_written_outside() {
    let fx = odd_fixture(2);
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("odd")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("odd/dir")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("odd/f")).unwrap();
    // Opening creates empty files; one lives under `dir`: refused.
    let err = Storage::open(fx.torrent.clone(), dir.path(), cfg(1 << 20)).unwrap_err();
    assert!(matches!(err, StorageError::Symlink(_)), "{err}");
    std::fs::remove_file(dir.path().join("odd/dir")).unwrap();
    std::fs::create_dir(dir.path().join("odd/dir")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("odd/dir/sub")).unwrap();
    assert!(matches!(
        Storage::open(fx.torrent.clone(), dir.path(), cfg(1 << 20)),
        Err(StorageError::Symlink(_))
    ));
    std::fs::remove_file(dir.path().join("odd/dir/sub")).unwrap();

    // Now only `odd/f` is a link: blocks of f/g/h are refused.
    let s = fx.open(dir.path(), cfg(1 << 20));
    let l = &fx.torrent.layout;
    let last = l.piece_count - 1;
    let mut refused = false;
    for (p, begin, len) in fx.blocks() {
        match s.write_block(p, begin, fx.data(p, begin, len)) {
            Ok(_) => {}
            Err(StorageError::Symlink(path)) => {
                assert_eq!(p, last);
                assert!(path.ends_with("odd/f"), "{}", path.display());
                refused = true;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused);
    assert!(!s.has_piece(last));
    assert!(all_files(outside.path()).is_empty(), "wrote outside");
    // The failed piece can be retried once the link is gone.
    std::fs::remove_file(dir.path().join("odd/f")).unwrap();
    assert_eq!(fx.write_pieces(&s, [last]), 1);
    fx.assert_files_equal(dir.path());
}

#[test]
fn symlinked_single_file_is_neither_read_nor_written() {
    let fx = single("one.bin", 16 << 10, 100_000, 9);
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    // The link even points at the right content: still not trusted.
    let target = outside.path().join("secret");
    std::fs::write(&target, &fx.stream).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("one.bin")).unwrap();
    // Refused up front...
    assert!(matches!(
        Storage::open(fx.torrent.clone(), dir.path(), cfg(1 << 20)),
        Err(StorageError::Symlink(_))
    ));
    // ... and when planted after opening, never followed.
    std::fs::remove_file(dir.path().join("one.bin")).unwrap();
    let s = fx.open(dir.path(), cfg(1 << 20));
    std::os::unix::fs::symlink(&target, dir.path().join("one.bin")).unwrap();
    let report = s.check(&CreateProgress::default()).unwrap();
    assert_eq!(report.verified_pieces, 0);
    assert_eq!(report.hashed_bytes, 0);
    // Wrong data fails its hash in memory and never reaches the disk...
    let piece0: Vec<_> = fx.blocks().into_iter().filter(|b| b.0 == 0).collect();
    let mut last = None;
    for &(p, begin, len) in &piece0 {
        last = Some(s.write_block(p, begin, &vec![0xAA; len as usize]).unwrap());
    }
    assert_eq!(last, Some(WriteOutcome::Failed));
    // ... and right data is refused at the link.
    let mut result = Ok(WriteOutcome::Stored);
    for &(p, begin, len) in &piece0 {
        result = s.write_block(p, begin, fx.data(p, begin, len));
    }
    assert!(
        matches!(result, Err(StorageError::Symlink(_))),
        "{result:?}"
    );
    assert!(matches!(
        s.read_block(0, 0, 16),
        Err(StorageError::NotVerified(0))
    ));
    assert_eq!(
        std::fs::read(&target).unwrap(),
        fx.stream,
        "target untouched"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
}

#[test]
fn many_files_keep_few_descriptors_open() {
    let names: Vec<String> = (0..1200).map(|i| format!("d{}/f{i}", i % 37)).collect();
    let files: Vec<(&str, usize)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i % 11))
        .collect();
    let fx = multi("many", 16 << 10, &files, 4);
    let dir = tempfile::tempdir().unwrap();
    let s = fx.open(
        dir.path(),
        StorageConfig {
            max_open_files: 32,
            ..cfg(1 << 20)
        },
    );
    let mut blocks = fx.blocks();
    blocks.shuffle(&mut StdRng::seed_from_u64(4));
    for (p, begin, len) in blocks {
        s.write_block(p, begin, fx.data(p, begin, len)).unwrap();
        assert!(s.open_files() <= 32);
    }
    assert!(s.verified().is_complete());
    fx.assert_files_equal(dir.path());
    s.save_resume().unwrap();
    assert!(s.open_files() <= 32);
}

#[test]
fn single_file_torrent_lives_at_dir_name() {
    let fx = single("movie.mkv", 16 << 10, 200_003, 5);
    let dir = tempfile::tempdir().unwrap();
    let s = fx.open(dir.path(), cfg(64 << 10));
    assert_eq!(
        fx.write_pieces(&s, 0..fx.torrent.layout.piece_count),
        fx.torrent.layout.piece_count as usize
    );
    assert_eq!(
        std::fs::read(dir.path().join("movie.mkv")).unwrap(),
        fx.stream
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_handle_round_trip_with_concurrent_peers() {
    let fx = odd_fixture(21);
    let dir = tempfile::tempdir().unwrap();
    let handle = StorageHandle::new(fx.open(dir.path(), cfg(40_000)));
    let report = handle.check(CreateProgress::default()).await.unwrap();
    assert_eq!(report.verified_pieces, 0);
    let mut blocks = fx.blocks();
    blocks.shuffle(&mut StdRng::seed_from_u64(21));
    // Four "peers", each sending every block (endgame-like duplicates).
    let fx = std::sync::Arc::new(fx);
    let mut tasks = Vec::new();
    for peer in 0..4 {
        let (h, fx, mut blocks) = (handle.clone(), fx.clone(), blocks.clone());
        let n = blocks.len();
        blocks.rotate_left(peer * 3 % n);
        tasks.push(tokio::spawn(async move {
            let mut verified = Vec::new();
            for (p, begin, len) in blocks {
                let data = bytes::Bytes::copy_from_slice(fx.data(p, begin, len));
                match h.write_block(p, begin, data).await.unwrap() {
                    WriteOutcome::Verified => verified.push(p),
                    WriteOutcome::Failed => panic!("piece {p} failed"),
                    _ => {}
                }
            }
            verified
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let want: Vec<u32> = (0..fx.torrent.layout.piece_count).collect();
    assert_eq!(all, want, "each piece verified exactly once");
    handle.flush().await.unwrap();
    fx.assert_files_equal(dir.path());
    let (p, begin, len) = fx.blocks()[3];
    assert_eq!(
        &handle.read_block(p, begin, len).await.unwrap()[..],
        fx.data(p, begin, len)
    );
    assert!(handle
        .read_block(p, begin, 0)
        .await
        .unwrap_err()
        .is_peer_error());
}
