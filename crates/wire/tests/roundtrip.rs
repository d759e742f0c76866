//! Every message encodes and decodes back to itself, whole or fragmented.

use bytes::{Bytes, BytesMut};
use shoal_wire::{encode_piece_header, Message, MessageDecoder};

fn every_message() -> Vec<Message> {
    vec![
        Message::KeepAlive,
        Message::Choke,
        Message::Unchoke,
        Message::Interested,
        Message::NotInterested,
        Message::Have { piece: 0 },
        Message::Have { piece: 99 },
        Message::Bitfield(Bytes::from(
            vec![0xff; 12].into_iter().chain([0xf0]).collect::<Vec<_>>(),
        )),
        Message::Request {
            index: 3,
            begin: 16384,
            length: 16384,
        },
        Message::Piece {
            index: 3,
            begin: 16384,
            data: Bytes::from(vec![0x5a; 16384]),
        },
        Message::Piece {
            index: 0,
            begin: 0,
            data: Bytes::from_static(b"x"),
        },
        Message::Cancel {
            index: 3,
            begin: 16384,
            length: 16384,
        },
        Message::Port(6881),
        Message::SuggestPiece { piece: 7 },
        Message::HaveAll,
        Message::HaveNone,
        Message::RejectRequest {
            index: 4,
            begin: 0,
            length: 100,
        },
        Message::AllowedFast { piece: 8 },
        Message::Extended {
            id: 0,
            payload: Bytes::from_static(b"d1:md6:ut_pexi1eee"),
        },
        Message::Extended {
            id: 2,
            payload: Bytes::new(),
        },
        Message::Unknown {
            id: 42,
            payload: Bytes::from_static(b"opaque"),
        },
    ]
}

fn decoder() -> MessageDecoder {
    MessageDecoder::new(Some(100))
}

#[test]
fn each_message_round_trips() {
    for m in every_message() {
        let mut buf = BytesMut::new();
        m.encode(&mut buf);
        assert_eq!(buf.len(), m.encoded_len(), "{m:?}");
        assert_eq!(decoder().decode(&mut buf), Ok(Some(m.clone())), "{m:?}");
        assert!(buf.is_empty(), "{m:?} left bytes behind");
    }
}

fn stream() -> BytesMut {
    let mut buf = BytesMut::new();
    for m in every_message() {
        m.encode(&mut buf);
    }
    buf
}

fn decode_stream(dec: &mut MessageDecoder, buf: &mut BytesMut, out: &mut Vec<Message>) {
    while let Some(m) = dec.decode(buf).unwrap() {
        out.push(m);
    }
}

#[test]
fn stream_decodes_in_order() {
    let mut buf = stream();
    let mut out = Vec::new();
    decode_stream(&mut decoder(), &mut buf, &mut out);
    assert_eq!(out, every_message());
    assert!(buf.is_empty());
}

#[test]
fn fragmented_one_byte_at_a_time_decodes_the_same() {
    let whole = stream();
    let mut dec = decoder();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for &b in whole.iter() {
        buf.extend_from_slice(&[b]);
        decode_stream(&mut dec, &mut buf, &mut out);
    }
    assert_eq!(out, every_message());
    assert!(buf.is_empty());
}

#[test]
fn fragmented_in_odd_chunks_decodes_the_same() {
    let whole = stream();
    for chunk in [2, 3, 7, 13, 1000, 4099] {
        let mut dec = decoder();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for part in whole.chunks(chunk) {
            buf.extend_from_slice(part);
            decode_stream(&mut dec, &mut buf, &mut out);
        }
        assert_eq!(out, every_message(), "chunks of {chunk}");
    }
}

#[test]
fn piece_sent_as_header_plus_block_decodes() {
    let block = Bytes::from(vec![9u8; 16384]);
    let mut buf = BytesMut::new();
    encode_piece_header(5, 32768, block.len() as u32, &mut buf);
    buf.extend_from_slice(&block);
    assert_eq!(
        decoder().decode(&mut buf),
        Ok(Some(Message::Piece {
            index: 5,
            begin: 32768,
            data: block
        }))
    );
}
