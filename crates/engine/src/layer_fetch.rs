//! Getting the piece layers of a v2 torrent from peers (BEP 52 `hash
//! request`s) when its info dictionary came from a magnet link, which
//! carries none: peers are asked one after another until one answers
//! everything, each answer proven against its file's root by
//! [`LayerFetch`] before it is used.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use shoal_metainfo::Torrent;
use shoal_swarm::hash_request::LayerFetch;
use shoal_wire::{
    ExtensionHandshake, Handshake, HashMessage, HashRange, Message, MessageDecoder, PeerId,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

/// Time allowed to connect and exchange handshakes with one peer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer that answers nothing for this long is given up on.
const STALL: Duration = Duration::from_secs(10);
/// Requests out at once on one connection.
const IN_FLIGHT: usize = 32;

/// Fill in the piece layers `torrent` lacks from `peers` (in the swarm
/// `info_hash`); gives up after `timeout`. A torrent that lacks nothing is
/// left alone.
pub(crate) async fn fetch_piece_layers(
    torrent: &mut Torrent,
    info_hash: [u8; 20],
    peer_id: PeerId,
    peers: &[SocketAddr],
    timeout: Duration,
) -> Result<(), String> {
    let mut fetch = LayerFetch::new(&torrent.layout);
    if fetch.is_done() {
        return Ok(());
    }
    let run = async {
        let mut errors = Vec::new();
        for &addr in peers {
            match fetch_from(addr, info_hash, peer_id, torrent, &mut fetch).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    debug!(%addr, error = %e, "piece layers from this peer failed");
                    errors.push(format!("{addr}: {e}"));
                }
            }
        }
        Err(if errors.is_empty() {
            "no peers known".to_string()
        } else {
            errors.join("; ")
        })
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(())) => {
            fetch.apply(&mut torrent.layout);
            Ok(())
        }
        Ok(Err(e)) => Err(format!("piece layers not found: {e}")),
        Err(_) => Err("piece layers not found: timed out".into()),
    }
}

/// Ask `addr` for every open request until `fetch` is done or the peer
/// fails (rejects, stalls, sends a bad proof or goes away).
async fn fetch_from(
    addr: SocketAddr,
    info_hash: [u8; 20],
    peer_id: PeerId,
    torrent: &Torrent,
    fetch: &mut LayerFetch,
) -> Result<(), String> {
    let connect = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = s.set_nodelay(true);
        let ours = Handshake::new(info_hash, peer_id)
            .with_extension_protocol(true)
            .with_fast(true)
            .with_v2(true);
        s.write_all(&ours.to_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut hs = [0u8; Handshake::LEN];
        s.read_exact(&mut hs).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((s, ours, hs))
    };
    let (mut s, ours, hs) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| "connect timed out".to_string())??;
    let theirs = match Handshake::parse(&hs) {
        Ok(Some(h)) => h,
        _ => return Err("bad handshake".into()),
    };
    // A hybrid's peer may answer in the v2 swarm (libtorrent does once it
    // sees the v2 bit).
    if !crate::swarm_hashes::swarm_hashes(torrent).contains(&theirs.info_hash) {
        return Err("handshake for another torrent".into());
    }
    let mut out = BytesMut::new();
    if theirs.supports_extension_protocol() {
        ExtensionHandshake::default().to_message().encode(&mut out);
    }
    if theirs.supports_fast() {
        Message::HaveNone.encode(&mut out);
    }
    let mut decoder = MessageDecoder::new(Some(torrent.layout.piece_count))
        .with_negotiated(&ours.reserved, &theirs.reserved);
    let mut buf = BytesMut::with_capacity(32 * 1024);
    let mut sent: Vec<HashRange> = Vec::new();
    loop {
        // Top up the requests out.
        for r in fetch.requests() {
            if sent.len() >= IN_FLIGHT {
                break;
            }
            if !sent.contains(r) {
                HashMessage::Request(*r).to_message().encode(&mut out);
                sent.push(*r);
            }
        }
        if !out.is_empty() {
            s.write_all(&out).await.map_err(|e| e.to_string())?;
            out.clear();
        }
        let n = tokio::time::timeout(STALL, s.read_buf(&mut buf))
            .await
            .map_err(|_| format!("no answer for {STALL:?}"))?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        while let Some(m) = decoder.decode(&mut buf).map_err(|e| e.to_string())? {
            match HashMessage::from_message(&m).map_err(|e| e.to_string())? {
                Some(HashMessage::Hashes { range, hashes }) => {
                    fetch
                        .on_hashes(&torrent.layout, &range, &hashes)
                        .map_err(|e| e.to_string())?;
                    sent.retain(|r| {
                        (r.pieces_root, r.index, r.base_layer)
                            != (range.pieces_root, range.index, range.base_layer)
                    });
                    if fetch.is_done() {
                        return Ok(());
                    }
                }
                Some(HashMessage::Reject(_)) => return Err("rejected our hash request".into()),
                Some(HashMessage::Request(r)) => {
                    HashMessage::Reject(r).to_message().encode(&mut out);
                }
                None => {}
            }
        }
    }
}
