//! BEP 9 metadata exchange (`ut_metadata`): the messages, and fetching a
//! torrent's info dictionary from peers for a magnet link.
//!
//! Serving is done by the peer state machine ([`crate::peer::PeerState`]
//! reports requests as [`crate::peer::Effect::MetadataRequest`]); this
//! module holds the codec and [`fetch_metadata`], which dials peers, asks
//! for every 16 KiB piece of the info dictionary and returns it once its
//! SHA-1 matches the info-hash.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sha1::{Digest, Sha1};
use shoal_bencode::{OwnedValue, Value};
use shoal_wire::{ExtensionHandshake, Handshake, Message, MessageDecoder, PeerId};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tracing::debug;

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

/// Fetch the info dictionary of `info_hash` from any of `peers`, trying a
/// few at once; gives up after `timeout`.
pub async fn fetch_metadata(
    info_hash: [u8; 20],
    peers: Vec<SocketAddr>,
    peer_id: PeerId,
    timeout: Duration,
) -> Result<Vec<u8>, MetadataError> {
    if peers.is_empty() {
        return Err(MetadataError::NotFound("no peers known".into()));
    }
    let mut tasks = JoinSet::new();
    for addr in peers {
        tasks.spawn(async move {
            let r = tokio::time::timeout(timeout, fetch_from(addr, info_hash, peer_id)).await;
            match r {
                Ok(Ok(info)) => Ok(info),
                Ok(Err(e)) => Err(format!("{addr}: {e}")),
                Err(_) => Err(format!("{addr}: timed out")),
            }
        });
    }
    let mut errors = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(info)) => return Ok(info),
            Ok(Err(e)) => {
                debug!(error = %e, "metadata fetch failed");
                errors.push(e);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(MetadataError::NotFound(errors.join("; ")))
}

/// Fetch the metadata from one peer.
async fn fetch_from(
    addr: SocketAddr,
    info_hash: [u8; 20],
    peer_id: PeerId,
) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = s.set_nodelay(true);
    let ours = Handshake::new(info_hash, peer_id).with_extension_protocol(true);
    s.write_all(&ours.to_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut hs = [0u8; Handshake::LEN];
    s.read_exact(&mut hs).await.map_err(|e| e.to_string())?;
    let theirs = match Handshake::parse(&hs) {
        Ok(Some(h)) => h,
        _ => return Err("bad handshake".into()),
    };
    if theirs.info_hash != info_hash {
        return Err("handshake for another torrent".into());
    }
    if !theirs.supports_extension_protocol() {
        return Err("no extension protocol".into());
    }
    let mut ext = ExtensionHandshake::default();
    ext.m.insert(UT_METADATA.into(), UT_METADATA_ID);
    let mut out = BytesMut::new();
    ext.to_message().encode(&mut out);
    s.write_all(&out).await.map_err(|e| e.to_string())?;

    let mut decoder = MessageDecoder::new(None).with_negotiated(&ours.reserved, &theirs.reserved);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut info: Vec<u8> = Vec::new();
    let mut received: Vec<bool> = Vec::new();
    loop {
        let n = s.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        while let Some(m) = decoder.decode(&mut buf).map_err(|e| e.to_string())? {
            let Message::Extended { id, payload } = m else {
                continue;
            };
            if id == 0 {
                let hs = ExtensionHandshake::parse(&payload).map_err(|e| e.to_string())?;
                let their_id = hs
                    .extension_id(UT_METADATA)
                    .ok_or("peer does not offer ut_metadata")?;
                let size = hs.metadata_size.ok_or("peer did not give metadata_size")?;
                if size == 0 || size > MAX_METADATA_SIZE {
                    return Err(format!("metadata_size {size} out of range"));
                }
                if info.is_empty() {
                    info = vec![0u8; size as usize];
                    let pieces = (size as usize).div_ceil(METADATA_PIECE_LEN);
                    received = vec![false; pieces];
                    let mut out = BytesMut::new();
                    for piece in 0..pieces as u32 {
                        MetadataMessage::Request { piece }
                            .to_message(their_id)
                            .encode(&mut out);
                    }
                    s.write_all(&out).await.map_err(|e| e.to_string())?;
                }
                continue;
            }
            if id != UT_METADATA_ID || info.is_empty() {
                continue;
            }
            match MetadataMessage::parse(&payload).map_err(|e| e.to_string())? {
                MetadataMessage::Data {
                    piece,
                    total_size,
                    data,
                } => {
                    let start = piece as usize * METADATA_PIECE_LEN;
                    let expected = METADATA_PIECE_LEN.min(info.len().saturating_sub(start));
                    if total_size != info.len() as u64
                        || start >= info.len()
                        || data.len() != expected
                    {
                        return Err("metadata piece of the wrong size".into());
                    }
                    info[start..start + expected].copy_from_slice(&data);
                    received[piece as usize] = true;
                    if received.iter().all(|&r| r) {
                        let digest: [u8; 20] = Sha1::digest(&info).into();
                        if digest != info_hash {
                            return Err("metadata does not match the info-hash".into());
                        }
                        return Ok(info);
                    }
                }
                MetadataMessage::Reject { .. } => {
                    return Err("peer rejected a metadata request".into())
                }
                MetadataMessage::Request { piece } => {
                    // We have nothing to give yet.
                    let mut out = BytesMut::new();
                    MetadataMessage::Reject { piece }
                        .to_message(UT_METADATA_ID)
                        .encode(&mut out);
                    let _ = s.write_all(&out).await;
                }
            }
        }
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
