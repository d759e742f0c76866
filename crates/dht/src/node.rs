//! The sans-I/O DHT node: datagrams and time in, datagrams and events out.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_bencode::{Decoder, Encoder, Value};
use tracing::{debug, trace};

use crate::compact::{decode_nodes, encode_nodes, NodeInfo};
use crate::config::Config;
use crate::id::{is_exempt, is_routable, NodeId};
use crate::krpc::{self, Body, KrpcError, Message, Query, QueryKind, Response, Want};
use crate::lookup::{Lookup, LookupId, LookupKind, K};
use crate::peer_store::PeerStore;
use crate::rate_limit::RateLimiter;
use crate::routing::{Admission, Insertion, RoutingTable};
use crate::token::Tokens;

/// Maintenance runs this often.
const TICK: Duration = Duration::from_secs(5);
/// Routers and saved nodes kept for bootstrapping.
const MAX_BOOTSTRAP: usize = 64;
/// Good nodes saved per family by [`Node::save_state`].
const SAVED_NODES: usize = 32;
/// Distinct voters for our external address kept.
const MAX_IP_VOTERS: usize = 64;
/// Agreeing voters needed before our id follows our external address.
const MIN_IP_VOTES: usize = 3;
/// BEP 51 samples per answer, and the interval we advertise.
const SAMPLES: usize = 20;
const SAMPLE_INTERVAL: i64 = 6 * 3600;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Ping,
    Lookup(u64, Family),
    Announce,
}

#[derive(Debug)]
struct Outstanding {
    addr: SocketAddr,
    id: Option<NodeId>,
    slow_at: Option<Instant>,
    deadline: Instant,
    purpose: Purpose,
}

#[derive(Debug)]
struct LookupMeta {
    target: NodeId,
    remaining: u8,
    internal: bool,
    bootstrap: bool,
    closest: Vec<NodeInfo>,
    stats: LookupStats,
}

/// A Mainline DHT node with no I/O of its own.
#[derive(Debug)]
pub struct Node {
    config: Config,
    rng: StdRng,
    id: NodeId,
    table4: RoutingTable,
    table6: RoutingTable,
    tokens: Tokens,
    peers: PeerStore,
    limiter: RateLimiter,
    outstanding: HashMap<[u8; 4], Outstanding>,
    lookups: HashMap<(u64, Family), Lookup>,
    meta: HashMap<u64, LookupMeta>,
    next_lookup: u64,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<Event>,
    routers: Vec<SocketAddr>,
    // Saved nodes and bootstrap addresses (id unknown until they answer).
    saved: Vec<(Option<NodeId>, SocketAddr)>,
    next_tick: Instant,
    last_bootstrap: Option<Instant>,
    ip_votes: VecDeque<(IpAddr, IpAddr)>,
    id_fixed: bool,
    id_from_ip: Option<IpAddr>,
    now: Instant,
    stats: NodeStats,
}

impl Node {
    /// A new node.
    pub fn new(config: Config, now: Instant) -> Node {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let id = match (config.id, config.external_ip) {
            (Some(id), _) => id,
            (None, Some(ip)) if !is_exempt(ip) => NodeId::secure_for_ip(ip, &mut rng),
            _ => NodeId::random(&mut rng),
        };
        let admission = Admission {
            enforce_bep42: config.enforce_node_id,
            one_node_per_ip: config.restrict_routing_ips,
        };
        Node {
            table4: RoutingTable::new(id, admission, now),
            table6: RoutingTable::new(id, admission, now),
            tokens: Tokens::new(&mut rng, now),
            peers: PeerStore::new(config.peer_store),
            limiter: RateLimiter::new(config.rate_limit),
            rng,
            id,
            outstanding: HashMap::new(),
            lookups: HashMap::new(),
            meta: HashMap::new(),
            next_lookup: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            routers: Vec::new(),
            saved: Vec::new(),
            next_tick: now + TICK,
            last_bootstrap: None,
            ip_votes: VecDeque::new(),
            id_fixed: config.id.is_some(),
            id_from_ip: config.external_ip.filter(|ip| !is_exempt(*ip)),
            now,
            stats: NodeStats::default(),
            config,
        }
    }

