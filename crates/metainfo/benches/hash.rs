//! Micro-benchmark of the hashing hot path: SHA-1 over 1 MiB pieces.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha1::{Digest, Sha1};

fn sha1_piece(c: &mut Criterion) {
    let buf = vec![0x5au8; 1 << 20];
    let mut g = c.benchmark_group("sha1");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("1MiB piece", |b| b.iter(|| Sha1::digest(&buf)));
    g.finish();
}

criterion_group!(benches, sha1_piece);
criterion_main!(benches);
