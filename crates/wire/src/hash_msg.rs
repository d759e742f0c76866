//! The BitTorrent v2 hash messages (BEP 52): `hash request` (21), `hashes`
//! (22) and `hash reject` (23).
//!
//! The frame decoder hands them over as [`Message::Unknown`] (their ids
//! are not part of BEP 3); [`HashMessage::from_message`] parses one, and
//! [`HashMessage::to_message`] builds the frame to send. Every one starts
//! with the same 48-byte header: the file's `pieces root` (32 bytes), then
//! big-endian `u32`s `base layer`, `index`, `length` and `proof layers`.
//! A `hashes` message follows it with `length` hashes of the base layer
//! and then one uncle per proof layer, 32 bytes each.

use crate::Message;
use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

/// `hash request` message id.
pub const HASH_REQUEST: u8 = 21;
/// `hashes` message id.
pub const HASHES: u8 = 22;
/// `hash reject` message id.
pub const HASH_REJECT: u8 = 23;

/// Bytes of the header every hash message starts with.
pub const HASH_HEADER_LEN: usize = 48;

/// Most hashes one `hashes` message may carry: 8192 base hashes (a hash
/// request's largest `length`, as libtorrent accepts) plus uncles up to the
/// deepest tree. A message past it is refused before anything is copied.
pub const MAX_HASHES: usize = 8192 + 64;

/// What a hash request asks for (and what `hashes`/`hash reject` answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashRange {
    /// The root of the file's merkle tree.
    pub pieces_root: [u8; 32],
    /// Layer of the requested hashes (0: 16 KiB blocks).
    pub base_layer: u32,
    /// Index of the first hash in that layer (a multiple of `length`).
    pub index: u32,
    /// Number of hashes (a power of two).
    pub length: u32,
    /// Uncles wanted above the requested hashes' subtree.
    pub proof_layers: u32,
}

/// A parsed BEP 52 hash message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashMessage {
    /// `hash request`: send these hashes with their proof.
    Request(HashRange),
    /// `hashes`: the base-layer hashes, then the uncles (lowest first).
    Hashes {
        /// What they answer.
        range: HashRange,
        /// `length` base hashes followed by the uncles.
        hashes: Vec<[u8; 32]>,
    },
    /// `hash reject`: the sender will not answer this request.
    Reject(HashRange),
}

/// Why a hash message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashMessageError {
    /// The payload is not the size its id requires.
    #[error("hash message {id} of {len} bytes is malformed")]
    BadLength {
        /// The message id.
        id: u8,
        /// Its payload length.
        len: usize,
    },
    /// A `hashes` message carries more hashes than allowed.
    #[error("hashes message carries {0} hashes, more than allowed")]
    TooManyHashes(usize),
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl HashRange {
    fn parse(b: &[u8]) -> HashRange {
        let mut pieces_root = [0u8; 32];
        pieces_root.copy_from_slice(&b[..32]);
        HashRange {
            pieces_root,
            base_layer: be_u32(b, 32),
            index: be_u32(b, 36),
            length: be_u32(b, 40),
            proof_layers: be_u32(b, 44),
        }
    }

    fn put(&self, out: &mut BytesMut) {
        out.put_slice(&self.pieces_root);
        out.put_u32(self.base_layer);
        out.put_u32(self.index);
        out.put_u32(self.length);
        out.put_u32(self.proof_layers);
    }
}

impl HashMessage {
    /// Whether `id` is one of the three hash message ids.
    pub fn is_hash_id(id: u8) -> bool {
        (HASH_REQUEST..=HASH_REJECT).contains(&id)
    }

