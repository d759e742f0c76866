//! The harness of the `hash_msg` fuzz target and its corpus replay test:
//! BEP 52 hash messages (`hash request`, `hashes`, `hash reject`).
//!
//! Input layout: one byte chooses the id (`21 + byte % 3`), the rest is the
//! payload. `run` panics if the parser misbehaves: a parsed message must
//! re-encode to exactly its payload, and the frame it builds must decode
//! back to the same message.

#![allow(dead_code)]

use bytes::BytesMut;
use shoal_wire::{HashMessage, MessageDecoder};

/// Parse one input; check the properties above.
pub fn run(data: &[u8]) {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let id = 21 + sel % 3;
    let Ok(Some(m)) = HashMessage::parse(id, payload) else {
        return;
    };
    assert_eq!(&m.payload()[..], payload, "re-encoding differs");
    let mut buf = BytesMut::new();
    m.to_message().encode(&mut buf);
    let mut dec = MessageDecoder::new(None).with_limits(
        shoal_wire::Limits::new()
            .with_max_request_len(1 << 20)
            .unwrap_or_default(),
    );
    if let Ok(Some(frame)) = dec.decode(&mut buf) {
        assert_eq!(HashMessage::from_message(&frame), Ok(Some(m)));
    }
}
