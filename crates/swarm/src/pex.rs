//! Peer exchange (BEP 11, `ut_pex`): the message, and the per-connection
//! state that decides what to tell a peer and how much to believe.
//!
//! Sending: the first message to a peer lists the peers we are connected
//! to (up to [`PexConfig::max_first`]); later ones carry only the change
//! since (at most [`PexConfig::max_added`] added and
//! [`PexConfig::max_dropped`] dropped), no more than once per
//! [`PexConfig::interval`]. Receiving: at most
//! [`PexConfig::max_accept_per_message`] addresses are taken from one
//! message and [`PexConfig::max_accept_total`] from one connection; a peer
//! that sends more than [`PexConfig::burst`] messages within one
//! [`PexConfig::interval`] is flooding ([`PexError::Flood`]), and the
//! caller drops it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_bencode::{OwnedValue, Value};
use shoal_wire::Message;
use thiserror::Error;

use crate::fixed_hash::HashSet;

/// The extension's name in the extension handshake.
pub const UT_PEX: &str = "ut_pex";
/// The extended message id we receive `ut_pex` messages under.
pub const UT_PEX_ID: u8 = 1;

/// `added.f` flag: the peer prefers encryption.
pub const FLAG_ENCRYPTION: u8 = 0x01;
/// `added.f` flag: the peer is a seed (or upload-only).
pub const FLAG_SEED: u8 = 0x02;
/// `added.f` flag: the peer supports uTP.
pub const FLAG_UTP: u8 = 0x04;
/// `added.f` flag: the peer supports `ut_holepunch`.
pub const FLAG_HOLEPUNCH: u8 = 0x08;
/// `added.f` flag: the peer is reachable (we connected to it).
pub const FLAG_REACHABLE: u8 = 0x10;

/// Most entries read from any one list of a message (a list of 10,000
/// addresses is cut here before anything else looks at it).
const MAX_PARSED: usize = 500;

/// Why a `ut_pex` message was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PexError {
    /// Not a bencoded dictionary.
    #[error("malformed ut_pex message")]
    Malformed,
    /// More messages than allowed in one interval.
    #[error("ut_pex flood: {0} messages within {1:?}")]
    Flood(usize, Duration),
}

/// A peer in a `ut_pex` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PexPeer {
    /// Its listening address.
    pub addr: SocketAddr,
    /// Its `added.f` flags (`FLAG_*`).
    pub flags: u8,
}

/// A `ut_pex` message: peers added and dropped since the last one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// Peers newly connected (IPv4 in `added`, IPv6 in `added6`).
    pub added: Vec<PexPeer>,
    /// Peers no longer connected.
    pub dropped: Vec<SocketAddr>,
}

impl PexMessage {
    /// Parse the payload of a `ut_pex` message. Lists are cut at 500
    /// entries; a list of the wrong type or length reads as empty (up to
    /// its last whole entry), a missing flag as 0.
    pub fn parse(payload: &[u8]) -> Result<PexMessage, PexError> {
        let (value, _) = shoal_bencode::decode_prefix(payload).map_err(|_| PexError::Malformed)?;
        let Value::Dict(d) = value else {
            return Err(PexError::Malformed);
        };
        let mut msg = PexMessage::default();
        for (list, flags, len) in [
            (&b"added"[..], &b"added.f"[..], 6),
            (b"added6", b"added6.f", 18),
        ] {
            let addrs = compact(d.get_bytes(list).unwrap_or_default(), len);
            let flags = d.get_bytes(flags).unwrap_or_default();
            msg.added.extend(addrs.enumerate().map(|(i, addr)| PexPeer {
                addr,
                flags: flags.get(i).copied().unwrap_or(0),
            }));
        }
        for (list, len) in [(&b"dropped"[..], 6), (b"dropped6", 18)] {
            msg.dropped
                .extend(compact(d.get_bytes(list).unwrap_or_default(), len));
        }
        Ok(msg)
    }

