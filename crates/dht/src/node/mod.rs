//! The sans-I/O DHT node: datagrams and time in, datagrams and events out.
//!
//! `types` holds what the node reports, `state` saving and restoring,
//! `lookups` the user commands and lookup bookkeeping, `server` the
//! answers to other nodes' queries.

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

mod lookups;
mod server;
mod state;
mod types;

pub use types::{CommandError, Event, Family, LookupStats, NodeStats, StateError};

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
