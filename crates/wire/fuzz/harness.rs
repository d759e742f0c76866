//! The decoding harness shared by the `wire_decode` fuzz target, the
//! corpus-replay test and the arbitrary-bytes proptest.
//!
//! Input layout: one flags byte, then (if bit 0 is set) a big-endian `u16`
//! piece count, then the byte stream to decode.
//! Flags: bit 0 piece count known, bit 1 fast extension, bit 2 extension
//! protocol, bit 3 128 KiB block limit instead of 16 KiB.
//!
//! `run` panics if the decoder misbehaves: a decoded message must re-encode
//! to exactly the bytes it was decoded from, and feeding the stream one
//! byte at a time must give the same result as feeding it whole.

#![allow(dead_code)]

use bytes::BytesMut;
use shoal_wire::{Limits, Message, MessageDecoder, WireError};

/// What decoding a stream produced.
#[derive(Debug)]
pub struct Outcome {
    /// Messages decoded, in order.
    pub messages: Vec<Message>,
    /// The error that stopped decoding, if any.
    pub error: Option<WireError>,
    /// Bytes left undecoded when the input ran out (no error).
    pub leftover: usize,
}

/// The decoder configured by the input's header, and the rest of the input.
pub fn decoder_for(data: &[u8]) -> (MessageDecoder, &[u8]) {
    let Some((&flags, mut rest)) = data.split_first() else {
        return (MessageDecoder::new(None), data);
    };
    let mut piece_count = None;
    if flags & 1 != 0 && rest.len() >= 2 {
        piece_count = Some(u32::from(u16::from_be_bytes([rest[0], rest[1]])));
        rest = &rest[2..];
    }
    let mut limits = Limits::default();
    if flags & 8 != 0 {
        if let Ok(l) = limits.with_max_request_len(128 * 1024) {
            limits = l;
        }
    }
    let dec = MessageDecoder::new(piece_count)
        .with_limits(limits)
        .with_extensions(flags & 2 != 0, flags & 4 != 0);
    (dec, rest)
}

/// Feed `input` to `dec` in chunks of `chunk` bytes, decoding after each,
/// and check every decoded message against the bytes it came from.
pub fn decode_all(dec: &mut MessageDecoder, input: &[u8], chunk: usize) -> Outcome {
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    let mut offset = 0;
    for part in input.chunks(chunk.max(1)) {
        buf.extend_from_slice(part);
        loop {
            let before = buf.len();
            match dec.decode(&mut buf) {
                Ok(Some(m)) => {
                    let consumed = before - buf.len();
                    assert!(consumed > 0, "a message must consume bytes");
                    assert!(offset + consumed <= input.len(), "consumed past the input");
                    assert_eq!(m.encoded_len(), consumed, "size of {m:?}");
                    let frame = &input[offset..offset + consumed];
                    assert_eq!(&m.to_bytes()[..], frame, "re-encoding of {m:?}");
                    offset += consumed;
                    messages.push(m);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) must not consume");
                    break;
                }
                Err(e) => {
                    assert_eq!(buf.len(), before, "an error must not consume");
                    return Outcome {
                        messages,
                        error: Some(e),
                        leftover: buf.len(),
                    };
                }
            }
        }
    }
    Outcome {
        messages,
        error: None,
        leftover: buf.len(),
    }
}

/// Decode `data` (header + stream) whole and byte by byte; panic on any
/// misbehaviour.
pub fn run(data: &[u8]) {
    let (dec, stream) = decoder_for(data);
    let whole = decode_all(&mut dec.clone(), stream, stream.len());
    let bytewise = decode_all(&mut dec.clone(), stream, 1);
    assert_eq!(whole.messages, bytewise.messages);
    assert_eq!(whole.error, bytewise.error);
    if whole.error.is_none() {
        assert_eq!(whole.leftover, bytewise.leftover);
    }
}
