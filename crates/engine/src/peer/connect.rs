//! Establishing peer connections: dialing with a timeout, accepting and
//! routing by the info-hash in the handshake prefix, and the handshake
//! checks (right torrent, not ourselves) in both directions.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_wire::{Handshake, HandshakePrefix, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

use super::task::run;
use crate::session::SessionShared;
use crate::torrent::TorrentShared;

/// How long a handshake may take before the connection is dropped.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Our handshake for a torrent.
pub(crate) fn our_handshake(info_hash: [u8; 20], peer_id: PeerId) -> Handshake {
    Handshake::new(info_hash, peer_id)
        .with_extension_protocol(true)
        .with_fast(true)
}

/// Dial `addr` for torrent `t`, then run the connection.
pub(crate) async fn connect(
    t: Arc<TorrentShared>,
    addr: SocketAddr,
    slot: crate::session::ConnectionSlot,
) {
    let cfg = &t.session.config;
    let dial = tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(addr)).await;
    let outcome = match dial {
        Ok(Ok(stream)) => outgoing_handshake(&t, stream, addr).await,
        Ok(Err(e)) => {
            debug!(%addr, error = %e, "connect failed");
            Err(false)
        }
        Err(_) => {
            debug!(%addr, "connect timed out");
            Err(false)
        }
    };
    t.half_open.fetch_sub(1, Ordering::Relaxed);
    let (success, is_self) = match outcome {
        // A refused connection (duplicate, banned, full) counts as a
        // failure, so the address is not redialed every few seconds.
        Ok((stream, hs)) => (run(t.clone(), stream, addr, hs, true).await, false),
        Err(is_self) => (false, is_self),
    };
    drop(slot);
    t.lock()
        .candidate_done(addr, success, is_self, Instant::now());
}

/// Send our handshake and read theirs. `Err(true)` if it was ourselves.
async fn outgoing_handshake(
    t: &TorrentShared,
    mut stream: TcpStream,
    addr: SocketAddr,
) -> Result<(TcpStream, Handshake), bool> {
    let _ = stream.set_nodelay(true);
    let ours = our_handshake(t.info_hash, t.peer_id());
    let timeout = t.session.config.handshake_timeout;
    let exchange = async {
        stream.write_all(&ours.to_bytes()).await?;
        let mut buf = [0u8; Handshake::LEN];
        stream.read_exact(&mut buf).await?;
        Ok::<_, io::Error>(buf)
    };
    let buf = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(buf)) => buf,
        Ok(Err(e)) => {
            debug!(%addr, error = %e, "handshake failed");
            return Err(false);
        }
        Err(_) => {
            debug!(%addr, "handshake timed out");
            return Err(false);
        }
    };
    let theirs = match Handshake::parse(&buf) {
        Ok(Some(h)) => h,
        _ => {
            debug!(%addr, "bad handshake");
            return Err(false);
        }
    };
    if theirs.info_hash != t.info_hash {
        debug!(%addr, "handshake for another torrent");
        return Err(false);
    }
    if theirs.peer_id == t.peer_id() {
        debug!(%addr, "connected to ourselves");
        return Err(true);
    }
    Ok((stream, theirs))
}

/// Handle an incoming connection: read the handshake prefix, find the
/// torrent, answer, read the peer id, then run the connection.
pub(crate) async fn accept(
    session: Arc<SessionShared>,
    mut stream: TcpStream,
    addr: SocketAddr,
    handshake_permit: crate::session::HandshakeSlot,
) {
    let _ = stream.set_nodelay(true);
    let timeout = session.config.handshake_timeout;
    let prefix = async {
        let mut buf = [0u8; HandshakePrefix::LEN];
        let mut got = 0;
        while got < buf.len() {
            let n = stream.read(&mut buf[got..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            got += n;
            // Reject a wrong protocol string as soon as it shows.
            if HandshakePrefix::parse(&buf[..got]).is_err() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "not BitTorrent"));
            }
        }
        Ok::<_, io::Error>(buf)
    };
    let prefix = match tokio::time::timeout(timeout, prefix).await {
        Ok(Ok(b)) => b,
        _ => {
            debug!(%addr, "incoming handshake failed");
            return;
        }
    };
    let Ok(Some(prefix)) = HandshakePrefix::parse(&prefix) else {
        return;
    };
    let Some(t) = session.torrent(&prefix.info_hash) else {
        debug!(%addr, "incoming connection for an unknown torrent");
        return;
    };
    if t.is_stopping() {
        return;
    }
    // A banned address is turned away before it learns anything, whatever
    // port or peer id it comes back with.
    if t.lock().is_banned(addr.ip()) {
        debug!(%addr, "incoming connection from a banned address");
        return;
    }
    let ours = our_handshake(t.info_hash, t.peer_id());
    let finish = async {
        stream.write_all(&ours.to_bytes()).await?;
        let mut id = [0u8; 20];
        stream.read_exact(&mut id).await?;
        Ok::<_, io::Error>(id)
    };
    let id = match tokio::time::timeout(timeout, finish).await {
        Ok(Ok(id)) => PeerId(id),
        _ => {
            debug!(%addr, "incoming handshake failed");
            return;
        }
    };
    if id == t.peer_id() {
        return;
    }
    drop(handshake_permit);
    run(t, stream, addr, prefix.with_peer_id(id), false).await;
}
