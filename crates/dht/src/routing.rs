//! The routing table (BEP 5): k-buckets over the XOR metric, good /
//! questionable / bad nodes, a replacement cache per bucket, and splitting
//! of the bucket that holds our own id only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::compact::NodeInfo;
use crate::id::{is_exempt, is_routable, NodeId};

/// Nodes per bucket (BEP 5's k).
pub const K: usize = 8;
/// A node that has not been heard from for this long is questionable.
pub const ACTIVITY_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Consecutive failed queries that make a node bad.
pub const BAD_AFTER_FAILURES: u8 = 2;
/// Consecutive failed queries after which a node is dropped even with no
/// replacement waiting.
pub const DROP_AFTER_FAILURES: u8 = 5;
/// Replacement candidates kept per bucket.
pub const REPLACEMENTS: usize = K;
/// At most this many buckets (one per bit of the id).
const MAX_BUCKETS: usize = 160;

/// How good a node is (BEP 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// Responded within 15 minutes, or responded once and queried us within
    /// 15 minutes.
    Good,
    /// No activity for 15 minutes.
    Questionable,
    /// Failed to respond to several queries in a row.
    Bad,
}

/// One node in the table.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its id.
    pub id: NodeId,
    /// Its address.
    pub addr: SocketAddr,
    /// When it last answered one of our queries.
    pub last_response: Instant,
    /// When it last sent us a query.
    pub last_query: Option<Instant>,
    /// When we last pinged it to check on it.
    pub last_ping: Option<Instant>,
    /// Failed queries in a row.
    pub failures: u8,
}

impl Entry {
    fn new(id: NodeId, addr: SocketAddr, now: Instant) -> Entry {
        Entry {
            id,
            addr,
            last_response: now,
            last_query: None,
            last_ping: None,
            failures: 0,
        }
    }

    /// This node's status at `now`.
    pub fn status(&self, now: Instant) -> NodeStatus {
        if self.failures >= BAD_AFTER_FAILURES {
            return NodeStatus::Bad;
        }
        let recent = |t: Instant| now.saturating_duration_since(t) < ACTIVITY_WINDOW;
        if recent(self.last_response) || self.last_query.is_some_and(recent) {
            NodeStatus::Good
        } else {
            NodeStatus::Questionable
        }
    }

    fn last_seen(&self) -> Instant {
        match self.last_query {
            Some(q) if q > self.last_response => q,
            _ => self.last_response,
        }
    }