    /// A node resuming from [`Node::save_state`]: same id (unless
    /// `config.id` overrides it), and the saved nodes to bootstrap from.
    pub fn from_state(mut config: Config, state: &[u8], now: Instant) -> Result<Node, StateError> {
        let v = Decoder::new()
            .max_depth(2)
            .decode(state)
            .map_err(|_| StateError::Invalid("not bencode"))?;
        let Value::Dict(d) = v else {
            return Err(StateError::Invalid("not a dictionary"));
        };
        let id = d
            .get_bytes(b"id")
            .and_then(NodeId::from_slice)
            .ok_or(StateError::Invalid("id"))?;
        // Reuse the saved id unless one is configured, or the configured
        // external address calls for another one (BEP 42).
        let reuse = config.id.is_none()
            && config
                .external_ip
                .is_none_or(|ip| is_exempt(ip) || id.is_secure_for_ip(ip));
        if reuse {
            config.id = Some(id);
        }
        let mut saved = Vec::new();
        for (key, v6) in [(&b"nodes"[..], false), (&b"nodes6"[..], true)] {
            if let Some(b) = d.get_bytes(key) {
                saved.extend(decode_nodes(b, v6, SAVED_NODES).ok_or(StateError::Invalid("nodes"))?);
            }
        }
        let mut node = Node::new(config, now);
        node.id_fixed = false;
        node.saved = saved.into_iter().map(|n| (Some(n.id), n.addr)).collect();
        Ok(node)
    }

    /// Our id and a sample of good nodes, to pass to [`Node::from_state`].
    pub fn save_state(&self) -> Vec<u8> {
        let now = self.now;
        let mut e = Encoder::new();
        e.begin_dict();
        e.key("id").bytes(self.id.0);
        let mut v4 = self.table4.good_nodes(SAVED_NODES, now);
        let mut v6 = self.table6.good_nodes(SAVED_NODES, now);
        // Nothing good yet (a restart right after a restart): keep the old.
        if v4.is_empty() && v6.is_empty() {
            let known = self
                .saved
                .iter()
                .filter_map(|(id, addr)| id.map(|id| NodeInfo { id, addr: *addr }));
            for n in known {
                match Family::of(&n.addr) {
                    Family::V4 => v4.push(n),
                    Family::V6 => v6.push(n),
                }
            }
        }
        e.key("nodes").bytes(encode_nodes(&v4));
        e.key("nodes6").bytes(encode_nodes(&v6));
        e.end();
        e.finish()
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The IPv4 routing table.
    pub fn table_v4(&self) -> &RoutingTable {
        &self.table4
    }

    /// The IPv6 routing table.
    pub fn table_v6(&self) -> &RoutingTable {
        &self.table6
    }

    /// Counters and sizes.
    pub fn stats(&self) -> NodeStats {
        NodeStats {
            nodes_v4: self.table4.len(),
            nodes_v6: self.table6.len(),
            queries_in_flight: self.outstanding.len(),
            lookups: self.meta.len(),
            stored_info_hashes: self.peers.info_hash_count(),
            stored_peers: self.peers.peer_count(),
            rate_limiter_entries: self.limiter.tracked(),
            ..self.stats.clone()
        }
    }

    /// The largest number of peers stored under one info-hash.
    pub fn max_stored_peers_per_hash(&self) -> usize {
        self.peers.max_peers_per_hash()
    }

    /// The external address most nodes report for us (BEP 42 `ip`), if any.
    pub fn external_ip(&self) -> Option<IpAddr> {
        let mut counts: HashMap<IpAddr, usize> = HashMap::new();
        for (_, ip) in &self.ip_votes {
            *counts.entry(*ip).or_default() += 1;
        }
        counts.into_iter().max_by_key(|(_, n)| *n).map(|(ip, _)| ip)
    }

    /// Record that `voter` sees us at `ip`; once most of the recent voters
    /// (at least `MIN_IP_VOTES`) agree on a public address our id does not
    /// match, take an id derived from it (BEP 42) and re-file the tables.
    fn vote_external_ip(&mut self, voter: IpAddr, ip: IpAddr, now: Instant) {
        self.ip_votes.retain(|(v, _)| *v != voter);
        if self.ip_votes.len() >= MAX_IP_VOTERS {
            self.ip_votes.pop_front();
        }
        self.ip_votes.push_back((voter, ip));
        if self.id_fixed
            || is_exempt(ip)
            || self.id.is_secure_for_ip(ip)
            || self.id_from_ip == Some(ip)
        {
            return;
        }
        let agree = self.ip_votes.iter().filter(|(_, v)| *v == ip).count();
        if agree < MIN_IP_VOTES || agree * 2 <= self.ip_votes.len() {
            return;
        }
        let id = NodeId::secure_for_ip(ip, &mut self.rng);
        debug!(%ip, old = %self.id, new = %id, "external address known: new BEP 42 node id");
        self.id = id;
        self.id_from_ip = Some(ip);
        self.table4 = self.table4.with_new_id(id, now);
        self.table6 = self.table6.with_new_id(id, now);
        self.event(Event::IdChanged {
            id,
            external_ip: ip,
        });
    }

    fn family_enabled(&self, f: Family) -> bool {
        match f {
            Family::V4 => self.config.ipv4,
            Family::V6 => self.config.ipv6,
        }
    }

    fn table(&mut self, f: Family) -> &mut RoutingTable {
        match f {
            Family::V4 => &mut self.table4,
            Family::V6 => &mut self.table6,
        }
    }

    // ---- output -------------------------------------------------------

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_tick;
        for o in self.outstanding.values() {
            t = t.min(o.slow_at.unwrap_or(o.deadline)).min(o.deadline);
        }
        Some(t)
    }

