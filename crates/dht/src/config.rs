//! Settings of a [`Node`](crate::Node).

use std::net::IpAddr;
use std::time::Duration;

use crate::id::NodeId;
use crate::peer_store::PeerStoreLimits;
use crate::rate_limit::RateLimitConfig;

/// Node settings; `Config::default()` suits the public DHT.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our node id. `None`: derived from `external_ip` (BEP 42) when that
    /// is given and public, else random.
    pub id: Option<NodeId>,
    /// Our external address, if known, for a BEP 42 id.
    pub external_ip: Option<IpAddr>,
    /// Take part in the IPv4 DHT.
    pub ipv4: bool,
    /// Take part in the IPv6 DHT (BEP 32).
    pub ipv6: bool,
    /// BEP 43 read-only: send `ro=1`, answer no queries.
    pub read_only: bool,
    /// Refuse routing-table entries on public addresses whose id does not
    /// match their IP (BEP 42).
    pub enforce_node_id: bool,
    /// At most one routing-table entry per public IP address.
    pub restrict_routing_ips: bool,
    /// Per-IP query rate limit.
    pub rate_limit: RateLimitConfig,
    /// Peer store limits.
    pub peer_store: PeerStoreLimits,
    /// A query not answered by then has failed.
    pub query_timeout: Duration,
    /// A query not answered by then no longer holds a lookup slot.
    pub slow_after: Duration,
    /// Queries awaiting an answer, over all purposes.
    pub max_outstanding: usize,
    /// Lookups running at once (user and maintenance).
    pub max_lookups: usize,
    /// Buckets unchanged for this long are refreshed.
    pub refresh_interval: Duration,
    /// Peers returned per `get_peers` answer.
    pub max_peers_reply: usize,
    /// Datagrams queued for sending; more are dropped.
    pub max_queued_transmits: usize,
    /// Events queued for the caller; more are dropped.
    pub max_queued_events: usize,
    /// Client version sent as `v`.
    pub version: Option<Vec<u8>>,
    /// Seed of the node's random number generator.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id: None,
            external_ip: None,
            ipv4: true,
            ipv6: true,
            read_only: false,
            enforce_node_id: true,
            restrict_routing_ips: true,
            rate_limit: RateLimitConfig::default(),
            peer_store: PeerStoreLimits::default(),
            query_timeout: Duration::from_secs(10),
            slow_after: Duration::from_secs(2),
            max_outstanding: 256,
            max_lookups: 64,
            refresh_interval: Duration::from_secs(15 * 60),
            max_peers_reply: 100,
            max_queued_transmits: 4096,
            max_queued_events: 4096,
            version: Some(b"SH\x00\x01".to_vec()),
            seed: 0,
        }
    }
}