    /// The node as `nodes` would carry it.
    pub fn info(&self) -> NodeInfo {
        NodeInfo {
            id: self.id,
            addr: self.addr,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    nodes: Vec<Entry>,
    replacements: Vec<Entry>,
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Bucket {
        Bucket {
            nodes: Vec::with_capacity(K),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

/// Who may enter the table.
#[derive(Clone, Copy, Debug)]
pub struct Admission {
    /// Enforce BEP 42 ids for nodes on public addresses.
    pub enforce_bep42: bool,
    /// Keep at most one node per public IP address (libtorrent's
    /// `dht_restrict_routing_ips`; private and loopback ranges are exempt).
    pub one_node_per_ip: bool,
}

/// What happened to a node offered to the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Insertion {
    /// It is now in the table.
    Added,
    /// It was already there; its activity was recorded.
    Refreshed,
    /// Its bucket is full; it waits in the replacement cache. If a
    /// questionable node in that bucket should be pinged to see whether it
    /// is still alive, it is given here.
    Cached {
        /// The questionable node to ping, if any.
        ping: Option<NodeInfo>,
    },
    /// Refused (bad id for its address, our own id, unroutable address,
    /// a known id at another address, a second node for one IP...).
    Rejected,
}

/// The routing table of one address family.
#[derive(Debug)]
pub struct RoutingTable {
    own_id: NodeId,
    buckets: Vec<Bucket>,
    admission: Admission,
    // No node can turn questionable before this (a lower bound: activity
    // only moves it later), so maintenance need not scan the table.
    next_ping_check: Option<Instant>,
}

impl RoutingTable {
    /// An empty table around `own_id`.
    pub fn new(own_id: NodeId, admission: Admission, now: Instant) -> RoutingTable {
        RoutingTable {
            own_id,
            buckets: vec![Bucket::new(now)],
            admission,
            next_ping_check: None,
        }
    }

    /// Our id.
    pub fn own_id(&self) -> NodeId {
        self.own_id
    }

    /// Nodes in the table (replacements not counted).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Whether the table holds no node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of buckets.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Every node in the table.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    fn bucket_index(&self, id: &NodeId) -> usize {
        self.own_id
            .common_prefix_len(id)
            .min(self.buckets.len() - 1)
    }

    /// Whether a node with this id at this address could enter the table.
    pub fn admissible(&self, id: &NodeId, addr: &SocketAddr) -> bool {
        let ip = addr.ip();
        if *id == self.own_id || addr.port() == 0 || !is_routable(ip) {
            return false;
        }
        if self.admission.enforce_bep42 && !is_exempt(ip) && !id.is_secure_for_ip(ip) {
            return false;
        }
        true
    }

    fn find(&self, id: &NodeId) -> Option<(usize, usize)> {
        let b = self.bucket_index(id);
        self.buckets[b]
            .nodes
            .iter()
            .position(|e| e.id == *id)
            .map(|i| (b, i))
    }

    /// Whether `id` is in the table at `addr`.
    pub fn contains(&self, id: &NodeId, addr: &SocketAddr) -> bool {
        self.find(id)
            .is_some_and(|(b, i)| self.buckets[b].nodes[i].addr == *addr)
    }

    fn ip_taken(&self, addr: &SocketAddr) -> bool {
        self.admission.one_node_per_ip
            && !is_exempt(addr.ip())
            && self.entries().any(|e| e.addr.ip() == addr.ip())
    }

    /// Whether a new node with this id would get a place now (a free slot,
    /// a bad node to replace, or a split to come), so it is worth pinging.
    pub fn has_room_for(&self, id: &NodeId, now: Instant) -> bool {
        let b = self.bucket_index(id);
        let bucket = &self.buckets[b];
        bucket.nodes.len() < K
            || bucket
                .nodes
                .iter()
                .any(|e| e.status(now) == NodeStatus::Bad)
            || (b == self.buckets.len() - 1 && self.buckets.len() < MAX_BUCKETS)
    }

    /// Record that `id` at `addr` answered one of our queries.
    pub fn heard_response(&mut self, id: NodeId, addr: SocketAddr, now: Instant) -> Insertion {
        if !self.admissible(&id, &addr) {
            return Insertion::Rejected;
        }
        if let Some((b, i)) = self.find(&id) {
            let bucket = &mut self.buckets[b];
            let e = &mut bucket.nodes[i];
            if e.addr != addr {
                // A known id from another address: keep the one we know
                // unless it has gone bad (a spoofed response cannot evict it).
                if e.status(now) != NodeStatus::Bad {
                    return Insertion::Rejected;
                }
                e.addr = addr;
            }
            e.last_response = now;
            e.failures = 0;
            bucket.last_changed = now;
            return Insertion::Refreshed;
        }
        if self.ip_taken(&addr) {
            return Insertion::Rejected;
        }
        loop {
            let b = self.bucket_index(&id);
            let last = self.buckets.len() - 1;
            let bucket = &mut self.buckets[b];
            bucket.replacements.retain(|e| e.id != id);
            if bucket.nodes.len() < K {
                bucket.nodes.push(Entry::new(id, addr, now));
                bucket.last_changed = now;
                return Insertion::Added;
            }
            if let Some(bad) = bucket
                .nodes
                .iter()
                .position(|e| e.status(now) == NodeStatus::Bad)
            {
                bucket.nodes[bad] = Entry::new(id, addr, now);
                bucket.last_changed = now;
                return Insertion::Added;
            }
            if b == last && last + 1 < MAX_BUCKETS {
                self.split_last(now);
                continue;
            }
            if bucket.replacements.len() >= REPLACEMENTS {
                bucket.replacements.remove(0);
            }
            bucket.replacements.push(Entry::new(id, addr, now));
            let ping = bucket
                .nodes
                .iter_mut()
                .filter(|e| e.status(now) == NodeStatus::Questionable)
                .filter(|e| {
                    e.last_ping
                        .is_none_or(|p| now.saturating_duration_since(p) > Duration::from_secs(60))
                })
                .min_by_key(|e| e.last_seen())
                .map(|e| {
                    e.last_ping = Some(now);
                    e.info()
                });
            return Insertion::Cached { ping };
        }
    }

    fn split_last(&mut self, now: Instant) {
        let depth = self.buckets.len() - 1;
        let own = self.own_id;
        let mut next = Bucket::new(now);
        let old = &mut self.buckets[depth];
        let (stay, go): (Vec<Entry>, Vec<Entry>) = old
            .nodes
            .drain(..)
            .partition(|e| own.common_prefix_len(&e.id) == depth);
        old.nodes = stay;
        next.nodes = go;
        let (stay, go): (Vec<Entry>, Vec<Entry>) = old
            .replacements
            .drain(..)
            .partition(|e| own.common_prefix_len(&e.id) == depth);
        old.replacements = stay;
        next.replacements = go;
        self.buckets.push(next);
    }

    /// Record that `id` at `addr` sent us a query. Returns whether it is in
    /// the table.
    pub fn heard_query(&mut self, id: &NodeId, addr: &SocketAddr, now: Instant) -> bool {
        if let Some((b, i)) = self.find(id) {
            let e = &mut self.buckets[b].nodes[i];
            if e.addr == *addr {
                e.last_query = Some(now);
                return true;
            }
        }
        false
    }

    /// Record that the node at `addr` failed to answer a query. A node
    /// gone bad is swapped for the freshest replacement, if any.
    pub fn failed(&mut self, addr: &SocketAddr, id: Option<&NodeId>, now: Instant) {
        let pos = match id {
            Some(id) => self
                .find(id)
                .filter(|&(b, i)| self.buckets[b].nodes[i].addr == *addr),
            None => self.buckets.iter().enumerate().find_map(|(b, bucket)| {
                bucket
                    .nodes
                    .iter()
                    .position(|e| e.addr == *addr)
                    .map(|i| (b, i))
            }),
        };
        for bucket in &mut self.buckets {
            bucket.replacements.retain(|e| e.addr != *addr);
        }
        let Some((b, i)) = pos else { return };
        let bucket = &mut self.buckets[b];
        let e = &mut bucket.nodes[i];
        e.failures = e.failures.saturating_add(1);
        if e.status(now) == NodeStatus::Bad {
            if let Some(r) = bucket.replacements.pop() {
                bucket.nodes[i] = r;
                bucket.last_changed = now;
            } else if bucket.nodes[i].failures >= DROP_AFTER_FAILURES {
                bucket.nodes.remove(i);
            }
        }
    }

    /// The `n` nodes closest to `target` that are not bad.
    pub fn closest(&self, target: &NodeId, n: usize, now: Instant) -> Vec<NodeInfo> {
        let mut all: Vec<&Entry> = self
            .entries()
            .filter(|e| e.status(now) != NodeStatus::Bad)
            .collect();
        all.sort_by_key(|e| e.id.distance(target));
        all.into_iter().take(n).map(Entry::info).collect()
    }

    /// The same nodes filed around a new own id (after a BEP 42 id change).
    pub fn with_new_id(&self, own_id: NodeId, now: Instant) -> RoutingTable {
        let mut t = RoutingTable::new(own_id, self.admission, now);
        for e in self.entries() {
            if t.heard_response(e.id, e.addr, e.last_response) == Insertion::Added {
                if let Some((b, i)) = t.find(&e.id) {
                    t.buckets[b].nodes[i].last_query = e.last_query;
                    t.buckets[b].nodes[i].failures = e.failures;
                }
            }
        }
        t
    }

    /// Good nodes (for saving state), up to `n`.
    pub fn good_nodes(&self, n: usize, now: Instant) -> Vec<NodeInfo> {
        self.entries()
            .filter(|e| e.status(now) == NodeStatus::Good)
            .take(n)
            .map(Entry::info)
            .collect()
    }

    /// A questionable node that has not been pinged in the last minute,
    /// the least recently seen first; marks it pinged.
    pub fn questionable_to_ping(&mut self, now: Instant) -> Option<NodeInfo> {
        if self.next_ping_check.is_some_and(|t| now < t) {
            return None;
        }
        let retry = Duration::from_secs(60);
        let mut next: Option<Instant> = None;
        let mut best: Option<&mut Entry> = None;
        for e in self.buckets.iter_mut().flat_map(|b| b.nodes.iter_mut()) {
            match e.status(now) {
                NodeStatus::Good => {
                    let t = e.last_seen() + ACTIVITY_WINDOW;
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
                NodeStatus::Questionable => {
                    let t = match e.last_ping {
                        Some(p) if now.saturating_duration_since(p) <= retry => p + retry,
                        _ => {
                            if best.as_ref().is_none_or(|b| e.last_seen() < b.last_seen()) {
                                best = Some(e);
                            }
                            now + retry
                        }
                    };
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
                NodeStatus::Bad => {}
            }
        }
        // Nodes added from now on are good for a full window at least.
        self.next_ping_check = Some(next.unwrap_or(now + ACTIVITY_WINDOW));
        best.map(|e| {
            e.last_ping = Some(now);
            // More questionable nodes may wait: look again next time.
            e.info()
        })
        .inspect(|_| self.next_ping_check = None)
    }

    /// Random targets, one per bucket not changed for `interval`, to refresh
    /// with a `find_node` lookup (BEP 5); those buckets count as changed now.
    pub fn buckets_to_refresh(
        &mut self,
        now: Instant,
        interval: Duration,
        rng: &mut impl Rng,
    ) -> Vec<NodeId> {
        let own = self.own_id;
        let last = self.buckets.len() - 1;
        let mut out = Vec::new();
        for (depth, b) in self.buckets.iter_mut().enumerate() {
            if now.saturating_duration_since(b.last_changed) >= interval {
                b.last_changed = now;
                out.push(if depth == last {
                    own.random_with_prefix(depth.min(159), rng)
                } else {
                    own.random_with_prefix(depth, rng)
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const OPEN: Admission = Admission {
        enforce_bep42: false,
        one_node_per_ip: false,
    };

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881))
    }

    #[test]
    fn fills_splits_and_caches() {
        let now = Instant::now();
        let mut rng = StdRng::seed_from_u64(3);
        let own = NodeId::random(&mut rng);
        let mut t = RoutingTable::new(own, OPEN, now);
        for i in 0..2000 {
            t.heard_response(NodeId::random(&mut rng), addr(i), now);
        }
        // Random ids: about log2(2000 / 8) buckets, each at most K.
        assert!(
            t.bucket_count() > 5 && t.bucket_count() < 20,
            "{}",
            t.bucket_count()
        );
        for b in &t.buckets {
            assert!(b.nodes.len() <= K && b.replacements.len() <= REPLACEMENTS);
        }
        assert!(t.len() <= K * t.bucket_count());
        // Far bucket (prefix 0) is full and did not split.
        assert_eq!(t.buckets[0].nodes.len(), K);
        for e in t.entries() {
            let b = own.common_prefix_len(&e.id).min(t.bucket_count() - 1);
            assert!(t.buckets[b].nodes.iter().any(|x| x.id == e.id));
        }
    }

    #[test]
    fn status_and_replacement() {
        let t0 = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, OPEN, t0);
        // Nine nodes all in bucket 0 (first bit set), so no split helps
        // once the own-id bucket has split off.
        let ids: Vec<NodeId> = (0..10u8)
            .map(|i| {
                let mut b = [0u8; 20];
                b[0] = 0x80;
                b[19] = i;
                NodeId(b)
            })
            .collect();
        for (i, id) in ids.iter().enumerate().take(8) {
            assert_eq!(t.heard_response(*id, addr(i as u32), t0), Insertion::Added);
        }
        let r = t.heard_response(ids[8], addr(8), t0);
        assert!(matches!(r, Insertion::Cached { .. }), "{r:?}");
        assert_eq!(t.buckets[0].nodes[0].status(t0), NodeStatus::Good);
        let later = t0 + ACTIVITY_WINDOW + Duration::from_secs(1);
        assert_eq!(
            t.buckets[0].nodes[0].status(later),
            NodeStatus::Questionable
        );
        // A questionable node is offered for a ping when a newcomer waits.
        let r = t.heard_response(ids[9], addr(9), later);
        assert!(matches!(r, Insertion::Cached { ping: Some(_) }), "{r:?}");
        // Two failures make node 0 bad; the freshest replacement takes its place.
        t.failed(&addr(0), Some(&ids[0]), later);
        assert!(t.contains(&ids[0], &addr(0)));
        t.failed(&addr(0), Some(&ids[0]), later);
        assert!(!t.contains(&ids[0], &addr(0)));
        assert!(t.contains(&ids[9], &addr(9)));
        // A known id from a new address is refused while the old is fine.
        assert_eq!(
            t.heard_response(ids[1], addr(99), later),
            Insertion::Rejected
        );
        assert_eq!(
            t.heard_response(ids[1], addr(1), later),
            Insertion::Refreshed
        );
        assert_eq!(t.heard_response(own, addr(50), later), Insertion::Rejected);
    }

    #[test]
    fn bep42_and_one_per_ip_on_public_addresses() {
        let now = Instant::now();
        let mut rng = StdRng::seed_from_u64(4);
        let strict = Admission {
            enforce_bep42: true,
            one_node_per_ip: true,
        };
        let mut t = RoutingTable::new(NodeId::random(&mut rng), strict, now);
        let public: SocketAddr = "203.0.113.7:6881".parse().unwrap();
        let bad_id = loop {
            let id = NodeId::random(&mut rng);
            if !id.is_secure_for_ip(public.ip()) {
                break id;
            }
        };
        assert_eq!(t.heard_response(bad_id, public, now), Insertion::Rejected);
        let good = NodeId::secure_for_ip(public.ip(), &mut rng);
        assert_eq!(t.heard_response(good, public, now), Insertion::Added);
        let second = NodeId::secure_for_ip(public.ip(), &mut rng);
        let other_port: SocketAddr = "203.0.113.7:6882".parse().unwrap();
        assert_eq!(
            t.heard_response(second, other_port, now),
            Insertion::Rejected
        );
        // Loopback and private ranges are exempt from both rules.
        for i in 0..3 {
            let a: SocketAddr = format!("127.0.0.1:{}", 7000 + i).parse().unwrap();
            assert_eq!(
                t.heard_response(NodeId::random(&mut rng), a, now),
                Insertion::Added
            );
        }
    }

    #[test]
    fn refresh_targets_fall_in_their_bucket() {
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(5);
        let own = NodeId::random(&mut rng);
        let mut t = RoutingTable::new(own, OPEN, t0);
        for i in 0..300 {
            t.heard_response(NodeId::random(&mut rng), addr(i), t0);
        }
        assert!(t
            .buckets_to_refresh(t0, ACTIVITY_WINDOW, &mut rng)
            .is_empty());
        let later = t0 + ACTIVITY_WINDOW;
        let targets = t.buckets_to_refresh(later, ACTIVITY_WINDOW, &mut rng);
        assert_eq!(targets.len(), t.bucket_count());
        for (depth, target) in targets.iter().enumerate().take(t.bucket_count() - 1) {
            assert_eq!(t.bucket_index(target), depth);
        }
        assert!(t
            .buckets_to_refresh(later, ACTIVITY_WINDOW, &mut rng)
            .is_empty());
    }

    #[test]
    fn questionable_nodes_are_pinged_one_by_one() {
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(6);
        let mut t = RoutingTable::new(NodeId::random(&mut rng), OPEN, t0);
        for i in 0..5 {
            t.heard_response(NodeId::random(&mut rng), addr(i), t0);
        }
        assert_eq!(t.questionable_to_ping(t0), None);
        assert_eq!(t.questionable_to_ping(t0 + Duration::from_secs(600)), None);
        let late = t0 + ACTIVITY_WINDOW + Duration::from_secs(1);
        let mut pinged = std::collections::HashSet::new();
        while let Some(n) = t.questionable_to_ping(late) {
            assert!(pinged.insert(n.addr), "pinged twice within a minute");
        }
        assert_eq!(pinged.len(), 5);
        let again = late + Duration::from_secs(61);
        assert!(
            t.questionable_to_ping(again).is_some(),
            "unanswered pings are retried"
        );
    }
}
