//! Fetching a torrent's info dictionary from peers for a magnet link
//! (BEP 9 `ut_metadata`): dials peers, asks for every 16 KiB piece and
//! returns the dictionary once its SHA-1 matches the info-hash.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use sha1::{Digest, Sha1};
use shoal_swarm::ut_metadata::{
    MetadataError, MetadataMessage, MAX_METADATA_SIZE, METADATA_PIECE_LEN, UT_METADATA,
    UT_METADATA_ID,
};
use shoal_wire::{ExtensionHandshake, Handshake, Message, MessageDecoder, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tracing::debug;

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