    /// The bencoded payload (IPv4 and IPv6 in their own lists, every list
    /// present as BEP 11 shows it).
    pub fn to_bencode(&self) -> Vec<u8> {
        let mut d = BTreeMap::new();
        let mut lists: [Vec<u8>; 6] = Default::default();
        for p in &self.added {
            let (a, f) = if p.addr.is_ipv4() { (0, 1) } else { (2, 3) };
            put_compact(&mut lists[a], p.addr);
            lists[f].push(p.flags);
        }
        for a in &self.dropped {
            put_compact(&mut lists[if a.is_ipv4() { 4 } else { 5 }], *a);
        }
        let names: [&[u8]; 6] = [
            b"added",
            b"added.f",
            b"added6",
            b"added6.f",
            b"dropped",
            b"dropped6",
        ];
        for (name, bytes) in names.iter().zip(lists) {
            d.insert(name.to_vec(), OwnedValue::Bytes(bytes));
        }
        OwnedValue::Dict(d).to_bencode()
    }

    /// The extended message carrying this, under the id the peer gave.
    pub fn to_message(&self, id: u8) -> Message {
        Message::Extended {
            id,
            payload: Bytes::from(self.to_bencode()),
        }
    }
}

/// Compact addresses (`len` 6 for IPv4, 18 for IPv6), at most
/// [`MAX_PARSED`]; a trailing partial entry is ignored.
fn compact(bytes: &[u8], len: usize) -> impl Iterator<Item = SocketAddr> + '_ {
    bytes.chunks_exact(len).take(MAX_PARSED).map(move |c| {
        let ip = if len == 6 {
            IpAddr::from([c[0], c[1], c[2], c[3]])
        } else {
            let mut o = [0u8; 16];
            o.copy_from_slice(&c[..16]);
            IpAddr::from(o)
        };
        SocketAddr::new(ip, u16::from_be_bytes([c[len - 2], c[len - 1]]))
    })
}

fn put_compact(out: &mut Vec<u8>, a: SocketAddr) {
    match a.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&a.port().to_be_bytes());
}

/// Tunables of peer exchange.
#[derive(Debug, Clone)]
pub struct PexConfig {
    /// Least time between two messages to a peer (BEP 11: a minute).
    pub interval: Duration,
    /// Most peers in the first message to a peer.
    pub max_first: usize,
    /// Most added peers in a later message (BEP 11: 50).
    pub max_added: usize,
    /// Most dropped peers in a later message (BEP 11: 50).
    pub max_dropped: usize,
    /// Most addresses taken from one received message.
    pub max_accept_per_message: usize,
    /// Most addresses taken from one connection over its life.
    pub max_accept_total: usize,
    /// Messages a peer may send within one `interval` (libtorrent's
    /// limit is about the same); one more is a flood.
    pub burst: usize,
}

impl Default for PexConfig {
    fn default() -> Self {
        PexConfig {
            interval: Duration::from_secs(60),
            max_first: 200,
            max_added: 50,
            max_dropped: 50,
            max_accept_per_message: 100,
            max_accept_total: 500,
            burst: 3,
        }
    }
}

/// Peer exchange with one connected peer.
#[derive(Debug, Clone)]
pub struct PexPeerState {
    /// The id the peer receives `ut_pex` under.
    their_id: u8,
    /// The addresses it last heard from us (bounded: only what we sent,
    /// which is at most our connected peers).
    told: HashSet<SocketAddr>,
    last_sent: Option<Instant>,
    /// When its recent messages arrived (at most `burst` kept).
    received: Vec<Instant>,
    accepted: usize,
}

impl PexPeerState {
    /// Exchange with a peer that receives `ut_pex` under `their_id`.
    pub fn new(their_id: u8) -> PexPeerState {
        PexPeerState {
            their_id,
            told: HashSet::default(),
            last_sent: None,
            received: Vec::new(),
            accepted: 0,
        }
    }

    /// The id the peer receives `ut_pex` under.
    pub fn their_id(&self) -> u8 {
        self.their_id
    }

    /// The peer (re)announced `ut_pex` under `id` (0: it turned it off).
    pub fn set_their_id(&mut self, id: u8) {
        self.their_id = id;
    }