    /// Parse the payload (after the id byte) of message `id`.
    /// `Ok(None)` if `id` is not a hash message.
    pub fn parse(id: u8, payload: &[u8]) -> Result<Option<HashMessage>, HashMessageError> {
        if !Self::is_hash_id(id) {
            return Ok(None);
        }
        let bad = HashMessageError::BadLength {
            id,
            len: payload.len(),
        };
        if payload.len() < HASH_HEADER_LEN {
            return Err(bad);
        }
        let range = HashRange::parse(payload);
        match id {
            HASH_REQUEST | HASH_REJECT if payload.len() != HASH_HEADER_LEN => Err(bad),
            HASH_REQUEST => Ok(Some(HashMessage::Request(range))),
            HASH_REJECT => Ok(Some(HashMessage::Reject(range))),
            _ => {
                let body = &payload[HASH_HEADER_LEN..];
                if !body.len().is_multiple_of(32) {
                    return Err(bad);
                }
                let n = body.len() / 32;
                if n > MAX_HASHES {
                    return Err(HashMessageError::TooManyHashes(n));
                }
                let hashes = body
                    .chunks_exact(32)
                    .map(|c| {
                        let mut h = [0u8; 32];
                        h.copy_from_slice(c);
                        h
                    })
                    .collect();
                Ok(Some(HashMessage::Hashes { range, hashes }))
            }
        }
    }

    /// Parse a decoded [`Message::Unknown`]; `Ok(None)` for any other message.
    pub fn from_message(msg: &Message) -> Result<Option<HashMessage>, HashMessageError> {
        match msg {
            Message::Unknown { id, payload } => Self::parse(*id, payload),
            _ => Ok(None),
        }
    }

    /// The message id.
    pub fn id(&self) -> u8 {
        match self {
            HashMessage::Request(_) => HASH_REQUEST,
            HashMessage::Hashes { .. } => HASHES,
            HashMessage::Reject(_) => HASH_REJECT,
        }
    }

    /// The payload after the id byte.
    pub fn payload(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(HASH_HEADER_LEN);
        match self {
            HashMessage::Request(r) | HashMessage::Reject(r) => r.put(&mut out),
            HashMessage::Hashes { range, hashes } => {
                out.reserve(hashes.len() * 32);
                range.put(&mut out);
                for h in hashes {
                    out.put_slice(h);
                }
            }
        }
        out.freeze()
    }

    /// As a [`Message`] to encode and send (framed like any other).
    pub fn to_message(&self) -> Message {
        Message::Unknown {
            id: self.id(),
            payload: self.payload(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageDecoder;

    fn range() -> HashRange {
        HashRange {
            pieces_root: [7; 32],
            base_layer: 1,
            index: 4,
            length: 4,
            proof_layers: 3,
        }
    }

    #[test]
    fn each_message_round_trips_through_the_frame_decoder() {
        let msgs = [
            HashMessage::Request(range()),
            HashMessage::Reject(range()),
            HashMessage::Hashes {
                range: range(),
                hashes: (0..7u8).map(|i| [i; 32]).collect(),
            },
        ];
        for m in msgs {
            let mut buf = BytesMut::new();
            m.to_message().encode(&mut buf);
            // id 21..23 are 4-byte length, id, payload.
            assert_eq!(buf[4], m.id());
            assert_eq!(&buf[5..37], &[7u8; 32]);
            assert_eq!(&buf[37..41], &1u32.to_be_bytes());
            let decoded = MessageDecoder::new(Some(100))
                .decode(&mut buf)
                .unwrap()
                .unwrap();
            assert_eq!(HashMessage::from_message(&decoded).unwrap(), Some(m));
        }
    }

    #[test]
    fn malformed_sizes_are_errors_and_other_ids_are_not_hash_messages() {
        assert!(HashMessage::parse(HASH_REQUEST, &[0; 47]).is_err());
        assert!(HashMessage::parse(HASH_REQUEST, &[0; 49]).is_err());
        assert!(HashMessage::parse(HASH_REJECT, &[0; 80]).is_err());
        assert!(HashMessage::parse(HASHES, &[0; 48 + 31]).is_err());
        assert_eq!(
            HashMessage::parse(HASHES, &vec![0; 48 + 32 * (MAX_HASHES + 1)]),
            Err(HashMessageError::TooManyHashes(MAX_HASHES + 1))
        );
        assert_eq!(HashMessage::parse(20, &[0; 48]), Ok(None));
        assert!(matches!(
            HashMessage::parse(HASHES, &[0; 48]),
            Ok(Some(HashMessage::Hashes { hashes, .. })) if hashes.is_empty()
        ));
    }
}
