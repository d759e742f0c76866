//! The decoder's acceptance and rejection rules, one test per rule.

use bytes::{BufMut, Bytes, BytesMut};
use shoal_wire::{
    id, validate_bitfield, Handshake, Limits, LimitsError, Message, MessageDecoder, PeerId,
    WireError,
};

/// A frame with the given length prefix, id and payload (the prefix is not
/// checked against the payload, so malformed frames can be built).
fn raw_frame(len: u32, msg_id: u8, payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u32(len);
    b.put_u8(msg_id);
    b.put_slice(payload);
    b
}

/// A well-framed message.
fn frame(msg_id: u8, payload: &[u8]) -> BytesMut {
    raw_frame(payload.len() as u32 + 1, msg_id, payload)
}

fn block(index: u32, begin: u32, length: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&index.to_be_bytes());
    v.extend_from_slice(&begin.to_be_bytes());
    v.extend_from_slice(&length.to_be_bytes());
    v
}

fn decode_one(dec: &mut MessageDecoder, bytes: &[u8]) -> Result<Option<Message>, WireError> {
    let mut buf = BytesMut::from(bytes);
    let before = buf.clone();
    let r = dec.decode(&mut buf);
    match &r {
        Ok(Some(_)) => assert!(buf.is_empty(), "whole frame consumed"),
        _ => assert_eq!(buf, before, "buffer untouched on error or incomplete"),
    }
    r
}

