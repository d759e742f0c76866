//! Fetching a torrent's info dictionary from peers for a magnet link
//! (BEP 9 `ut_metadata`): a few peers at a time, each holding one of the
//! session's connection slots, feed one shared
//! [`MetadataAssembler`], which allocates the dictionary once and takes
//! pieces from all of them.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use shoal_swarm::ut_metadata::{MetadataError, MetadataMessage, UT_METADATA, UT_METADATA_ID};
use shoal_swarm::ut_metadata_fetch::{MetadataAssembler, Progress};
use shoal_swarm::PeerKey;
use shoal_wire::{ExtensionHandshake, Handshake, Message, MessageDecoder, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tracing::debug;

use crate::session::SessionShared;

/// Peers asked at once.
const PARALLEL: usize = 4;
/// Time allowed to connect and exchange handshakes with one peer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a peer's task tops its requests up (after a reject, or when
/// a corrupt dictionary was dropped) even if nothing arrives.
const TOP_UP: Duration = Duration::from_millis(500);
/// A peer with requests out that sends no metadata piece for this long is
/// given up on (its place goes to the next peer).
const STALL: Duration = Duration::from_secs(5);
/// Most bytes read from one peer during the fetch (the dictionary is at
/// most 32 MiB; anything far beyond is not an honest peer).
const MAX_READ: usize = 40 << 20;

/// The assembler and the peers it found guilty, shared by the peer tasks.
#[derive(Debug)]
struct Shared {
    assembler: MetadataAssembler,
    dropped: HashSet<PeerKey>,
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    match shared.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Fetch the info dictionary of `info_hash` from `peers`, [`PARALLEL`] at
/// a time, each holding a session connection slot; gives up after
/// `timeout`.
pub(crate) async fn fetch_metadata(
    session: &Arc<SessionShared>,
    info_hash: [u8; 20],
    peers: Vec<SocketAddr>,
    timeout: Duration,
) -> Result<Vec<u8>, MetadataError> {
    if peers.is_empty() {
        return Err(MetadataError::NotFound("no peers known".into()));
    }
    let shared = Arc::new(Mutex::new(Shared {
        assembler: MetadataAssembler::new(info_hash),
        dropped: HashSet::new(),
    }));
    let peer_id = session.peer_id;
    let mut errors = Vec::new();
    let run = async {
        let mut queue = peers.into_iter().enumerate();
        let mut tasks = JoinSet::new();
        loop {
            while tasks.len() < PARALLEL {
                let Some((n, addr)) = queue.next() else {
                    break;
                };
                let Some(slot) = session.reserve_connection() else {
                    // The session is full: wait for one of ours, or give
                    // up if none is running.
                    if tasks.is_empty() {
                        return Err("the session's connection limit is reached".to_string());
                    }
                    break;
                };
                let key = PeerKey(n as u64);
                let sh = shared.clone();
                tasks.spawn(async move {
                    let r = fetch_from(addr, key, info_hash, peer_id, &sh).await;
                    lock(&sh).assembler.on_peer_gone(key);
                    drop(slot);
                    r.map_err(|e| format!("{addr}: {e}"))
                });
            }
            let Some(done) = tasks.join_next().await else {
                return Err("no peer sent it".to_string());
            };
            match done {
                Ok(Ok(info)) => return Ok(info),
                Ok(Err(e)) => {
                    debug!(error = %e, "metadata fetch from a peer failed");
                    errors.push(e);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(e)) => {
            errors.push(e);
            Err(MetadataError::NotFound(errors.join("; ")))
        }
        Err(_) => {
            errors.push("timed out".into());
            Err(MetadataError::NotFound(errors.join("; ")))
        }
    }
}

/// Ask `addr` for metadata pieces until the dictionary is complete (by
/// anyone's pieces: returns it) or this peer fails.
async fn fetch_from(
    addr: SocketAddr,
    key: PeerKey,
    info_hash: [u8; 20],
    peer_id: PeerId,
    shared: &Mutex<Shared>,
) -> Result<Vec<u8>, String> {
    let connect = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = s.set_nodelay(true);
        let ours = Handshake::new(info_hash, peer_id).with_extension_protocol(true);
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
    let mut buf = BytesMut::with_capacity(32 * 1024);
    let mut their_id = None;
    let mut rejects = 0usize;
    let mut read_total = 0usize;
    let mut last_piece = tokio::time::Instant::now();
    loop {
        if last_piece.elapsed() > STALL {
            return Err(format!("no metadata piece for {STALL:?}"));
        }
        // Top up: ask for whatever is missing, two pieces at a time.
        if let Some(id) = their_id {
            out.clear();
            let (guilty, active) = {
                let mut sh = lock(shared);
                while let Some(piece) = sh.assembler.next_request(key) {
                    MetadataMessage::Request { piece }
                        .to_message(id)
                        .encode(&mut out);
                }
                (sh.dropped.contains(&key), sh.assembler.is_active(key))
            };
            if !active {
                // Waiting aside with another size: not stalling.
                last_piece = tokio::time::Instant::now();
            }
            if guilty {
                return Err("sent pieces of a dictionary that failed its hash".into());
            }
            if !out.is_empty() {
                s.write_all(&out).await.map_err(|e| e.to_string())?;
            }
        }
        let n = match tokio::time::timeout(TOP_UP, s.read_buf(&mut buf)).await {
            Err(_) => continue,
            Ok(r) => r.map_err(|e| e.to_string())?,
        };
        if n == 0 {
            return Err("connection closed".into());
        }
        read_total += n;
        if read_total > MAX_READ {
            return Err("sent far more than any dictionary".into());
        }
        while let Some(m) = decoder.decode(&mut buf).map_err(|e| e.to_string())? {
            let Message::Extended { id, payload } = m else {
                continue;
            };
            if id == 0 {
                let hs = ExtensionHandshake::parse(&payload).map_err(|e| e.to_string())?;
                let tid = hs
                    .extension_id(UT_METADATA)
                    .ok_or("peer does not offer ut_metadata")?;
                let size = hs.metadata_size.ok_or("peer did not give metadata_size")?;
                lock(shared)
                    .assembler
                    .offer_size(key, size)
                    .map_err(|_| format!("metadata_size {size} refused"))?;
                their_id = Some(tid);
                continue;
            }
            if id != UT_METADATA_ID || their_id.is_none() {
                continue;
            }
            match MetadataMessage::parse(&payload).map_err(|e| e.to_string())? {
                MetadataMessage::Data {
                    piece,
                    total_size,
                    data,
                } => {
                    let progress = {
                        let mut sh = lock(shared);
                        let p = sh.assembler.on_data(key, piece, total_size, &data);
                        if let Ok(Progress::Corrupt(senders)) = &p {
                            sh.dropped.extend(senders.iter().copied());
                        }
                        p
                    };
                    last_piece = tokio::time::Instant::now();
                    match progress {
                        Ok(Progress::More | Progress::Corrupt(_)) => {}
                        Ok(Progress::Complete(info)) => return Ok(info),
                        Err(_) => return Err("metadata piece of the wrong size".into()),
                    }
                }
                MetadataMessage::Reject { piece } => {
                    lock(shared).assembler.on_reject(key, piece);
                    rejects += 1;
                    if rejects > 64 {
                        return Err("peer rejects our metadata requests".into());
                    }
                }
                MetadataMessage::Request { piece } => {
                    // We have nothing to give yet.
                    let mut out = BytesMut::new();
                    if let Some(tid) = their_id {
                        MetadataMessage::Reject { piece }
                            .to_message(tid)
                            .encode(&mut out);
                        let _ = s.write_all(&out).await;
                    }
                }
            }
        }
    }
}
