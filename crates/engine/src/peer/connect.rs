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

use super::task::{run, Transport};
use crate::session::SessionShared;
use crate::torrent::TorrentShared;
use shoal_mse::{Incoming, Policy};

/// How long a handshake may take before the connection is dropped.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Our handshake for torrent `t` in the swarm `info_hash` (a hybrid
/// torrent answers in whichever of its two swarms it was reached); the v2
/// bit (BEP 52) is set for v2 and hybrid torrents.
pub(crate) fn our_handshake(t: &TorrentShared, info_hash: [u8; 20]) -> Handshake {
    Handshake::new(info_hash, t.peer_id())
        .with_extension_protocol(true)
        .with_fast(true)
        .with_v2(t.torrent.meta_version().has_v2())
}

/// Why an outgoing connection did not get as far as a handshake.
#[derive(Debug, Clone, Copy)]
struct DialFailure {
    /// It was ourselves.
    is_self: bool,
    /// The peer hung up on the handshake (it may only speak the other
    /// way: plaintext after MSE, or MSE after plaintext).
    hung_up: bool,
}

const FAILED: DialFailure = DialFailure {
    is_self: false,
    hung_up: false,
};

/// The peer hung up before answering.
const HUNG_UP: DialFailure = DialFailure {
    is_self: false,
    hung_up: true,
};

/// Dial `addr` for torrent `t`, then run the connection. Under
/// [`Policy::Prefer`] the MSE handshake goes first (offering RC4 and
/// plaintext, as libtorrent does) and a peer that hangs up on it is dialed
/// again in plaintext; [`Policy::Require`] dials with MSE only,
/// [`Policy::Off`] in plaintext only.
///
/// Why MSE first (`bench/mse-first-byte.sh`, time to the peer's handshake
/// over loopback): Transmission at its defaults answered MSE in 0.95 s and
/// hung up on most plaintext handshakes (1.45 s with the redial); a peer
/// requiring encryption answers at once instead of after a refused
/// connection; against libtorrent at its defaults MSE costs 2.4 ms of
/// Diffie-Hellman (and on a real path one round trip more).
pub(crate) async fn connect(
    t: Arc<TorrentShared>,
    addr: SocketAddr,
    slot: crate::session::ConnectionSlot,
) {
    let policy = t.session.config.encryption;
    let outcome = match policy {
        Policy::Require => dial_encrypted(&t, addr, policy).await,
        Policy::Off => dial_plain(&t, addr).await,
        Policy::Prefer => match dial_encrypted(&t, addr, policy).await {
            Err(f) if f.hung_up => {
                debug!(%addr, "MSE handshake refused: trying plaintext");
                dial_plain(&t, addr).await
            }
            other => other,
        },
    };
    t.half_open.fetch_sub(1, Ordering::Relaxed);
    let (success, is_self) = match outcome {
        // A refused connection (duplicate, banned, full) counts as a
        // failure, so the address is not redialed every few seconds.
        Ok((stream, hs)) => (run(t.clone(), stream, addr, hs, true).await, false),
        Err(f) => (false, f.is_self),
    };
    drop(slot);
    t.lock()
        .candidate_done(addr, success, is_self, Instant::now());
}

/// TCP connect with the session's timeout.
async fn tcp_connect(t: &TorrentShared, addr: SocketAddr) -> Result<TcpStream, DialFailure> {
    match tokio::time::timeout(t.session.config.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => {
            debug!(%addr, error = %e, "connect failed");
            Err(FAILED)
        }
        Err(_) => {
            debug!(%addr, "connect timed out");
            Err(FAILED)
        }
    }
}

/// Dial and exchange plaintext handshakes.
async fn dial_plain(
    t: &TorrentShared,
    addr: SocketAddr,
) -> Result<(Transport, Handshake), DialFailure> {
    let stream = tcp_connect(t, addr).await?;
    let (stream, hs) = outgoing_handshake(t, stream, addr).await?;
    Ok((Transport::Plain(stream, Vec::new()), hs))
}