    fn transmit(&mut self, to: SocketAddr, bytes: Vec<u8>) -> bool {
        if self.transmits.len() >= self.config.max_queued_transmits {
            self.stats.transmits_dropped += 1;
            return false;
        }
        self.transmits.push_back((to, bytes));
        true
    }

    fn event(&mut self, e: Event) {
        if self.events.len() < self.config.max_queued_events {
            self.events.push_back(e);
        }
    }

    // ---- commands ----------------------------------------------------

    /// Look up peers for `info_hash`: [`Event::Peers`] batches, then
    /// [`Event::LookupDone`].
    pub fn get_peers(&mut self, info_hash: NodeId, now: Instant) -> Result<LookupId, CommandError> {
        self.start_lookup(info_hash, LookupKind::GetPeers, false, false, now)
    }

    /// Look up `info_hash` and announce ourselves to the 8 closest nodes
    /// that answered, on `port` (`None`: `implied_port`, the UDP source
    /// port). Found peers are reported as for `get_peers`.
    pub fn announce(
        &mut self,
        info_hash: NodeId,
        port: Option<u16>,
        now: Instant,
    ) -> Result<LookupId, CommandError> {
        self.start_lookup(info_hash, LookupKind::Announce(port), false, false, now)
    }

    /// Find the nodes closest to `target` ([`Event::LookupDone`]).
    pub fn find_node(&mut self, target: NodeId, now: Instant) -> Result<LookupId, CommandError> {
        self.start_lookup(target, LookupKind::FindNode, false, false, now)
    }

    /// Join the DHT through these nodes (any DHT node's address): a lookup
    /// of our own id, then [`Event::Bootstrapped`].
    pub fn bootstrap(&mut self, addrs: &[SocketAddr], now: Instant) {
        for a in addrs {
            if self.saved.len() < MAX_BOOTSTRAP && !self.saved.iter().any(|(_, addr)| addr == a) {
                self.saved.push((None, *a));
            }
        }
        self.start_bootstrap(now);
    }

    /// Routers (such as router.bittorrent.com): used to bootstrap, never
    /// entered in the routing table.
    pub fn add_routers(&mut self, addrs: &[SocketAddr], now: Instant) {
        for a in addrs {
            if self.routers.len() < MAX_BOOTSTRAP && !self.routers.contains(a) {
                self.routers.push(*a);
            }
        }
        self.start_bootstrap(now);
    }