    /// Whether a message may be sent now.
    pub fn due(&self, config: &PexConfig, now: Instant) -> bool {
        self.last_sent
            .is_none_or(|t| now.saturating_duration_since(t) >= config.interval)
    }

    /// The message to send now, given the peers we are connected to
    /// (`current`, which must not include this peer): `None` when not due,
    /// or when nothing changed since the last one (the first is sent even
    /// if empty, so the peer knows we speak it).
    pub fn build(
        &mut self,
        current: &[PexPeer],
        config: &PexConfig,
        now: Instant,
    ) -> Option<PexMessage> {
        if !self.due(config, now) {
            return None;
        }
        let first = self.last_sent.is_none();
        let max_added = if first {
            config.max_first
        } else {
            config.max_added
        };
        let mut msg = PexMessage::default();
        let now_set: HashSet<SocketAddr> = current.iter().map(|p| p.addr).collect();
        let mut dropped: Vec<SocketAddr> = self
            .told
            .iter()
            .filter(|a| !now_set.contains(a))
            .copied()
            .collect();
        dropped.sort_unstable();
        dropped.truncate(config.max_dropped);
        for a in &dropped {
            self.told.remove(a);
        }
        msg.dropped = dropped;
        for p in current {
            if msg.added.len() >= max_added {
                break;
            }
            if self.told.insert(p.addr) {
                msg.added.push(*p);
            }
        }
        if !first && msg.added.is_empty() && msg.dropped.is_empty() {
            return None;
        }
        self.last_sent = Some(now);
        Some(msg)
    }

    /// A `ut_pex` message from the peer: the addresses to consider
    /// (within this connection's bounds). A malformed message yields
    /// nothing; too many messages are a [`PexError::Flood`].
    pub fn receive(
        &mut self,
        payload: &[u8],
        config: &PexConfig,
        now: Instant,
    ) -> Result<Vec<PexPeer>, PexError> {
        self.received
            .retain(|t| now.saturating_duration_since(*t) < config.interval);
        if self.received.len() >= config.burst {
            return Err(PexError::Flood(self.received.len() + 1, config.interval));
        }
        self.received.push(now);
        let Ok(msg) = PexMessage::parse(payload) else {
            return Ok(Vec::new());
        };
        let room = config
            .max_accept_total
            .saturating_sub(self.accepted)
            .min(config.max_accept_per_message);
        let mut out: Vec<PexPeer> = msg
            .added
            .into_iter()
            .filter(|p| p.addr.port() != 0 && !p.addr.ip().is_unspecified())
            .take(room)
            .collect();
        out.sort_unstable();
        out.dedup_by_key(|p| p.addr);
        self.accepted += out.len();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8, flags: u8) -> PexPeer {
        PexPeer {
            addr: SocketAddr::from(([10, 0, 0, n], 6881)),
            flags,
        }
    }

    #[test]
    fn round_trips_v4_and_v6_with_flags() {
        let msg = PexMessage {
            added: vec![
                peer(1, FLAG_SEED | FLAG_REACHABLE),
                PexPeer {
                    addr: "[2001:db8::1]:51413".parse().unwrap(),
                    flags: FLAG_UTP,
                },
            ],
            dropped: vec![
                "10.0.0.9:1".parse().unwrap(),
                "[2001:db8::2]:2".parse().unwrap(),
            ],
        };
        assert_eq!(PexMessage::parse(&msg.to_bencode()), Ok(msg));
    }

    #[test]
    fn parses_libtorrent_layout_and_tolerates_junk() {
        // added has a trailing partial entry and no flags; dropped6 is an int.
        let raw = b"d5:added8:\x0a\x00\x00\x01\x1a\xe1\xff\xff7:added.f0:8:dropped6i5ee";
        let msg = PexMessage::parse(raw).unwrap();
        assert_eq!(msg.added, vec![peer(1, 0)]);
        assert!(msg.dropped.is_empty());
        assert_eq!(PexMessage::parse(b"li1ee"), Err(PexError::Malformed));
        assert_eq!(PexMessage::parse(b""), Err(PexError::Malformed));
    }