/// Dial, make the MSE handshake (our BitTorrent handshake as its initial
/// payload) and read the peer's handshake through it.
async fn dial_encrypted(
    t: &TorrentShared,
    addr: SocketAddr,
    policy: Policy,
) -> Result<(Transport, Handshake), DialFailure> {
    let stream = tcp_connect(t, addr).await?;
    let ours = our_handshake(t, t.info_hash);
    let exchange = async {
        let mut s = shoal_mse::connect_encrypted(stream, t.info_hash, policy, &ours.to_bytes())
            .await
            .map_err(HandshakeError::Mse)?;
        let mut buf = [0u8; Handshake::LEN];
        s.read_exact(&mut buf).await.map_err(HandshakeError::Io)?;
        Ok::<_, HandshakeError>((s, buf))
    };
    let (s, buf) = match tokio::time::timeout(t.session.config.handshake_timeout, exchange).await {
        Ok(Ok(r)) => r,
        Ok(Err(HandshakeError::Mse(e))) => {
            debug!(%addr, error = %e, "encrypted handshake failed");
            return Err(if e.suggests_plaintext_retry() {
                HUNG_UP
            } else {
                FAILED
            });
        }
        Ok(Err(HandshakeError::Io(e))) => {
            debug!(%addr, error = %e, "no handshake through MSE");
            return Err(FAILED);
        }
        Err(_) => {
            debug!(%addr, "encrypted handshake timed out");
            return Err(FAILED);
        }
    };
    let theirs = check_theirs(t, &buf, addr)?;
    debug!(%addr, method = ?s.method(), "encrypted connection");
    Ok((Transport::Encrypted(s, Vec::new()), theirs))
}

/// How an outgoing MSE exchange failed.
enum HandshakeError {
    /// The MSE handshake itself.
    Mse(shoal_mse::MseError),
    /// Reading the BitTorrent handshake through it.
    Io(io::Error),
}

/// Parse and check the peer's handshake: right torrent, not ourselves.
fn check_theirs(t: &TorrentShared, buf: &[u8], addr: SocketAddr) -> Result<Handshake, DialFailure> {
    let theirs = match Handshake::parse(buf) {
        Ok(Some(h)) => h,
        _ => {
            debug!(%addr, "bad handshake");
            return Err(FAILED);
        }
    };
    // A hybrid torrent's peer may answer in the v2 swarm (libtorrent does
    // when our handshake has the v2 bit): either of its hashes is ours.
    if theirs.info_hash != t.info_hash
        && !crate::swarm_hashes::swarm_hashes(&t.torrent).contains(&theirs.info_hash)
    {
        debug!(%addr, "handshake for another torrent");
        return Err(FAILED);
    }
    if theirs.peer_id == t.peer_id() {
        debug!(%addr, "connected to ourselves");
        return Err(DialFailure {
            is_self: true,
            hung_up: false,
        });
    }
    Ok(theirs)
}

/// Send our handshake and read theirs.
async fn outgoing_handshake(
    t: &TorrentShared,
    mut stream: TcpStream,
    addr: SocketAddr,
) -> Result<(TcpStream, Handshake), DialFailure> {
    let ours = our_handshake(t, t.info_hash);
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
            return Err(HUNG_UP);
        }
        Err(_) => {
            debug!(%addr, "handshake timed out");
            return Err(FAILED);
        }
    };
    let theirs = check_theirs(t, &buf, addr)?;
    Ok((stream, theirs))
}

/// Whether torrent `t` turns an incoming connection from `addr` away
/// before answering: it is stopping, or the address is banned (whatever
/// port or peer id it comes back with, it learns nothing).
fn turned_away(t: &TorrentShared, addr: SocketAddr) -> bool {
    if t.is_stopping() {
        return true;
    }
    if t.lock().is_banned(addr.ip()) {
        debug!(%addr, "incoming connection from a banned address");
        return true;
    }
    false
}

