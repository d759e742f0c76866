//! Storage benchmarks on a 256 MiB single-file torrent (256 KiB pieces,
//! 16 KiB blocks) in a temporary directory.
//!
//! * `write/sync in order`: every block through [`Storage::write_block`]
//!   on one thread: copy into the write cache, SHA-1 from memory, one
//!   vectored `pwritev` per piece. Each iteration starts from an empty
//!   directory (setup not timed); the page cache absorbs the writes.
//! * `write/async 8 peers`: the same through [`StorageHandle`] from 8
//!   tokio tasks on 2 worker threads, peer `i` downloading pieces
//!   `i, i+8, ...` block by block (8 pieces in progress at once), as the
//!   picker's "finish partial pieces first" makes a real swarm do. Each
//!   block is first copied into its own `Bytes`, like a receive buffer.
//! * `write/sync cache 1 MiB, 16 pieces interleaved`: a write cache of four
//!   pieces while 16 pieces are in progress, so partial pieces spill and
//!   are verified by reading back (the slow path).
//! * `hash/hash_piece`: every piece read back (page cache) and hashed, one
//!   thread.
//! * `hash/check (parallel recheck)`: [`Storage::check`] with no resume
//!   file: batched reads and SHA-1 on the rayon pool.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha1::{Digest, Sha1};
use shoal_engine::storage::{Storage, StorageConfig, StorageHandle, WriteOutcome};
use shoal_metainfo::{CreateProgress, Torrent, TorrentWriter};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const TOTAL: usize = 256 << 20;
const PIECE: usize = 256 << 10;
const BLOCK: usize = 16 << 10;

struct Fixture {
    torrent: Arc<Torrent>,
    data: Arc<Vec<u8>>,
}

fn fixture() -> Fixture {
    let mut data = vec![0u8; TOTAL];
    StdRng::seed_from_u64(1).fill(&mut data[..]);
    let pieces: Vec<u8> = data
        .chunks(PIECE)
        .flat_map(|c| <[u8; 20]>::from(Sha1::digest(c)))
        .collect();
    let bytes = TorrentWriter {
        name: "bench.bin",
        piece_length: PIECE as u64,
        pieces: &pieces,
        length: TOTAL as u64,
        ..Default::default()
    }
    .to_bytes();
    Fixture {
        torrent: Arc::new(Torrent::from_bytes(&bytes).expect("torrent")),
        data: Arc::new(data),
    }
}

fn config(cache: usize) -> StorageConfig {
    StorageConfig {
        write_cache_bytes: cache,
        ..StorageConfig::default()
    }
}

fn blocks() -> impl Iterator<Item = (u32, u32)> {
    (0..(TOTAL / PIECE) as u32)
        .flat_map(|p| (0..(PIECE / BLOCK) as u32).map(move |b| (p, b * BLOCK as u32)))
}

fn block(data: &[u8], piece: u32, begin: u32) -> &[u8] {
    let at = piece as usize * PIECE + begin as usize;
    &data[at..at + BLOCK]
}

fn bench_write(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("write");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.warm_up_time(Duration::from_secs(1));

    g.bench_function("sync in order", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let s =
                    Storage::open(fx.torrent.clone(), dir.path(), config(32 << 20)).expect("open");
                (dir, s)
            },
            |(dir, s)| {
                for (p, begin) in blocks() {
                    black_box(
                        s.write_block(p, begin, block(&fx.data, p, begin))
                            .expect("write"),
                    );
                }
                assert!(s.verified().is_complete());
                (dir, s)
            },
            BatchSize::PerIteration,
        )
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let order: Vec<(u32, u32)> = blocks().collect();
    g.bench_function("async 8 peers", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let s =
                    Storage::open(fx.torrent.clone(), dir.path(), config(32 << 20)).expect("open");
                (dir, StorageHandle::new(s))
            },
            |(dir, h)| {
                rt.block_on(async {
                    let mut tasks = Vec::new();
                    for peer in 0..8 {
                        let (h, data) = (h.clone(), fx.data.clone());
                        let mine: Vec<(u32, u32)> = order
                            .iter()
                            .copied()
                            .filter(|(p, _)| p % 8 == peer)
                            .collect();
                        tasks.push(tokio::spawn(async move {
                            for (p, begin) in mine {
                                let bytes = bytes::Bytes::copy_from_slice(block(&data, p, begin));
                                let r = h.write_block(p, begin, bytes).await.expect("write");
                                assert_ne!(r, WriteOutcome::Failed);
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.expect("task");
                    }
                });
                assert!(h.verified().is_complete());
                (dir, h)
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("sync cache 1 MiB, 16 pieces interleaved", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let s =
                    Storage::open(fx.torrent.clone(), dir.path(), config(1 << 20)).expect("open");
                (dir, s)
            },
            |(dir, s)| {
                let pieces = (TOTAL / PIECE) as u32;
                for group in (0..pieces).step_by(16) {
                    for begin in (0..PIECE as u32).step_by(BLOCK) {
                        for p in group..(group + 16).min(pieces) {
                            black_box(
                                s.write_block(p, begin, block(&fx.data, p, begin))
                                    .expect("write"),
                            );
                        }
                    }
                }
                assert!(s.verified().is_complete());
                (dir, s)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_hash(c: &mut Criterion, fx: &Fixture) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Storage::open(fx.torrent.clone(), dir.path(), config(32 << 20)).expect("open");
    for (p, begin) in blocks() {
        s.write_block(p, begin, block(&fx.data, p, begin))
            .expect("write");
    }
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("hash_piece", |b| {
        b.iter(|| {
            for p in 0..(TOTAL / PIECE) as u32 {
                assert!(s.hash_piece(p).expect("hash"));
            }
        })
    });
    g.bench_function("check (parallel recheck)", |b| {
        b.iter(|| {
            let r = s.check(&CreateProgress::default()).expect("check");
            assert_eq!(r.verified_pieces, TOTAL / PIECE);
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let fx = fixture();
    bench_write(c, &fx);
    bench_hash(c, &fx);
}

criterion_group!(storage, benches);
criterion_main!(storage);
