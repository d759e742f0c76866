//! Peers announced to us (`announce_peer`), capped per info-hash, per IP
//! within an info-hash, and in info-hashes overall, and expiring.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;

use crate::id::NodeId;

/// Limits of the peer store.
#[derive(Clone, Copy, Debug)]
pub struct PeerStoreLimits {
    /// Peers kept per info-hash (libtorrent: 100).
    pub peers_per_hash: usize,
    /// Entries one IP address may hold under one info-hash.
    pub peers_per_ip: usize,
    /// Info-hashes kept (libtorrent's `dht_max_torrents`: 2000).
    pub info_hashes: usize,
    /// How long an announce stays (libtorrent: 30 minutes).
    pub expiry: Duration,
}

impl Default for PeerStoreLimits {
    fn default() -> Self {
        PeerStoreLimits {
            peers_per_hash: 100,
            peers_per_ip: 4,
            info_hashes: 2000,
            expiry: Duration::from_secs(30 * 60),
        }
    }
}

#[derive(Debug)]
struct Stored {
    addr: SocketAddr,
    added: Instant,
}

/// The announced peers.
#[derive(Debug)]
pub struct PeerStore {
    limits: PeerStoreLimits,
    torrents: HashMap<NodeId, Vec<Stored>>,
}

impl PeerStore {
    /// An empty store.
    pub fn new(limits: PeerStoreLimits) -> PeerStore {
        PeerStore {
            limits,
            torrents: HashMap::new(),
        }
    }

    /// Record `peer` for `info_hash`. An address already present is
    /// refreshed. An IP at its per-hash quota replaces its own oldest entry;
    /// a full hash drops its oldest entry. A new info-hash when the store is
    /// full replaces the one with the fewest peers (as libtorrent does).
    pub fn announce(&mut self, info_hash: NodeId, peer: SocketAddr, now: Instant) {
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= self.limits.info_hashes
        {
            self.expire(now);
            if self.torrents.len() >= self.limits.info_hashes {
                let smallest = self
                    .torrents
                    .iter()
                    .min_by_key(|(_, peers)| peers.len())
                    .map(|(h, _)| *h);
                if let Some(h) = smallest {
                    self.torrents.remove(&h);
                }
            }
        }
        let limits = self.limits;
        let peers = self.torrents.entry(info_hash).or_default();
        if let Some(p) = peers.iter_mut().find(|p| p.addr == peer) {
            p.added = now;
            return;
        }
        let same_ip = |ip: IpAddr| move |p: &&Stored| p.addr.ip() == ip;
        if peers.iter().filter(same_ip(peer.ip())).count() >= limits.peers_per_ip {
            if let Some(i) = oldest(
                peers
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.addr.ip() == peer.ip()),
            ) {
                peers.remove(i);
            }
        } else if peers.len() >= limits.peers_per_hash {
            if let Some(i) = oldest(peers.iter().enumerate()) {
                peers.remove(i);
            }
        }
        peers.push(Stored {
            addr: peer,
            added: now,
        });
    }

    /// Up to `max` live peers for `info_hash` of the same family as
    /// `family` (BEP 32: IPv4 peers over IPv4), sampled at random.
    pub fn peers(
        &self,
        info_hash: &NodeId,
        family: IpAddr,
        max: usize,
        now: Instant,
        rng: &mut impl Rng,
    ) -> Vec<SocketAddr> {
        let Some(peers) = self.torrents.get(info_hash) else {
            return Vec::new();
        };
        let mut live: Vec<SocketAddr> = peers
            .iter()
            .filter(|p| now.saturating_duration_since(p.added) < self.limits.expiry)
            .filter(|p| p.addr.is_ipv4() == family.is_ipv4())
            .map(|p| p.addr)
            .collect();
        if live.len() > max {
            live.shuffle(rng);
            live.truncate(max);
        }
        live
    }

    /// Drop expired announces and empty info-hashes.
    pub fn expire(&mut self, now: Instant) {
        let expiry = self.limits.expiry;
        self.torrents.retain(|_, peers| {
            peers.retain(|p| now.saturating_duration_since(p.added) < expiry);
            !peers.is_empty()
        });
    }

    /// Up to `max` stored info-hashes, sampled at random (BEP 51).
    pub fn sample(&self, max: usize, rng: &mut impl Rng) -> Vec<NodeId> {
        let mut all: Vec<NodeId> = self.torrents.keys().copied().collect();
        all.shuffle(rng);
        all.truncate(max);
        all
    }

    /// Info-hashes stored.
    pub fn info_hash_count(&self) -> usize {
        self.torrents.len()
    }

    /// Peers stored, over all info-hashes.
    pub fn peer_count(&self) -> usize {
        self.torrents.values().map(Vec::len).sum()
    }

    /// The largest number of peers stored under one info-hash.
    pub fn max_peers_per_hash(&self) -> usize {
        self.torrents.values().map(Vec::len).max().unwrap_or(0)
    }
}

fn oldest<'a>(it: impl Iterator<Item = (usize, &'a Stored)>) -> Option<usize> {
    it.min_by_key(|(_, p)| p.added).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn peer(i: u32, port: u16) -> SocketAddr {
        SocketAddr::from(([1, (i >> 16) as u8, (i >> 8) as u8, i as u8], port))
    }

    #[test]
    fn caps_and_expiry() {
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(1);
        let limits = PeerStoreLimits {
            peers_per_hash: 10,
            peers_per_ip: 2,
            info_hashes: 5,
            ..Default::default()
        };
        let mut s = PeerStore::new(limits);
        let h = NodeId([1; 20]);
        for i in 0..50 {
            s.announce(h, peer(i, 1), t0);
        }
        assert_eq!(s.peer_count(), 10);
        // One IP flooding ports keeps only its quota and evicts nobody else.
        for port in 0..100 {
            s.announce(h, peer(49, 1000 + port), t0);
        }
        assert_eq!(s.peer_count(), 10);
        assert_eq!(
            s.peers(&h, "0.0.0.0".parse().unwrap(), 100, t0, &mut rng)
                .iter()
                .filter(|a| a.ip() == peer(49, 0).ip())
                .count(),
            2
        );
        for i in 0..20u8 {
            s.announce(NodeId([i + 10; 20]), peer(1, 1), t0);
        }
        assert_eq!(s.info_hash_count(), 5);
        assert!(
            s.peers(&h, "::".parse().unwrap(), 100, t0, &mut rng)
                .is_empty(),
            "no v4 peers over v6"
        );
        let later = t0 + limits.expiry;
        s.expire(later);
        assert_eq!(s.info_hash_count(), 0);
    }
}
