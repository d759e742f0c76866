//! Dialing a peer over uTP, TCP or both (as the session's
//! [`TransportMode`] says). Under [`TransportMode::Both`] the uTP attempt
//! goes first, as libtorrent's does, but TCP is not kept waiting for it:
//! it is dialed as soon as the uTP attempt fails, or beside it once the
//! attempt has gone unanswered for [`crate::SessionConfig::utp_fallback`],
//! and whichever connects first carries the connection (the other is
//! dropped). A peer without uTP so costs that fallback delay, not a uTP
//! connect timeout.

use std::net::SocketAddr;

use tracing::debug;

use super::connect::{tcp_connect, DialFailure, Link, FAILED};
use crate::torrent::TorrentShared;
use crate::transport::TransportMode;

/// Connect to `addr` over the transports the session uses.
pub(crate) async fn dial(t: &TorrentShared, addr: SocketAddr) -> Result<Link, DialFailure> {
    let mode = t.session.config.transport;
    let has_utp = crate::udp::socket_for(&t.session.utp, addr).is_some();
    match mode {
        TransportMode::Tcp => tcp_connect(t, addr).await.map(Link::Tcp),
        TransportMode::Utp => reconnect(t, addr).await.map(Link::Utp),
        TransportMode::Both if !has_utp => tcp_connect(t, addr).await.map(Link::Tcp),
        TransportMode::Both => race(t, addr).await,
    }
}

/// A uTP connection to `addr`, within the session's connect timeout.
pub(crate) async fn reconnect(
    t: &TorrentShared,
    addr: SocketAddr,
) -> Result<shoal_utp::UtpStream, DialFailure> {
    let Some(socket) = crate::udp::socket_for(&t.session.utp, addr) else {
        debug!(%addr, "no uTP socket of this address family");
        return Err(FAILED);
    };
    let timeout = t.session.config.connect_timeout;
    match tokio::time::timeout(timeout, socket.connect(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            debug!(%addr, error = %e, "uTP connect failed");
            Err(FAILED)
        }
        Err(_) => {
            debug!(%addr, "uTP connect timed out");
            Err(FAILED)
        }
    }
}

/// uTP first, TCP beside it after the fallback delay or at once when uTP
/// fails; the first to connect wins.
async fn race(t: &TorrentShared, addr: SocketAddr) -> Result<Link, DialFailure> {
    let utp = reconnect(t, addr);
    tokio::pin!(utp);
    tokio::select! {
        r = &mut utp => {
            return match r {
                Ok(s) => Ok(Link::Utp(s)),
                Err(_) => tcp_connect(t, addr).await.map(Link::Tcp),
            };
        }
        _ = tokio::time::sleep(t.session.config.utp_fallback) => {}
    }
    debug!(%addr, "uTP unanswered so far: dialing TCP beside it");
    let tcp = tcp_connect(t, addr);
    tokio::pin!(tcp);
    let (mut utp_live, mut tcp_live) = (true, true);
    while utp_live || tcp_live {
        tokio::select! {
            r = &mut utp, if utp_live => match r {
                Ok(s) => return Ok(Link::Utp(s)),
                Err(_) => utp_live = false,
            },
            r = &mut tcp, if tcp_live => match r {
                Ok(s) => return Ok(Link::Tcp(s)),
                Err(_) => tcp_live = false,
            },
        }
    }
    Err(FAILED)
}