    fn start_bootstrap(&mut self, now: Instant) {
        self.last_bootstrap = Some(now);
        let id = self.id;
        let _ = self.start_lookup(id, LookupKind::FindNode, true, true, now);
    }

    fn seeds(&self, f: Family, target: &NodeId, now: Instant) -> Vec<(Option<NodeId>, SocketAddr)> {
        let table = match f {
            Family::V4 => &self.table4,
            Family::V6 => &self.table6,
        };
        let mut seeds: Vec<(Option<NodeId>, SocketAddr)> = table
            .closest(target, 2 * K, now)
            .into_iter()
            .map(|n| (Some(n.id), n.addr))
            .collect();
        if seeds.len() < K {
            for (id, addr) in &self.saved {
                if Family::of(addr) == f {
                    seeds.push((*id, *addr));
                }
            }
            for r in &self.routers {
                if Family::of(r) == f {
                    seeds.push((None, *r));
                }
            }
        }
        seeds
    }

    fn start_lookup(
        &mut self,
        target: NodeId,
        kind: LookupKind,
        internal: bool,
        bootstrap: bool,
        now: Instant,
    ) -> Result<LookupId, CommandError> {
        self.now = now;
        let user_running = self.meta.values().filter(|m| !m.internal).count();
        if (!internal && user_running >= self.config.max_lookups)
            || self.meta.len() >= 2 * self.config.max_lookups
        {
            return Err(CommandError::TooManyLookups);
        }
        let lid = self.next_lookup;
        self.next_lookup += 1;
        let families: Vec<Family> = [Family::V4, Family::V6]
            .into_iter()
            .filter(|f| self.family_enabled(*f))
            .collect();
        self.meta.insert(
            lid,
            LookupMeta {
                target,
                remaining: families.len() as u8,
                internal,
                bootstrap,
                closest: Vec::new(),
                stats: LookupStats::default(),
            },
        );
        for f in families.iter().copied() {
            let seeds = self.seeds(f, &target, now);
            let lookup = Lookup::new(target, kind, self.id, seeds);
            self.lookups.insert((lid, f), lookup);
            self.step_lookup(lid, f, now);
        }
        if families.is_empty() {
            self.finish_meta(lid);
        }
        Ok(LookupId(lid))
    }

    fn step_lookup(&mut self, lid: u64, f: Family, now: Instant) {
        loop {
            let Some(lookup) = self.lookups.get(&(lid, f)) else {
                return;
            };
            if lookup.is_done() {
                self.finish_lookup(lid, f, now);
                return;
            }
            let Some((id, addr)) = lookup.next_to_query() else {
                return;
            };
            let target = lookup.target();
            let kind = match lookup.kind() {
                LookupKind::FindNode => QueryKind::FindNode { target, want: None },
                _ => QueryKind::GetPeers {
                    info_hash: target,
                    want: None,
                },
            };
            if !self.send_query(addr, id, kind, Purpose::Lookup(lid, f), now) {
                // Out of query slots: a timeout or answer will free one.
                return;
            }
            if let Some(lookup) = self.lookups.get_mut(&(lid, f)) {
                lookup.sent(&addr);
            }
        }
    }

    fn finish_lookup(&mut self, lid: u64, f: Family, now: Instant) {
        let Some(lookup) = self.lookups.remove(&(lid, f)) else {
            return;
        };
        let closest = lookup.closest_responded();
        let mut announced = 0;
        if let LookupKind::Announce(port) = lookup.kind() {
            for (node, token) in &closest {
                let Some(token) = token else { continue };
                let kind = QueryKind::AnnouncePeer {
                    info_hash: lookup.target(),
                    port: port.unwrap_or(0),
                    implied_port: port.is_none(),
                    token: token.clone(),
                };
                if self.send_query(node.addr, Some(node.id), kind, Purpose::Announce, now) {
                    announced += 1;
                }
            }
        }
        if let Some(m) = self.meta.get_mut(&lid) {
            m.closest.extend(closest.iter().map(|(n, _)| *n));
            m.stats.queries += lookup.queries;
            m.stats.responses += lookup.responses;
            m.stats.failures += lookup.failures;
            m.stats.hops = m.stats.hops.max(lookup.hops());
            m.stats.announced += announced;
            m.remaining = m.remaining.saturating_sub(1);
            if m.remaining == 0 {
                self.finish_meta(lid);
            }
        }
    }

