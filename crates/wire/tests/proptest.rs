//! Property tests: round trips for arbitrary valid messages, and decoding
//! arbitrary bytes never panics nor invents data.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use shoal_wire::{id, Message, MessageDecoder};

#[path = "../fuzz/harness.rs"]
mod harness;

fn bytes(len: impl Strategy<Value = usize>) -> impl Strategy<Value = Bytes> {
    len.prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n).prop_map(Bytes::from))
}

/// A block length: mostly small, sometimes the maximum.
fn block_len() -> impl Strategy<Value = usize> {
    prop_oneof![4 => 1usize..512, 1 => Just(16384usize), 1 => 1usize..=16384]
}

/// A bitfield valid for `pieces` (spare bits clear).
fn bitfield(pieces: u32) -> impl Strategy<Value = Bytes> {
    let len = pieces.div_ceil(8) as usize;
    proptest::collection::vec(any::<u8>(), len).prop_map(move |mut v| {
        let spare = len * 8 - pieces as usize;
        if let Some(last) = v.last_mut() {
            *last &= !(((1u16 << spare) - 1) as u8);
        }
        Bytes::from(v)
    })
}

/// Any message the decoder accepts for a torrent of `pieces` pieces with
/// default limits.
fn message(pieces: u32) -> impl Strategy<Value = Message> {
    let index = 0..pieces;
    let begin = 0u32..=(u32::MAX - 16384);
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        index.clone().prop_map(|piece| Message::Have { piece }),
        index
            .clone()
            .prop_map(|piece| Message::SuggestPiece { piece }),
        index
            .clone()
            .prop_map(|piece| Message::AllowedFast { piece }),
        any::<u16>().prop_map(Message::Port),
        bitfield(pieces).prop_map(Message::Bitfield),
        (index.clone(), begin.clone(), 1u32..=16384).prop_map(|(index, begin, length)| {
            Message::Request {
                index,
                begin,
                length,
            }
        }),
        (index.clone(), begin.clone(), 1u32..=16384).prop_map(|(index, begin, length)| {
            Message::Cancel {
                index,
                begin,
                length,
            }
        }),
        (index.clone(), begin.clone(), 1u32..=16384).prop_map(|(index, begin, length)| {
            Message::RejectRequest {
                index,
                begin,
                length,
            }
        }),
        (index, begin, bytes(block_len())).prop_map(|(index, begin, data)| Message::Piece {
            index,
            begin,
            data
        }),
        (any::<u8>(), bytes(prop_oneof![0usize..256, 0usize..=17406]))
            .prop_map(|(id, payload)| Message::Extended { id, payload }),
        (
            any::<u8>().prop_filter("unknown id", |i| (21..=255).contains(i)
                || (10..=12).contains(i)),
            bytes(0usize..300)
        )
            .prop_map(|(id, payload)| Message::Unknown { id, payload }),
    ]
}

fn pieces_and_messages() -> impl Strategy<Value = (u32, Vec<Message>)> {
    (1u32..5000).prop_flat_map(|pieces| {
        (
            Just(pieces),
            proptest::collection::vec(message(pieces), 1..20),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn encode_decode_round_trip((pieces, msgs) in pieces_and_messages()) {
        let mut dec = MessageDecoder::new(Some(pieces));
        for m in msgs {
            let mut buf = BytesMut::new();
            m.encode(&mut buf);
            prop_assert_eq!(buf.len(), m.encoded_len());
            prop_assert_eq!(dec.decode(&mut buf), Ok(Some(m)));
            prop_assert!(buf.is_empty());
        }
    }

    #[test]
    fn stream_round_trip_in_arbitrary_chunks(
        (pieces, msgs) in pieces_and_messages(),
        chunk in prop_oneof![Just(1usize), 1usize..64, 1usize..20000],
    ) {
        let mut stream = BytesMut::new();
        for m in &msgs {
            m.encode(&mut stream);
        }
        let mut dec = MessageDecoder::new(Some(pieces));
        let out = harness::decode_all(&mut dec, &stream, chunk);
        prop_assert!(out.error.is_none(), "{:?}", out.error);
        prop_assert_eq!(out.leftover, 0);
        prop_assert_eq!(out.messages, msgs);
    }

    /// Arbitrary bytes under arbitrary configurations: never a panic, every
    /// message re-encodes to exactly the bytes it came from (so none is
    /// bigger than the input), and byte-at-a-time equals whole.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        harness::run(&data);
    }

    /// The same, with a stream of plausible frame headers so the decoder
    /// gets past the length check more often than random bytes do.
    #[test]
    fn plausible_frames_never_panic(
        flags in any::<u8>(),
        pieces in any::<u16>(),
        frames in proptest::collection::vec(
            (0u32..40, prop_oneof![0u8..=20, Just(id::EXTENDED), any::<u8>()],
             proptest::collection::vec(any::<u8>(), 0..40)),
            0..12,
        ),
    ) {
        let mut data = vec![flags];
        data.extend_from_slice(&pieces.to_be_bytes());
        for (len, msg_id, body) in frames {
            data.extend_from_slice(&len.to_be_bytes());
            data.push(msg_id);
            data.extend_from_slice(&body);
        }
        harness::run(&data);
    }
}
