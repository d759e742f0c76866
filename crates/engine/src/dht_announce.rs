//! A torrent in the DHT: announce it (which also looks its peers up) at
//! start and again periodically, often while it has few peers; and finding
//! a magnet link's first peers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shoal_dht::{Dht, NodeId};
use tracing::{debug, info};

use crate::torrent::TorrentShared;

/// Between announces while the torrent has fewer than [`FEW_PEERS`] peers.
const OFTEN: Duration = Duration::from_secs(60);
/// Between announces otherwise (libtorrent re-announces about this often).
const SELDOM: Duration = Duration::from_secs(15 * 60);
/// Between announces that reached no node (the DHT is still bootstrapping).
const RETRY: Duration = Duration::from_secs(5);
/// Below this many peers, the DHT is asked often.
const FEW_PEERS: usize = 10;

/// Announce `t` in the swarm `info_hash` (one of the torrent's, see
/// [`crate::swarm_hashes`]) to the DHT until it stops, adding the peers
/// found.
pub(crate) async fn run(t: Arc<TorrentShared>, dht: Dht, info_hash: [u8; 20]) {
    let mut stopping = t.stopping.subscribe();
    let port = t.session.local_addr.port();
    loop {
        if t.is_stopping() {
            return;
        }
        let mut reached = false;
        match dht.announce(NodeId(info_hash), Some(port)).await {
            Ok(r) => {
                info!(
                    peers = r.peers.len(),
                    nodes = r.stats.announced,
                    "DHT announce"
                );
                reached = r.stats.announced > 0;
                if !r.peers.is_empty() {
                    t.add_peers_from(&r.peers, crate::torrent::PeerSource::Dht);
                }
            }
            Err(e) => debug!(error = %e, "DHT announce failed"),
        }
        let wait = if !reached {
            // Still bootstrapping, or nobody answered: try again soon.
            RETRY
        } else if t.lock().peer_count() < FEW_PEERS {
            OFTEN
        } else {
            SELDOM
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// Peers of `info_hash` from one DHT lookup, waiting at most `limit`.
pub(crate) async fn find_peers(dht: &Dht, info_hash: [u8; 20], limit: Duration) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    let Ok(mut rx) = dht.get_peers(NodeId(info_hash)).await else {
        return out;
    };
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(batch)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        out.extend(batch);
        if out.len() >= 50 {
            break;
        }
    }
    out.sort_unstable();
    out.dedup();
    info!(peers = out.len(), "DHT lookup for the magnet link");
    out
}