    fn finish_meta(&mut self, lid: u64) {
        let Some(m) = self.meta.remove(&lid) else {
            return;
        };
        debug!(lookup = lid, target = %m.target, ?m.stats, "lookup done");
        if m.bootstrap {
            let nodes = self.table4.len() + self.table6.len();
            self.event(Event::Bootstrapped { nodes });
        }
        if !m.internal {
            self.event(Event::LookupDone {
                lookup: LookupId(lid),
                target: m.target,
                closest: m.closest,
                stats: m.stats,
            });
        }
    }

    fn send_query(
        &mut self,
        addr: SocketAddr,
        id: Option<NodeId>,
        kind: QueryKind,
        purpose: Purpose,
        now: Instant,
    ) -> bool {
        if self.outstanding.len() >= self.config.max_outstanding
            || self.transmits.len() >= self.config.max_queued_transmits
        {
            return false;
        }
        let tid = loop {
            let t: [u8; 4] = self.rng.gen();
            if !self.outstanding.contains_key(&t) {
                break t;
            }
        };
        let msg = Message {
            transaction_id: tid.to_vec(),
            version: self.config.version.clone(),
            read_only: self.config.read_only,
            requester_ip: None,
            body: Body::Query(Query { id: self.id, kind }),
        };
        let slow_at = matches!(purpose, Purpose::Lookup(..)).then(|| now + self.config.slow_after);
        self.outstanding.insert(
            tid,
            Outstanding {
                addr,
                id,
                slow_at,
                deadline: now + self.config.query_timeout,
                purpose,
            },
        );
        self.transmit(addr, msg.encode())
    }

    fn ping(&mut self, n: NodeInfo, now: Instant) {
        if self.outstanding.values().any(|o| o.addr == n.addr) {
            return;
        }
        // Keep most query slots for lookups.
        if self.outstanding.len() * 2 < self.config.max_outstanding {
            self.send_query(n.addr, Some(n.id), QueryKind::Ping, Purpose::Ping, now);
        }
    }

    // ---- input --------------------------------------------------------