fn err(dec: &mut MessageDecoder, bytes: &[u8]) -> WireError {
    match decode_one(dec, bytes) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn ok(dec: &mut MessageDecoder, bytes: &[u8]) -> Message {
    match decode_one(dec, bytes) {
        Ok(Some(m)) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn dec(pieces: u32) -> MessageDecoder {
    MessageDecoder::new(Some(pieces))
}

// ---- framing -------------------------------------------------------------

#[test]
fn keep_alive() {
    assert_eq!(ok(&mut dec(10), &[0, 0, 0, 0]), Message::KeepAlive);
}

#[test]
fn incomplete_frames_need_more_and_consume_nothing() {
    let full = frame(id::HAVE, &[0, 0, 0, 1]);
    for n in 0..full.len() {
        assert_eq!(decode_one(&mut dec(10), &full[..n]), Ok(None), "{n} bytes");
    }
    assert_eq!(ok(&mut dec(10), &full), Message::Have { piece: 1 });
}

#[test]
fn several_frames_in_one_buffer() {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&frame(id::UNCHOKE, &[]));
    buf.extend_from_slice(&[0, 0, 0, 0]);
    buf.extend_from_slice(&frame(id::PIECE, &[0, 0, 0, 1, 0, 0, 0, 0, b'x', b'y']));
    buf.extend_from_slice(&raw_frame(5, id::HAVE, &[0, 0])); // incomplete
    let mut d = dec(10);
    assert_eq!(d.decode(&mut buf), Ok(Some(Message::Unchoke)));
    assert_eq!(d.decode(&mut buf), Ok(Some(Message::KeepAlive)));
    assert_eq!(
        d.decode(&mut buf),
        Ok(Some(Message::Piece {
            index: 1,
            begin: 0,
            data: Bytes::from_static(b"xy")
        }))
    );
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 7);
}

#[test]
fn payloads_are_zero_copy() {
    let mut buf = frame(id::PIECE, &[0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]);
    let range = buf.as_ptr_range();
    let Ok(Some(Message::Piece { data, .. })) = dec(10).decode(&mut buf) else {
        panic!("not a piece");
    };
    assert!(
        range.contains(&data.as_ptr()),
        "data points into the input buffer"
    );
}

#[test]
fn default_max_frame_is_16397() {
    assert_eq!(Limits::default().max_frame_len(), 16 * 1024 + 13);
    // An unknown message may be as long as the general limit...
    let mut big = raw_frame(16397, 99, &[]);
    big.resize(4 + 16397, 0);
    assert!(
        matches!(ok(&mut dec(10), &big), Message::Unknown { id: 99, payload } if payload.len() == 16396)
    );
    // ... and not one byte longer.
    assert_eq!(
        err(&mut dec(10), &raw_frame(16398, 99, &[])),
        WireError::FrameTooLong {
            id: Some(99),
            len: 16398,
            max: 16397
        }
    );
}

#[test]
fn huge_length_prefix_rejected_before_buffering() {
    let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
    let cap = buf.capacity();
    assert!(matches!(
        dec(10).decode(&mut buf),
        Err(WireError::FrameTooLong {
            id: None,
            len: u32::MAX,
            ..
        })
    ));
    assert_eq!(buf.capacity(), cap, "nothing reserved for the bogus frame");

    // With an id, too.
    let mut buf = raw_frame(0x4000_0000, id::PIECE, &[]);
    let cap = buf.capacity();
    assert!(matches!(
        dec(10).decode(&mut buf),
        Err(WireError::FrameTooLong { id: None, .. })
    ));
    assert_eq!(buf.capacity(), cap);
}

#[test]
fn waits_for_id_when_length_could_be_a_large_bitfield_or_extended() {
    // 17000 is over the general limit but within the extended limit, so
    // the decoder needs to see the id before deciding.
    let mut d = dec(10);
    assert_eq!(decode_one(&mut d, &17000u32.to_be_bytes()), Ok(None));
    assert!(matches!(
        err(&mut d, &raw_frame(17000, id::PIECE, &[])),
        WireError::FrameTooLong {
            id: Some(7),
            len: 17000,
            max: 16397
        }
    ));
    assert_eq!(
        decode_one(&mut d, &raw_frame(17000, id::EXTENDED, &[1])),
        Ok(None)
    );
}

#[test]
fn incomplete_valid_frame_reserves_at_most_its_size() {
    let mut buf = raw_frame(16393, id::PIECE, &[0; 8]);
    assert_eq!(dec(10).decode(&mut buf), Ok(None));
    assert!(buf.capacity() >= 4 + 16393);
}

#[test]
fn unknown_ids_are_skippable() {
    let mut buf = frame(200, b"whatever");
    buf.extend_from_slice(&frame(id::CHOKE, &[]));
    let mut d = dec(10);
    assert_eq!(
        d.decode(&mut buf),
        Ok(Some(Message::Unknown {
            id: 200,
            payload: Bytes::from_static(b"whatever")
        }))
    );
    assert_eq!(d.decode(&mut buf), Ok(Some(Message::Choke)));
    // Ids between the known ranges are unknown too.
    for unknown in [10u8, 11, 12, 18, 19, 21, 255] {
        assert!(matches!(
            ok(&mut dec(10), &frame(unknown, &[])),
            Message::Unknown { id, .. } if id == unknown
        ));
    }
}

// ---- fixed-size messages -------------------------------------------------

#[test]
fn fixed_size_messages_with_wrong_length() {
    let cases: &[(u8, u32, &str)] = &[
        (id::CHOKE, 1, "choke"),
        (id::UNCHOKE, 1, "unchoke"),
        (id::INTERESTED, 1, "interested"),
        (id::NOT_INTERESTED, 1, "not interested"),
        (id::HAVE, 5, "have"),
        (id::REQUEST, 13, "request"),
        (id::CANCEL, 13, "cancel"),
        (id::PORT, 3, "port"),
        (id::SUGGEST_PIECE, 5, "suggest piece"),
        (id::HAVE_ALL, 1, "have all"),
        (id::HAVE_NONE, 1, "have none"),
        (id::REJECT_REQUEST, 13, "reject request"),
        (id::ALLOWED_FAST, 5, "allowed fast"),
    ];
    for &(msg_id, expected, name) in cases {
        for actual in [expected - 1, expected + 1].into_iter().filter(|&l| l > 0) {
            let mut bytes = raw_frame(actual, msg_id, &[]);
            bytes.resize(4 + actual as usize, 0);
            assert_eq!(
                err(&mut dec(10), &bytes),
                WireError::WrongLength {
                    message: name,
                    expected,
                    actual
                },
                "{name} with length {actual}"
            );
            // Rejected from the header alone, before the body arrives.
            assert!(matches!(
                err(&mut dec(10), &bytes[..5]),
                WireError::WrongLength { .. }
            ));
        }
    }
}

#[test]
fn have_of_length_3() {
    assert_eq!(
        err(&mut dec(10), &raw_frame(3, id::HAVE, &[0, 0])),
        WireError::WrongLength {
            message: "have",
            expected: 5,
            actual: 3
        }
    );
}

// ---- piece indices -------------------------------------------------------

#[test]
fn have_index_must_be_below_piece_count() {
    assert_eq!(
        ok(&mut dec(10), &frame(id::HAVE, &9u32.to_be_bytes())),
        Message::Have { piece: 9 }
    );
    assert_eq!(
        err(&mut dec(10), &frame(id::HAVE, &10u32.to_be_bytes())),
        WireError::PieceIndexOutOfRange {
            message: "have",
            index: 10,
            piece_count: 10
        }
    );
}

#[test]
fn every_indexed_message_checks_the_index() {
    let cases: Vec<(u8, Vec<u8>)> = vec![
        (id::SUGGEST_PIECE, 10u32.to_be_bytes().to_vec()),
        (id::ALLOWED_FAST, 10u32.to_be_bytes().to_vec()),
        (id::REQUEST, block(10, 0, 16384)),
        (id::CANCEL, block(10, 0, 16384)),
        (id::REJECT_REQUEST, block(10, 0, 16384)),
        (id::PIECE, block(10, 0, 0)),
    ];
    for (msg_id, payload) in cases {
        assert!(
            matches!(
                err(&mut dec(10), &frame(msg_id, &payload)),
                WireError::PieceIndexOutOfRange {
                    index: 10,
                    piece_count: 10,
                    ..
                }
            ),
            "message id {msg_id}"
        );
        // Without a piece count there is nothing to check against.
        assert!(decode_one(&mut MessageDecoder::new(None), &frame(msg_id, &payload)).is_ok());
    }
}

#[test]
fn unknown_piece_count_accepts_any_have() {
    assert_eq!(
        ok(&mut MessageDecoder::new(None), &frame(id::HAVE, &[0xff; 4])),
        Message::Have { piece: u32::MAX }
    );
}

#[test]
fn piece_count_can_be_set_later() {
    let mut d = MessageDecoder::new(None);
    assert_eq!(d.piece_count(), None);
    d.set_piece_count(Some(3));
    assert_eq!(d.piece_count(), Some(3));
    assert!(matches!(
        err(&mut d, &frame(id::HAVE, &3u32.to_be_bytes())),
        WireError::PieceIndexOutOfRange { .. }
    ));
}

// ---- bitfield ------------------------------------------------------------

#[test]
fn bitfield_exact_size_accepted() {
    assert_eq!(
        ok(&mut dec(10), &frame(id::BITFIELD, &[0xff, 0xc0])),
        Message::Bitfield(Bytes::from_static(&[0xff, 0xc0]))
    );
    assert_eq!(
        ok(&mut dec(16), &frame(id::BITFIELD, &[0xff, 0xff])),
        Message::Bitfield(Bytes::from_static(&[0xff, 0xff]))
    );
    assert_eq!(
        ok(&mut dec(0), &frame(id::BITFIELD, &[])),
        Message::Bitfield(Bytes::new())
    );
}

#[test]
fn bitfield_wrong_size_rejected() {
    for payload in [&[0xffu8][..], &[0xff, 0, 0][..], &[][..]] {
        assert_eq!(
            err(&mut dec(10), &frame(id::BITFIELD, payload)),
            WireError::BitfieldWrongSize {
                expected: 2,
                actual: payload.len(),
                piece_count: 10
            }
        );
    }
    // Rejected from the header alone.
    assert!(matches!(
        err(&mut dec(10), &raw_frame(4, id::BITFIELD, &[])),
        WireError::BitfieldWrongSize { .. }
    ));
}

#[test]
fn bitfield_spare_bits_rejected() {
    for last in [0x20u8, 0x01, 0x3f] {
        assert_eq!(
            err(&mut dec(10), &frame(id::BITFIELD, &[0xff, 0xc0 | last])),
            WireError::BitfieldSpareBits { piece_count: 10 }
        );
    }
}

#[test]
fn bitfield_may_exceed_general_frame_limit_for_large_torrents() {
    let pieces = 200_000u32; // 25000-byte bitfield
    let payload = vec![0u8; 25_000];
    assert_eq!(
        ok(&mut dec(pieces), &frame(id::BITFIELD, &payload)),
        Message::Bitfield(Bytes::from(payload.clone()))
    );
    // The same frame is too long for a small torrent.
    assert!(matches!(
        err(&mut dec(10), &frame(id::BITFIELD, &payload)),
        WireError::FrameTooLong {
            id: None,
            len: 25001,
            max: 17408
        }
    ));
}

#[test]
fn bitfield_without_piece_count_is_bounded_by_its_limit() {
    let mut d = MessageDecoder::new(None);
    assert!(matches!(
        ok(&mut d, &frame(id::BITFIELD, &[0xff; 3])),
        Message::Bitfield(b) if b.len() == 3
    ));
    let limits = Limits::default()
        .with_max_unknown_bitfield_len(20_000)
        .unwrap();
    let mut d = MessageDecoder::new(None).with_limits(limits);
    assert!(matches!(
        ok(&mut d, &frame(id::BITFIELD, &[0; 20_000])),
        Message::Bitfield(b) if b.len() == 20_000
    ));
    assert_eq!(
        err(&mut d, &raw_frame(20_002, id::BITFIELD, &[])),
        WireError::FrameTooLong {
            id: None,
            len: 20_002,
            max: 20_001
        }
    );
    // Under the largest frame of any type (extended), but over the
    // bitfield limit.
    let limits = Limits::default()
        .with_max_unknown_bitfield_len(16_500)
        .unwrap();
    let mut d = MessageDecoder::new(None).with_limits(limits);
    assert_eq!(
        err(&mut d, &raw_frame(16_502, id::BITFIELD, &[])),
        WireError::FrameTooLong {
            id: Some(5),
            len: 16_502,
            max: 16_501
        }
    );
    // Before the id arrives the largest possible frame is the bound.
    assert!(matches!(
        err(&mut d, &20_002u32.to_be_bytes()),
        WireError::FrameTooLong { id: None, .. }
    ));
}

#[test]
fn validate_bitfield_for_late_metadata() {
    assert_eq!(validate_bitfield(&[0xff, 0xc0], 10), Ok(()));
    assert_eq!(validate_bitfield(&[], 0), Ok(()));
    assert_eq!(validate_bitfield(&[0xff], 8), Ok(()));
    assert_eq!(
        validate_bitfield(&[0xff, 0xe0], 10),
        Err(WireError::BitfieldSpareBits { piece_count: 10 })
    );
    assert!(matches!(
        validate_bitfield(&[0xff], 10),
        Err(WireError::BitfieldWrongSize { .. })
    ));
}

// ---- requests ------------------------------------------------------------

#[test]
fn request_round_trip_limits() {
    assert_eq!(
        ok(&mut dec(10), &frame(id::REQUEST, &block(1, 16384, 16384))),
        Message::Request {
            index: 1,
            begin: 16384,
            length: 16384
        }
    );
    assert_eq!(
        ok(&mut dec(10), &frame(id::REQUEST, &block(1, 0, 1))),
        Message::Request {
            index: 1,
            begin: 0,
            length: 1
        }
    );
}

#[test]
fn zero_or_oversized_block_lengths_rejected() {
    for (msg_id, name) in [
        (id::REQUEST, "request"),
        (id::CANCEL, "cancel"),
        (id::REJECT_REQUEST, "reject request"),
    ] {
        for length in [0u32, 16385, u32::MAX] {
            assert_eq!(
                err(&mut dec(10), &frame(msg_id, &block(0, 0, length))),
                WireError::BadBlockLength {
                    message: name,
                    length,
                    max: 16384
                }
            );
        }
    }
}

#[test]
fn block_overflow_rejected() {
    assert_eq!(
        err(
            &mut dec(10),
            &frame(id::REQUEST, &block(0, u32::MAX - 10, 16384))
        ),
        WireError::BlockOverflow {
            message: "request",
            begin: u32::MAX - 10,
            length: 16384
        }
    );
    let mut piece = block(0, u32::MAX, 0)[..8].to_vec();
    piece.push(1);
    piece.push(2);
    assert_eq!(
        err(&mut dec(10), &frame(id::PIECE, &piece)),
        WireError::BlockOverflow {
            message: "piece",
            begin: u32::MAX,
            length: 2
        }
    );
}

#[test]
fn configurable_max_request_len() {
    let limits = Limits::default().with_max_request_len(128 * 1024).unwrap();
    assert_eq!(limits.max_frame_len(), 128 * 1024 + 13);
    let mut d = dec(10).with_limits(limits);
    assert_eq!(
        ok(&mut d, &frame(id::REQUEST, &block(0, 0, 65536))),
        Message::Request {
            index: 0,
            begin: 0,
            length: 65536
        }
    );
    let mut piece = block(0, 0, 0)[..8].to_vec();
    piece.resize(8 + 65536, 7);
    assert!(
        matches!(ok(&mut d, &frame(id::PIECE, &piece)), Message::Piece { data, .. } if data.len() == 65536)
    );
    // The default rejects both.
    assert!(matches!(
        err(&mut dec(10), &frame(id::REQUEST, &block(0, 0, 65536))),
        WireError::BadBlockLength { .. }
    ));
    assert!(matches!(
        err(&mut dec(10), &frame(id::PIECE, &piece)),
        WireError::FrameTooLong { .. }
    ));
}

#[test]
fn limits_out_of_range_rejected() {
    assert_eq!(
        Limits::default().with_max_request_len(128 * 1024 + 1),
        Err(LimitsError::OutOfRange {
            limit: "max_request_len",
            value: 128 * 1024 + 1,
            min: 1,
            max: 128 * 1024
        })
    );
    assert!(Limits::default().with_max_request_len(0).is_err());
    assert!(Limits::default().with_max_extended_len(1).is_err());
    assert!(Limits::default()
        .with_max_extended_len(16 * 1024 * 1024 + 1)
        .is_err());
    assert!(Limits::default()
        .with_max_unknown_bitfield_len(16 * 1024 * 1024 + 1)
        .is_err());
    let l = Limits::default()
        .with_max_request_len(1)
        .and_then(|l| l.with_max_extended_len(2))
        .and_then(|l| l.with_max_unknown_bitfield_len(0))
        .unwrap();
    assert_eq!(
        (
            l.max_request_len(),
            l.max_extended_len(),
            l.max_unknown_bitfield_len()
        ),
        (1, 2, 0)
    );
}

// ---- piece ---------------------------------------------------------------

#[test]
fn piece_data_length_rules() {
    // Header only: no data.
    assert_eq!(
        err(&mut dec(10), &frame(id::PIECE, &block(0, 0, 0)[..8])),
        WireError::BadPieceDataLength {
            length: 0,
            max: 16384
        }
    );
    // Shorter than its header.
    assert_eq!(
        err(&mut dec(10), &frame(id::PIECE, &[0; 7])),
        WireError::TooShort {
            message: "piece",
            min: 9,
            actual: 8
        }
    );
    // 16 KiB of data is fine, one more byte is not (the frame would still
    // fit the general limit).
    let mut p = vec![0u8; 8];
    p.resize(8 + 16384, 1);
    assert!(
        matches!(ok(&mut dec(10), &frame(id::PIECE, &p)), Message::Piece { data, .. } if data.len() == 16384)
    );
    p.push(1);
    assert_eq!(
        err(&mut dec(10), &frame(id::PIECE, &p)),
        WireError::BadPieceDataLength {
            length: 16385,
            max: 16384
        }
    );
}

// ---- extended ------------------------------------------------------------

#[test]
fn extended_may_carry_a_metadata_piece() {
    let mut payload = vec![1u8];
    payload.extend_from_slice(b"d8:msg_typei1e5:piecei0e10:total_sizei40000ee");
    payload.resize(payload.len() + 16384, 0xab);
    let m = ok(&mut dec(10), &frame(id::EXTENDED, &payload));
    assert!(matches!(m, Message::Extended { id: 1, payload: p } if p.len() == payload.len() - 1));
}

#[test]
fn extended_limit_is_17k() {
    let mut at = raw_frame(17408, id::EXTENDED, &[]);
    at.resize(4 + 17408, 0);
    assert!(matches!(
        ok(&mut dec(10), &at),
        Message::Extended { id: 0, .. }
    ));
    // Over every limit: rejected from the length prefix alone.
    assert_eq!(
        err(&mut dec(10), &17409u32.to_be_bytes()),
        WireError::FrameTooLong {
            id: None,
            len: 17409,
            max: 17408
        }
    );
    // With a large torrent a bitfield frame could be that long, so the
    // extended limit itself decides.
    assert_eq!(
        err(&mut dec(1_000_000), &raw_frame(17409, id::EXTENDED, &[])),
        WireError::FrameTooLong {
            id: Some(20),
            len: 17409,
            max: 17408
        }
    );
}

#[test]
fn extended_needs_an_extended_id() {
    assert_eq!(
        err(&mut dec(10), &frame(id::EXTENDED, &[])),
        WireError::TooShort {
            message: "extended",
            min: 2,
            actual: 1
        }
    );
    assert_eq!(
        ok(&mut dec(10), &frame(id::EXTENDED, &[3])),
        Message::Extended {
            id: 3,
            payload: Bytes::new()
        }
    );
}

// ---- negotiation ---------------------------------------------------------

#[test]
fn fast_messages_need_the_fast_extension() {
    let mut d = dec(10).with_extensions(false, true);
    for (msg_id, payload) in [
        (id::SUGGEST_PIECE, vec![0, 0, 0, 1]),
        (id::HAVE_ALL, vec![]),
        (id::HAVE_NONE, vec![]),
        (id::REJECT_REQUEST, block(0, 0, 1)),
        (id::ALLOWED_FAST, vec![0, 0, 0, 1]),
    ] {
        assert_eq!(
            err(&mut d, &frame(msg_id, &payload)),
            WireError::FastNotNegotiated { id: msg_id }
        );
    }
    assert_eq!(
        ok(&mut d, &frame(id::EXTENDED, &[0])),
        Message::Extended {
            id: 0,
            payload: Bytes::new()
        }
    );
}

#[test]
fn extended_messages_need_the_extension_protocol() {
    let mut d = dec(10).with_extensions(true, false);
    assert_eq!(
        err(&mut d, &frame(id::EXTENDED, &[0])),
        WireError::ExtendedNotNegotiated
    );
    assert_eq!(ok(&mut d, &frame(id::HAVE_ALL, &[])), Message::HaveAll);
}

#[test]
fn negotiated_from_both_handshakes() {
    let peer = PeerId([b'a'; 20]);
    let ours = Handshake::new([0; 20], peer)
        .with_fast(true)
        .with_extension_protocol(true);
    let theirs = Handshake::new([0; 20], peer).with_extension_protocol(true);
    let mut d = dec(10).with_negotiated(&ours.reserved, &theirs.reserved);
    assert!(matches!(
        err(&mut d, &frame(id::HAVE_ALL, &[])),
        WireError::FastNotNegotiated { .. }
    ));
    assert!(matches!(
        ok(&mut d, &frame(id::EXTENDED, &[0])),
        Message::Extended { id: 0, .. }
    ));
}

// ---- errors carry a readable message ---------------------------------------

#[test]
fn error_messages_are_readable() {
    let e = err(&mut dec(10), &raw_frame(3, id::HAVE, &[0, 0]));
    assert_eq!(e.to_string(), "have message has length 3, expected 5");
}
