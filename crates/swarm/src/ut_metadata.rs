//! BEP 9 metadata exchange (`ut_metadata`): the messages, and serving the
//! info dictionary in 16 KiB pieces. Serving is done by the peer state
//! machine ([`crate::peer::PeerState`]); fetching it for a magnet link is
//! the engine's.

use bytes::Bytes;
use shoal_bencode::{OwnedValue, Value};
use shoal_wire::Message;
use thiserror::Error;

/// The extended message id we receive `ut_metadata` messages under.
pub const UT_METADATA_ID: u8 = 3;
/// The extension's name in the extension handshake.
pub const UT_METADATA: &str = "ut_metadata";
/// Size of a metadata piece.
pub const METADATA_PIECE_LEN: usize = 16 * 1024;
/// Largest info dictionary we fetch (real ones are well under this).
pub const MAX_METADATA_SIZE: u64 = 32 << 20;

/// A `ut_metadata` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataMessage {
    /// Asks for a piece of the info dictionary.
    Request {
        /// Piece index.
        piece: u32,
    },
    /// Carries a piece.
    Data {
        /// Piece index.
        piece: u32,
        /// Size of the whole info dictionary.
        total_size: u64,
        /// The piece's bytes.
        data: Bytes,
    },
    /// The sender will not send this piece.
    Reject {
        /// Piece index.
        piece: u32,
    },
}

/// Why a `ut_metadata` message or exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetadataError {
    /// Not a valid `ut_metadata` message.
    #[error("malformed ut_metadata message")]
    Malformed,
    /// No peer gave us the metadata.
    #[error("no peer sent the torrent's metadata ({0})")]
    NotFound(String),
}

fn dict_msg(msg_type: i64, piece: u32, total: Option<u64>) -> Vec<u8> {
    let mut d = std::collections::BTreeMap::new();
    d.insert(b"msg_type".to_vec(), OwnedValue::Int(msg_type));
    d.insert(b"piece".to_vec(), OwnedValue::Int(i64::from(piece)));
    if let Some(t) = total {
        d.insert(
            b"total_size".to_vec(),
            OwnedValue::Int(i64::try_from(t).unwrap_or(i64::MAX)),
        );
    }
    OwnedValue::Dict(d).to_bencode()
}

impl MetadataMessage {
    /// Parse the payload of an extended message (after the extended id).
    pub fn parse(payload: &Bytes) -> Result<MetadataMessage, MetadataError> {
        let (value, used) =
            shoal_bencode::decode_prefix(payload).map_err(|_| MetadataError::Malformed)?;
        let Value::Dict(d) = value else {
            return Err(MetadataError::Malformed);
        };
        let piece = d
            .get_int(b"piece")
            .and_then(|p| u32::try_from(p).ok())
            .ok_or(MetadataError::Malformed)?;
        match d.get_int(b"msg_type") {
            Some(0) => Ok(MetadataMessage::Request { piece }),
            Some(1) => {
                let total_size = d
                    .get_int(b"total_size")
                    .and_then(|t| u64::try_from(t).ok())
                    .ok_or(MetadataError::Malformed)?;
                Ok(MetadataMessage::Data {
                    piece,
                    total_size,
                    data: payload.slice(used..),
                })
            }
            Some(2) => Ok(MetadataMessage::Reject { piece }),
            _ => Err(MetadataError::Malformed),
        }
    }

    /// The extended message carrying this, for a peer that receives
    /// `ut_metadata` under `their_id`.
    pub fn to_message(&self, their_id: u8) -> Message {
        let payload = match self {
            MetadataMessage::Request { piece } => Bytes::from(dict_msg(0, *piece, None)),
            MetadataMessage::Reject { piece } => Bytes::from(dict_msg(2, *piece, None)),
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => {
                let mut b = dict_msg(1, *piece, Some(*total_size));
                b.extend_from_slice(data);
                Bytes::from(b)
            }
        };
        Message::Extended {
            id: their_id,
            payload,
        }
    }
}

/// The reply to a request for `piece` of `metadata`.
pub fn serve(metadata: &Bytes, piece: u32) -> MetadataMessage {
    let start = piece as usize * METADATA_PIECE_LEN;
    if start >= metadata.len() {
        return MetadataMessage::Reject { piece };
    }
    let end = (start + METADATA_PIECE_LEN).min(metadata.len());
    MetadataMessage::Data {
        piece,
        total_size: metadata.len() as u64,
        data: metadata.slice(start..end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let msgs = [
            MetadataMessage::Request { piece: 2 },
            MetadataMessage::Reject { piece: 0 },
            MetadataMessage::Data {
                piece: 1,
                total_size: 20000,
                data: Bytes::from_static(b"abcdef"),
            },
        ];
        for m in msgs {
            let Message::Extended { id, payload } = m.to_message(7) else {
                panic!()
            };
            assert_eq!(id, 7);
            assert_eq!(MetadataMessage::parse(&payload).unwrap(), m);
        }
    }

    #[test]
    fn serve_splits_into_16k_pieces() {
        let meta = Bytes::from(vec![1u8; 20000]);
        match serve(&meta, 1) {
            MetadataMessage::Data {
                total_size, data, ..
            } => {
                assert_eq!(total_size, 20000);
                assert_eq!(data.len(), 20000 - 16384);
            }
            m => panic!("{m:?}"),
        }
        assert_eq!(serve(&meta, 2), MetadataMessage::Reject { piece: 2 });
    }

    #[test]
    fn malformed_messages() {
        for bad in [
            &b"le"[..],
            b"d5:piecei0ee",
            b"d8:msg_typei9e5:piecei0ee",
            b"xyz",
        ] {
            assert!(MetadataMessage::parse(&Bytes::copy_from_slice(bad)).is_err());
        }
    }
}
