//! A simulated node: its [`TorrentState`], links and counters, and the
//! ends of its connections (what the engine's read and write loops hold
//! per connection).

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use shoal_wire::{ExtensionHandshake, MessageDecoder, PeerId};

use super::link::{Downlink, Uplink};
use super::scenario::NodeSpec;
use crate::torrent::TorrentState;
use crate::PeerKey;

/// The port every node listens on.
pub const LISTEN_PORT: u16 = 6881;

/// The listening address of node `index`: 10.0.0.1 for node 0, and so on
/// (one address per node, so bans by address hit one node).
pub fn node_addr(index: usize) -> SocketAddr {
    let ip = Ipv4Addr::from(0x0A00_0001u32.wrapping_add(index as u32));
    SocketAddr::new(ip.into(), LISTEN_PORT)
}

/// The node whose address is `addr`, if any.
pub fn node_of(addr: SocketAddr, nodes: usize) -> Option<usize> {
    let std::net::IpAddr::V4(ip) = addr.ip() else {
        return None;
    };
    let i = u32::from(ip).checked_sub(0x0A00_0001)? as usize;
    (i < nodes).then_some(i)
}

/// The peer id of node `index`.
pub fn node_peer_id(index: usize) -> PeerId {
    let mut id = *b"-SM0001-000000000000";
    for (i, b) in (index as u64).to_be_bytes().iter().enumerate() {
        id[12 + i] = *b;
    }
    PeerId(id)
}

/// Where a connection's writer is (the engine's write loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// Waiting for a wake.
    Idle,
    /// A write step is scheduled.
    Scheduled,
    /// Its last write is still going out through the uplink.
    Busy,
}

/// One end of a connection, at one node.
#[derive(Debug)]
pub struct End {
    /// The node it belongs to.
    pub node: usize,
    /// Its key in that node's torrent state.
    pub key: PeerKey,
    /// The node at the other end.
    pub remote_node: usize,
    /// The other end.
    pub remote_end: usize,
    /// This node dialed.
    pub outgoing: bool,
    /// The address dialed (the candidate to report back on), if outgoing.
    pub dialed: SocketAddr,
    /// Decodes what arrives.
    pub decoder: MessageDecoder,
    /// Received bytes not yet decoded.
    pub rx: BytesMut,
    /// Bytes of the current write not yet through the uplink, each with
    /// the piece its payload belongs to (`None`: messages, headers).
    pub tx: VecDeque<(Bytes, Option<u32>)>,
    /// Waiting in the uplink's service order.
    pub in_uplink: bool,
    /// The writer's state.
    pub writer: Writer,
    /// Block bytes of the current write (recorded as uploaded when the
    /// next write step starts, as the engine does).
    pub sent_payload: u64,
    /// When the last byte sent from here arrives (a stream never
    /// reorders).
    pub last_delivery: Duration,
    /// Still connected.
    pub open: bool,
}

/// One node of the swarm.
#[derive(Debug)]
pub struct Node {
    /// What the scenario asked for.
    pub spec: NodeSpec,
    /// The core under test.
    pub state: TorrentState,
    /// Its listening address.
    pub addr: SocketAddr,
    /// Its peer id.
    pub peer_id: PeerId,
    /// Its extension handshake.
    pub ext: ExtensionHandshake,
    /// One-way latency to the network core.
    pub latency: Duration,
    /// Upload link.
    pub uplink: Uplink,
    /// Download link.
    pub downlink: Downlink,
    /// Its connections, by key.
    pub ends: BTreeMap<PeerKey, usize>,
    /// Dials under way.
    pub half_open: usize,
    /// Pieces it sends wrong data for.
    pub corrupt: Vec<bool>,
    /// Pieces with a wrong block stored since their last check.
    pub bad: Vec<bool>,
    /// Joined the swarm.
    pub joined: bool,
    /// Left the swarm.
    pub departed_at: Option<Duration>,
    /// When it held every piece.
    pub completed_at: Option<Duration>,
    /// Payload bytes stored from seeders.
    pub from_seeders: u64,
    /// Payload bytes stored from leechers.
    pub from_leechers: u64,
    /// Block bytes sent.
    pub uploaded: u64,
    /// Pieces that failed their check.
    pub hash_failures: u32,
}

impl Node {
    /// Whether the node takes part now.
    pub fn active(&self) -> bool {
        self.joined && self.departed_at.is_none()
    }
}