    #[test]
    fn huge_lists_are_cut_when_parsed() {
        let msg = PexMessage {
            added: (0..2000u32)
                .map(|i| PexPeer {
                    addr: SocketAddr::from((std::net::Ipv4Addr::from(i + 1), 1)),
                    flags: 0,
                })
                .collect(),
            dropped: vec![],
        };
        assert_eq!(
            PexMessage::parse(&msg.to_bencode()).unwrap().added.len(),
            MAX_PARSED
        );
    }

    #[test]
    fn first_message_lists_everyone_then_only_the_diff_once_a_minute() {
        let cfg = PexConfig::default();
        let t0 = Instant::now();
        let mut s = PexPeerState::new(7);
        let first = s
            .build(&[peer(1, 0), peer(2, FLAG_SEED)], &cfg, t0)
            .unwrap();
        assert_eq!(first.added.len(), 2);
        assert!(first.dropped.is_empty());
        // Not due again before a minute.
        assert_eq!(
            s.build(&[peer(3, 0)], &cfg, t0 + Duration::from_secs(59)),
            None
        );
        let later = t0 + Duration::from_secs(60);
        let diff = s
            .build(&[peer(2, FLAG_SEED), peer(3, 0)], &cfg, later)
            .unwrap();
        assert_eq!(diff.added, vec![peer(3, 0)]);
        assert_eq!(diff.dropped, vec![peer(1, 0).addr]);
        // Nothing changed: nothing sent.
        assert_eq!(
            s.build(
                &[peer(2, 0), peer(3, 0)],
                &cfg,
                later + Duration::from_secs(120)
            ),
            None
        );
    }

    #[test]
    fn later_messages_carry_at_most_fifty_each_way() {
        let cfg = PexConfig::default();
        let t0 = Instant::now();
        let mut s = PexPeerState::new(1);
        let many: Vec<PexPeer> = (0..120).map(|i| peer(i, 0)).collect();
        assert_eq!(s.build(&many, &cfg, t0).unwrap().added.len(), 120);
        let others: Vec<PexPeer> = (120..250).map(|i| peer(i, 0)).collect();
        let m = s.build(&others, &cfg, t0 + cfg.interval).unwrap();
        assert_eq!(m.added.len(), 50);
        assert_eq!(m.dropped.len(), 50);
        // The rest follows in the next messages.
        let m = s.build(&others, &cfg, t0 + cfg.interval * 2).unwrap();
        assert_eq!((m.added.len(), m.dropped.len()), (50, 50));
    }

    #[test]
    fn accepts_a_bounded_number_of_addresses() {
        let cfg = PexConfig {
            burst: 100,
            ..PexConfig::default()
        };
        let t0 = Instant::now();
        let mut s = PexPeerState::new(1);
        let mut total = 0;
        for round in 0..10u32 {
            let msg = PexMessage {
                added: (0..200u32)
                    .map(|i| PexPeer {
                        addr: SocketAddr::from((std::net::Ipv4Addr::from(round * 1000 + i + 1), 1)),
                        flags: 0,
                    })
                    .collect(),
                dropped: vec![],
            };
            let got = s
                .receive(&msg.to_bencode(), &cfg, t0 + cfg.interval * round)
                .unwrap();
            assert!(got.len() <= cfg.max_accept_per_message);
            total += got.len();
        }
        assert_eq!(total, cfg.max_accept_total);
    }

    #[test]
    fn a_flood_is_an_error_and_a_calm_peer_is_not() {
        let cfg = PexConfig::default();
        let t0 = Instant::now();
        let payload = PexMessage::default().to_bencode();
        let mut calm = PexPeerState::new(1);
        for i in 0..10 {
            assert!(calm.receive(&payload, &cfg, t0 + cfg.interval * i).is_ok());
        }
        let mut flood = PexPeerState::new(1);
        for i in 0..cfg.burst as u32 {
            assert!(flood
                .receive(&payload, &cfg, t0 + Duration::from_secs(i.into()))
                .is_ok());
        }
        assert!(matches!(
            flood.receive(&payload, &cfg, t0 + Duration::from_secs(5)),
            Err(PexError::Flood(..))
        ));
    }
}
