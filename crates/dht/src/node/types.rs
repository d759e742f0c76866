//! What the node reports: events, lookup figures, counters, errors.

use std::net::{IpAddr, SocketAddr};

use crate::compact::NodeInfo;
use crate::id::NodeId;
use crate::lookup::LookupId;

/// An address family, one DHT each (BEP 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address (IPv4-mapped IPv6 counts as IPv4).
    pub fn of(addr: &SocketAddr) -> Family {
        match addr.ip() {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// What a finished lookup cost and reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Queries sent.
    pub queries: u32,
    /// Responses received.
    pub responses: u32,
    /// Queries that timed out or got an error.
    pub failures: u32,
    /// Rounds of queries to the closest answering nodes.
    pub hops: u32,
    /// `announce_peer` queries sent.
    pub announced: u32,
    /// Distinct peers found.
    pub peers: u32,
}

/// Something the caller should know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Peers found by a `get_peers` or announce lookup (a batch; more may
    /// follow until `LookupDone`).
    Peers {
        /// The lookup.
        lookup: LookupId,
        /// The torrent.
        info_hash: NodeId,
        /// New peers.
        peers: Vec<SocketAddr>,
    },
    /// A lookup finished (over every family it ran on).
    LookupDone {
        /// The lookup.
        lookup: LookupId,
        /// Its target.
        target: NodeId,
        /// The closest nodes that answered (up to 8 per family).
        closest: Vec<NodeInfo>,
        /// Costs and results.
        stats: LookupStats,
    },
    /// A bootstrap lookup finished; the tables hold this many nodes.
    Bootstrapped {
        /// Nodes in the routing tables.
        nodes: usize,
    },
    /// Most nodes report the same public address for us and our id did not
    /// match it (BEP 42): the node took a new id derived from it.
    IdChanged {
        /// The new id.
        id: NodeId,
        /// The external address it is derived from.
        external_ip: IpAddr,
    },
}

/// Counters and sizes, for diagnostics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Nodes in the IPv4 routing table.
    pub nodes_v4: usize,
    /// Nodes in the IPv6 routing table.
    pub nodes_v6: usize,
    /// Queries awaiting an answer.
    pub queries_in_flight: usize,
    /// Lookups running.
    pub lookups: usize,
    /// Info-hashes in the peer store.
    pub stored_info_hashes: usize,
    /// Peers in the peer store.
    pub stored_peers: usize,
    /// Queries answered.
    pub queries_answered: u64,
    /// Queries dropped by the rate limit.
    pub queries_rate_limited: u64,
    /// Datagrams that were not valid KRPC.
    pub malformed: u64,
    /// Datagrams dropped because the send queue was full.
    pub transmits_dropped: u64,
    /// Addresses tracked by the rate limiter.
    pub rate_limiter_entries: usize,
}

/// Why saved state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not the bencoded dictionary `save_state` writes.
    #[error("invalid DHT state: {0}")]
    Invalid(&'static str),
}

/// Why a command was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    /// Too many lookups are running.
    #[error("too many lookups running")]
    TooManyLookups,
}
