//! The listen port over UDP: one socket per listen address, shared by uTP
//! (BEP 29) and the DHT (BEP 5), as libtorrent shares them. The uTP driver
//! reads every datagram of the socket; those that are not uTP come out of
//! its side channel, and the ones starting with `d` (a bencoded KRPC
//! dictionary) are fed to the DHT node, which sends from the same socket.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use shoal_dht::{Dht, DriverConfig};
use shoal_utp::{SocketConfig, UtpSocket};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::session::SessionShared;
use crate::transport::TransportMode;

/// Kernel buffer size asked for on the UDP socket: a fast uTP connection
/// sends in bursts the default buffers would drop.
const SOCKET_BUFFER: usize = 4 << 20;
/// Datagrams the DHT may have queued for sending; more are dropped, as a
/// congested link would.
const DHT_SEND_QUEUE: usize = 512;

/// The UDP side of the listen port.
pub(crate) struct UdpPort {
    /// uTP over each bound socket (one per address family).
    pub utp: Vec<UtpSocket>,
    /// The DHT node, when the session runs one.
    pub dht: Option<Dht>,
}

/// Bind a UDP socket on each of `addrs` (the TCP listener's addresses,
/// port included) and run uTP over them, and the DHT when `dht` is given.
/// An address that cannot be bound is skipped (logged); with none bound,
/// the session has neither uTP nor a DHT. Must run within a tokio runtime.
pub(crate) fn bind(
    addrs: &[SocketAddr],
    mode: TransportMode,
    utp: &SocketConfig,
    dht: Option<DriverConfig>,
) -> UdpPort {
    if !mode.uses_utp() && dht.is_none() {
        return UdpPort {
            utp: Vec::new(),
            dht: None,
        };
    }
    let mut sockets = Vec::new();
    for &addr in addrs {
        match shoal_utp::udp_socket(addr, SOCKET_BUFFER) {
            Ok(s) => sockets.push(Arc::new(s)),
            Err(e) => warn!(%addr, error = %e, "cannot bind the UDP socket: no uTP or DHT on it"),
        }
    }
    let utp: Vec<UtpSocket> = sockets
        .iter()
        .map(|s| UtpSocket::with_socket(s.clone(), utp.clone()))
        .collect();
    let dht = match dht {
        Some(cfg) if !sockets.is_empty() => Some(start_dht(&sockets, &utp, cfg)),
        _ => None,
    };
    for s in &sockets {
        if let Ok(local) = s.local_addr() {
            info!(%local, utp = mode.uses_utp(), dht = dht.is_some(), "UDP port open");
        }
    }
    UdpPort { utp, dht }
}

/// Run the DHT on the sockets: fed the `d` datagrams each uTP driver sets
/// aside, sending through a queue to the socket of the destination's
/// address family.
fn start_dht(sockets: &[Arc<UdpSocket>], utp: &[UtpSocket], mut cfg: DriverConfig) -> Dht {
    // The node's randomness (and so its id, when none is saved) must differ
    // between nodes.
    cfg.node.seed = rand::random();
    let family = |v6: bool| {
        sockets
            .iter()
            .find(|s| s.local_addr().is_ok_and(|a| a.is_ipv6() == v6))
            .cloned()
    };
    let (v4, v6) = (family(false), family(true));
    cfg.node.ipv4 = v4.is_some();
    cfg.node.ipv6 = v6.is_some();
    let (out_tx, mut out_rx) = mpsc::channel::<(SocketAddr, Vec<u8>)>(DHT_SEND_QUEUE);
    tokio::spawn(async move {
        while let Some((to, bytes)) = out_rx.recv().await {
            let socket = if to.is_ipv6() { &v6 } else { &v4 };
            if let Some(socket) = socket {
                if let Err(e) = socket.send_to(&bytes, to).await {
                    debug!(%to, error = %e, "DHT send failed");
                }
            }
        }
    });
    let (dht, feed) = Dht::spawn_external(cfg, move |to, bytes| {
        if out_tx.try_send((to, bytes)).is_err() {
            debug!(%to, "DHT send queue full; datagram dropped");
        }
    });
    for socket in utp {
        let Some(mut datagrams) = socket.non_utp_datagrams() else {
            continue;
        };
        let feed = feed.clone();
        tokio::spawn(async move {
            while let Some((data, from)) = datagrams.recv().await {
                if data.first() == Some(&b'd') {
                    // Full queue: drop, as a congested link would.
                    if let Err(mpsc::error::TrySendError::Closed(_)) =
                        feed.try_send((from, Bytes::from(data)))
                    {
                        break;
                    }
                }
            }
        });
    }
    dht
}

/// The uTP socket to reach `peer` from: the one of its address family.
pub(crate) fn socket_for(sockets: &[UtpSocket], peer: SocketAddr) -> Option<&UtpSocket> {
    sockets
        .iter()
        .find(|s| s.local_addr().is_ok_and(|a| a.is_ipv6() == peer.is_ipv6()))
}

/// Take incoming uTP connections on `socket` until the session closes:
/// each gets a handshake slot as a TCP one does, then the same handshake
/// (plaintext or MSE, told apart by its first bytes). Under
/// [`TransportMode::Tcp`] they are reset at once.
pub(crate) async fn accept_loop(shared: Arc<SessionShared>, socket: UtpSocket) {
    loop {
        let (stream, addr) = match socket.accept().await {
            Ok(c) => c,
            Err(e) => {
                debug!(error = %e, "uTP accept stopped");
                return;
            }
        };
        if !shared.config.transport.uses_utp() {
            stream.reset();
            continue;
        }
        let Some(slot) = shared.admit_incoming(addr) else {
            stream.reset();
            continue;
        };
        tokio::spawn(crate::peer::accept_encrypted(
            shared.clone(),
            stream,
            addr,
            slot,
        ));
    }
}