    /// Feed one received datagram. Anything that is not a valid KRPC
    /// message is dropped (or answered with error 203 if it was a query).
    pub fn handle_datagram(&mut self, from: SocketAddr, bytes: &[u8], now: Instant) {
        self.now = now;
        if !self.family_enabled(Family::of(&from)) || from.port() == 0 {
            return;
        }
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                trace!(%from, error = %e, "malformed KRPC");
                if let (true, Some(tid)) = (e.is_query, e.transaction_id) {
                    if !self.config.read_only && self.limiter.allow(from.ip(), now) {
                        self.reply_error(from, tid, krpc::ERROR_PROTOCOL, "invalid message");
                    }
                }
                return;
            }
        };
        match msg.body {
            Body::Query(q) => {
                if self.config.read_only {
                    return;
                }
                if !self.limiter.allow(from.ip(), now) {
                    self.stats.queries_rate_limited += 1;
                    return;
                }
                self.handle_query(from, msg.transaction_id, msg.read_only, q, now);
            }
            Body::Response(r) => {
                self.handle_reply(from, &msg.transaction_id, Ok(r), msg.requester_ip, now)
            }
            Body::Error(e) => {
                self.handle_reply(from, &msg.transaction_id, Err(e), msg.requester_ip, now)
            }
        }
    }

    fn reply(&mut self, to: SocketAddr, tid: Vec<u8>, r: Response) {
        self.stats.queries_answered += 1;
        let msg = Message {
            transaction_id: tid,
            version: self.config.version.clone(),
            read_only: false,
            requester_ip: Some(to),
            body: Body::Response(r),
        };
        self.transmit(to, msg.encode());
    }

    fn reply_error(&mut self, to: SocketAddr, tid: Vec<u8>, code: i64, text: &str) {
        let msg = Message {
            transaction_id: tid,
            version: self.config.version.clone(),
            read_only: false,
            requester_ip: None,
            body: Body::Error(KrpcError {
                code,
                message: text.to_string(),
            }),
        };
        self.transmit(to, msg.encode());
    }

    fn nodes_for(&self, target: &NodeId, from: &SocketAddr, want: Option<Want>, r: &mut Response) {
        let want = want.unwrap_or(Want {
            v4: Family::of(from) == Family::V4,
            v6: Family::of(from) == Family::V6,
        });
        if want.v4 && self.config.ipv4 {
            r.nodes = self.table4.closest(target, K, self.now);
        }
        if want.v6 && self.config.ipv6 {
            r.nodes6 = self.table6.closest(target, K, self.now);
        }
    }

    fn handle_query(
        &mut self,
        from: SocketAddr,
        tid: Vec<u8>,
        read_only: bool,
        q: Query,
        now: Instant,
    ) {
        let mut r = Response {
            id: self.id,
            ..Response::default()
        };
        match q.kind {
            QueryKind::Ping => {}
            QueryKind::FindNode { target, want } => self.nodes_for(&target, &from, want, &mut r),
            QueryKind::GetPeers { info_hash, want } => {
                self.nodes_for(&info_hash, &from, want, &mut r);
                r.token = Some(self.tokens.issue(from.ip(), &info_hash));
                let max = self.config.max_peers_reply;
                r.values = self
                    .peers
                    .peers(&info_hash, from.ip(), max, now, &mut self.rng);
            }
            QueryKind::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                if !self.tokens.verify(from.ip(), &info_hash, &token) {
                    self.reply_error(from, tid, krpc::ERROR_PROTOCOL, "invalid token");
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                if port == 0 {
                    self.reply_error(from, tid, krpc::ERROR_PROTOCOL, "invalid port");
                    return;
                }
                self.peers
                    .announce(info_hash, SocketAddr::new(from.ip(), port), now);
            }
            QueryKind::SampleInfohashes { target, want } => {
                self.nodes_for(&target, &from, want, &mut r);
                r.samples = self.peers.sample(SAMPLES, &mut self.rng);
                r.num = Some(self.peers.info_hash_count() as i64);
                r.interval = Some(SAMPLE_INTERVAL);
            }
            QueryKind::Unknown { .. } => {
                self.reply_error(from, tid, krpc::ERROR_METHOD_UNKNOWN, "method unknown");
                return;
            }
        }
        self.reply(from, tid, r);
        // BEP 43: read-only nodes stay out of routing tables.
        if !read_only && !self.routers.contains(&from) {
            let f = Family::of(&from);
            let table = self.table(f);
            if !table.heard_query(&q.id, &from, now)
                && table.admissible(&q.id, &from)
                && table.has_room_for(&q.id, now)
            {
                // Not known yet: it enters the table once it answers a ping.
                self.ping(
                    NodeInfo {
                        id: q.id,
                        addr: from,
                    },
                    now,
                );
            }
        }
    }

    fn handle_reply(
        &mut self,
        from: SocketAddr,
        tid: &[u8],
        reply: Result<Response, KrpcError>,
        requester_ip: Option<SocketAddr>,
        now: Instant,
    ) {
        let Ok(key) = <[u8; 4]>::try_from(tid) else {
            return;
        };
        // The transaction must be ours and must have gone to this address.
        match self.outstanding.get(&key) {
            Some(o) if o.addr == from => {}
            _ => return,
        }
        let Some(o) = self.outstanding.remove(&key) else {
            return;
        };
        let f = Family::of(&from);
        let r = match reply {
            Ok(r) => r,
            Err(e) => {
                trace!(%from, code = e.code, msg = %e.message, "KRPC error");
                if let Purpose::Lookup(lid, lf) = o.purpose {
                    if let Some(l) = self.lookups.get_mut(&(lid, lf)) {
                        l.on_failure(&from);
                    }
                    self.step_lookup(lid, lf, now);
                }
                return;
            }
        };
        if let Some(ip) = requester_ip {
            self.vote_external_ip(from.ip(), ip.ip(), now);
        }
        if !self.routers.contains(&from) && o.id.is_none_or(|id| id == r.id) {
            if let Insertion::Cached { ping: Some(n) } =
                self.table(f).heard_response(r.id, from, now)
            {
                self.ping(n, now);
            }
        }
        if let Purpose::Lookup(lid, lf) = o.purpose {
            let nodes: Vec<NodeInfo> = match lf {
                Family::V4 => &r.nodes,
                Family::V6 => &r.nodes6,
            }
            .iter()
            .filter(|n| n.addr.port() != 0 && is_routable(n.addr.ip()) && Family::of(&n.addr) == lf)
            .copied()
            .collect();
            let values: Vec<SocketAddr> = r
                .values
                .iter()
                .filter(|v| v.port() != 0 && is_routable(v.ip()))
                .copied()
                .collect();
            let fresh = match self.lookups.get_mut(&(lid, lf)) {
                Some(l) => l.on_response(&from, r.id, &nodes, &values, r.token.as_deref()),
                None => Vec::new(),
            };
            if !fresh.is_empty() {
                if let Some(m) = self.meta.get_mut(&lid) {
                    m.stats.peers += fresh.len() as u32;
                    if !m.internal {
                        let info_hash = m.target;
                        self.event(Event::Peers {
                            lookup: LookupId(lid),
                            info_hash,
                            peers: fresh,
                        });
                    }
                }
            }
            self.step_lookup(lid, lf, now);
        }
    }

    /// Advance time: expire queries, rotate tokens, maintain the tables.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let mut expired = Vec::new();
        let mut slow = Vec::new();
        for (k, o) in &mut self.outstanding {
            if now >= o.deadline {
                expired.push(*k);
            } else if o.slow_at.is_some_and(|s| now >= s) {
                o.slow_at = None;
                slow.push((o.addr, o.purpose));
            }
        }
        for (addr, purpose) in slow {
            if let Purpose::Lookup(lid, f) = purpose {
                if let Some(l) = self.lookups.get_mut(&(lid, f)) {
                    l.on_slow(&addr);
                }
                self.step_lookup(lid, f, now);
            }
        }
        for k in expired {
            let Some(o) = self.outstanding.remove(&k) else {
                continue;
            };
            let f = Family::of(&o.addr);
            self.table(f).failed(&o.addr, o.id.as_ref(), now);
            if let Purpose::Lookup(lid, lf) = o.purpose {
                if let Some(l) = self.lookups.get_mut(&(lid, lf)) {
                    l.on_failure(&o.addr);
                }
                self.step_lookup(lid, lf, now);
            }
        }
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            self.maintain(now);
        }
    }

    fn maintain(&mut self, now: Instant) {
        self.tokens.maybe_rotate(now, &mut self.rng);
        self.peers.expire(now);
        for f in [Family::V4, Family::V6] {
            if !self.family_enabled(f) {
                continue;
            }
            if let Some(n) = self.table(f).questionable_to_ping(now) {
                self.ping(n, now);
            }
        }
        let empty = self.table4.is_empty() && self.table6.is_empty();
        let have_seeds = !self.saved.is_empty() || !self.routers.is_empty();
        let bootstrapping = self.meta.values().any(|m| m.bootstrap);
        if empty
            && have_seeds
            && !bootstrapping
            && self
                .last_bootstrap
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(60))
        {
            self.start_bootstrap(now);
            return;
        }
        let refreshing = self.meta.values().filter(|m| m.internal).count();
        if empty || refreshing > 0 {
            return;
        }
        let interval = self.config.refresh_interval;
        let mut targets = Vec::new();
        for f in [Family::V4, Family::V6] {
            if self.family_enabled(f) && !self.table(f).is_empty() {
                let mut rng = StdRng::seed_from_u64(self.rng.gen());
                targets.extend(self.table(f).buckets_to_refresh(now, interval, &mut rng));
            }
        }
        // One refresh lookup per tick at most; the rest wait their turn
        // (their buckets were marked refreshed, and come round again).
        if let Some(t) = targets.first() {
            let _ = self.start_lookup(*t, LookupKind::FindNode, true, false, now);
        }
    }
}
