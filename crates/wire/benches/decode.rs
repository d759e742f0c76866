//! Decoder throughput on a stream of 16 KiB piece messages — the bulk of
//! what a downloading connection receives.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shoal_wire::{Message, MessageDecoder};

const BLOCK: usize = 16 * 1024;
const BLOCKS: u32 = 1024; // 16 MiB of payload

fn piece_stream() -> Bytes {
    let data = Bytes::from(vec![0xa5u8; BLOCK]);
    let mut buf = BytesMut::new();
    for i in 0..BLOCKS {
        Message::Piece {
            index: i / 16,
            begin: (i % 16) * BLOCK as u32,
            data: data.clone(),
        }
        .encode(&mut buf);
    }
    buf.freeze()
}

fn decoder() -> MessageDecoder {
    MessageDecoder::new(Some(BLOCKS / 16))
}

fn decode_pieces(c: &mut Criterion) {
    let stream = piece_stream();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(stream.len() as u64));

    // Everything already buffered: pure parsing cost (zero-copy splits).
    group.bench_function("pieces_buffered", |b| {
        b.iter_batched(
            || BytesMut::from(&stream[..]),
            |mut buf| {
                let mut dec = decoder();
                let mut n = 0u32;
                while let Ok(Some(m)) = dec.decode(&mut buf) {
                    black_box(&m);
                    n += 1;
                }
                assert_eq!(n, BLOCKS);
            },
            BatchSize::LargeInput,
        )
    });

    // As from a socket: 64 KiB reads appended to the buffer, decoding after
    // each (includes the copy into the read buffer).
    group.bench_function("pieces_64k_reads", |b| {
        b.iter(|| {
            let mut dec = decoder();
            let mut buf = BytesMut::with_capacity(128 * 1024);
            let mut n = 0u32;
            for chunk in stream.chunks(64 * 1024) {
                buf.extend_from_slice(chunk);
                while let Ok(Some(m)) = dec.decode(&mut buf) {
                    black_box(&m);
                    n += 1;
                }
            }
            assert_eq!(n, BLOCKS);
        })
    });
    group.finish();
}

criterion_group!(benches, decode_pieces);
criterion_main!(benches);
