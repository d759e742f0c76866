//! Local service discovery (BEP 14): the session's multicast socket. Every
//! non-private torrent is announced with `BT-SEARCH` on
//! 239.192.152.143:6771 (and [ff15::efc0:988f]:6771 where IPv6 multicast
//! works) when added, then every 5 minutes, or every minute while it has
//! no peers; announces from others for our torrents add their sender as a
//! candidate. Our own announces come back to us (multicast loop) and are
//! told apart by a random cookie.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_swarm::lsd::{LsdMessage, LsdSchedule, LSD_V4, LSD_V6, MAX_DATAGRAM, MAX_INFO_HASHES};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tracing::{debug, info};

use crate::session::SessionShared;
use crate::torrent::PeerSource;

/// How often the schedule is looked at.
const TICK: Duration = Duration::from_secs(1);

/// A UDP socket on the LSD port (shared with other processes), in the
/// multicast group of `group`.
fn multicast_socket(group: SocketAddr) -> std::io::Result<UdpSocket> {
    let (domain, bind) = match group {
        SocketAddr::V4(_) => (
            Domain::IPV4,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, group.port())),
        ),
        SocketAddr::V6(_) => (
            Domain::IPV6,
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, group.port())),
        ),
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    match group {
        SocketAddr::V4(g) => {
            s.bind(&bind.into())?;
            s.join_multicast_v4(g.ip(), &Ipv4Addr::UNSPECIFIED)?;
            s.set_multicast_loop_v4(true)?;
            s.set_multicast_ttl_v4(1)?;
        }
        SocketAddr::V6(g) => {
            s.set_only_v6(true)?;
            s.bind(&bind.into())?;
            s.join_multicast_v6(g.ip(), 0)?;
            s.set_multicast_loop_v6(true)?;
        }
    }
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// Run local service discovery for the session until aborted. Returns at
/// once (logged) if no multicast socket can be opened.
pub(crate) async fn run(shared: Arc<SessionShared>) {
    let v4 = multicast_socket(SocketAddr::V4(LSD_V4))
        .map_err(|e| debug!(error = %e, "no IPv4 local service discovery"))
        .ok();
    let v6 = multicast_socket(SocketAddr::V6(LSD_V6))
        .map_err(|e| debug!(error = %e, "no IPv6 local service discovery"))
        .ok();
    if v4.is_none() && v6.is_none() {
        info!("local service discovery is off: no multicast socket");
        return;
    }
    let cookie = format!("{:016x}", rand::random::<u64>());
    let port = shared.local_addr.port();
    let mut schedule = LsdSchedule::default();
    let mut tick = tokio::time::interval(TICK);
    let mut buf4 = vec![0u8; MAX_DATAGRAM + 1];
    let mut buf6 = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let due = due_torrents(&shared, &mut schedule, Instant::now());
                for chunk in due.chunks(MAX_INFO_HASHES) {
                    let msg = LsdMessage { port, info_hashes: chunk.to_vec(), cookie: Some(cookie.clone()) };
                    for (sock, group) in [(&v4, SocketAddr::V4(LSD_V4)), (&v6, SocketAddr::V6(LSD_V6))] {
                        if let Some(s) = sock {
                            if let Err(e) = s.send_to(&msg.encode(group), group).await {
                                debug!(%group, error = %e, "LSD announce not sent");
                            }
                        }
                    }
                    debug!(torrents = chunk.len(), "LSD announce");
                }
            }
            r = recv(&v4, &mut buf4) => on_datagram(&shared, &cookie, r, &buf4),
            r = recv(&v6, &mut buf6) => on_datagram(&shared, &cookie, r, &buf6),
        }
    }
}

/// The next datagram on `sock`; never resolves without a socket.
async fn recv(sock: &Option<UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// The session's non-private torrents due for an announce; those with no
/// peers are due again after a minute.
fn due_torrents(shared: &SessionShared, schedule: &mut LsdSchedule, now: Instant) -> Vec<[u8; 20]> {
    let mut current = Vec::new();
    for ih in shared.info_hashes() {
        let Some(t) = shared.torrent(&ih) else {
            continue;
        };
        // BEP 27: a private torrent's peers come from its trackers only.
        if t.torrent.private || t.is_stopping() {
            continue;
        }
        current.push(ih);
        let lonely = t.lock().peer_count() == 0;
        schedule.sync(&current, now);
        if lonely {
            schedule.hurry(&ih, now);
        }
    }
    schedule.sync(&current, now);
    schedule.due(now)
}

/// An announce from someone: its sender is a candidate for each of our
/// (non-private) torrents it names.
fn on_datagram(
    shared: &SessionShared,
    cookie: &str,
    r: std::io::Result<(usize, SocketAddr)>,
    buf: &[u8],
) {
    let Ok((n, from)) = r else {
        return;
    };
    let msg = match LsdMessage::parse(&buf[..n]) {
        Ok(m) => m,
        Err(e) => {
            debug!(%from, error = %e, "not an LSD announce");
            return;
        }
    };
    if msg.cookie.as_deref() == Some(cookie) {
        return;
    }
    let peer = SocketAddr::new(from.ip(), msg.port);
    for ih in &msg.info_hashes {
        if let Some(t) = shared.torrent(ih) {
            if !t.torrent.private {
                debug!(%peer, "peer found by local service discovery");
                t.add_peers_from(&[peer], PeerSource::Lsd);
            }
        }
    }
}