/// How an incoming connection starts, from its first bytes (peeked, not
/// consumed); `None` if it must be refused under `policy`.
async fn incoming_kind(stream: &TcpStream, policy: Policy) -> Option<Incoming> {
    let mut buf = [0u8; 20];
    loop {
        let n = stream.peek(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        match shoal_mse::detect(&buf[..n], policy) {
            Ok(Some(kind)) => return Some(kind),
            Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(_) => return None,
        }
    }
}

/// Handle an incoming connection: plaintext or MSE (as the session's
/// policy allows), then the handshake, then run the connection.
pub(crate) async fn accept(
    session: Arc<SessionShared>,
    stream: TcpStream,
    addr: SocketAddr,
    handshake_permit: crate::session::HandshakeSlot,
) {
    let _ = stream.set_nodelay(true);
    let timeout = session.config.handshake_timeout;
    let policy = session.config.encryption;
    let kind = match tokio::time::timeout(timeout, incoming_kind(&stream, policy)).await {
        Ok(Some(kind)) => kind,
        _ => {
            debug!(%addr, "incoming connection refused by the encryption policy or closed");
            return;
        }
    };
    match kind {
        Incoming::Plaintext => accept_plain(session, stream, addr, handshake_permit).await,
        Incoming::Encrypted => accept_encrypted(session, stream, addr, handshake_permit).await,
    }
}

/// The MSE handshake for any of the session's torrents, then the
/// BitTorrent handshake through it.
async fn accept_encrypted(
    session: Arc<SessionShared>,
    stream: TcpStream,
    addr: SocketAddr,
    handshake_permit: crate::session::HandshakeSlot,
) {
    let timeout = session.config.handshake_timeout;
    let known = session.info_hashes();
    let policy = session.config.encryption;
    let exchange = async {
        let acc = shoal_mse::accept(stream, known, policy)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut stream = acc.stream;
        let mut got = acc.initial_payload;
        let mut chunk = [0u8; Handshake::LEN];
        while got.len() < Handshake::LEN {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            got.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, io::Error>((stream, acc.info_hash, got))
    };
    let (mut stream, mse_hash, got) = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            debug!(%addr, error = %e, "incoming encrypted handshake failed");
            return;
        }
        Err(_) => {
            debug!(%addr, "incoming encrypted handshake timed out");
            return;
        }
    };
    let theirs = match Handshake::parse(&got[..Handshake::LEN]) {
        Ok(Some(h)) => h,
        _ => {
            debug!(%addr, "bad handshake inside MSE");
            return;
        }
    };
    if mse_hash.is_some_and(|h| h != theirs.info_hash) {
        debug!(%addr, "MSE and BitTorrent handshakes name different torrents");
        return;
    }
    let Some(t) = session.torrent(&theirs.info_hash) else {
        return;
    };
    if turned_away(&t, addr) || theirs.peer_id == t.peer_id() {
        return;
    }
    let ours = our_handshake(&t, theirs.info_hash);
    let reply = async {
        stream.write_all(&ours.to_bytes()).await?;
        stream.flush().await
    };
    if !matches!(tokio::time::timeout(timeout, reply).await, Ok(Ok(()))) {
        return;
    }
    drop(handshake_permit);
    let rest = got[Handshake::LEN..].to_vec();
    run(t, Transport::Encrypted(stream, rest), addr, theirs, false).await;
}

/// Handle a plaintext incoming connection: read the handshake prefix, find
/// the torrent, answer, read the peer id, then run the connection.
async fn accept_plain(
    session: Arc<SessionShared>,
    mut stream: TcpStream,
    addr: SocketAddr,
    handshake_permit: crate::session::HandshakeSlot,
) {
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
    if turned_away(&t, addr) {
        return;
    }
    let ours = our_handshake(&t, prefix.info_hash);
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
    run(
        t,
        Transport::Plain(stream, Vec::new()),
        addr,
        prefix.with_peer_id(id),
        false,
    )
    .await;
}
