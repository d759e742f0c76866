//! Iterative lookups (BEP 5 / Kademlia): keep `alpha` queries in flight
//! to the closest nodes not yet asked, learn closer nodes from each answer,
//! and stop once the `k` closest nodes that are still candidates have all
//! answered.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::compact::NodeInfo;
use crate::id::NodeId;

/// Queries in flight per lookup (α).
pub const ALPHA: usize = 3;
/// Nodes a lookup converges on (k).
pub const K: usize = 8;
/// Candidates kept per lookup (the closest ones).
pub const MAX_CANDIDATES: usize = 64;
/// Distinct peers remembered per lookup (for de-duplication).
pub const MAX_PEERS_SEEN: usize = 2000;

/// A lookup's handle, returned by the commands that start one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// What the lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// `find_node` towards a target.
    FindNode,
    /// `get_peers` for an info-hash.
    GetPeers,
    /// `get_peers`, then `announce_peer` to the closest nodes with their
    /// tokens: `Some(port)`, or `None` for `implied_port`.
    Announce(Option<u16>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Fresh,
    InFlight { slow: bool },
    Responded,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    id: Option<NodeId>,
    addr: SocketAddr,
    state: State,
    depth: u32,
    token: Option<Vec<u8>>,
}

/// One iterative lookup over one address family.
#[derive(Debug)]
pub struct Lookup {
    target: NodeId,
    kind: LookupKind,
    own_id: NodeId,
    // Sorted by distance to the target; unknown ids (routers) last.
    candidates: Vec<Candidate>,
    peers_seen: HashSet<SocketAddr>,
    /// Queries sent.
    pub queries: u32,
    /// Responses received.
    pub responses: u32,
    /// Queries that failed or timed out.
    pub failures: u32,
}

fn key(target: &NodeId, id: &Option<NodeId>) -> (bool, NodeId) {
    match id {
        Some(id) => (false, id.distance(target)),
        None => (true, NodeId([0xff; 20])),
    }
}

impl Lookup {
    /// A lookup for `target` seeded with known nodes (`id` is `None` for
    /// routers and other addresses whose id we do not know).
    pub fn new(
        target: NodeId,
        kind: LookupKind,
        own_id: NodeId,
        seeds: impl IntoIterator<Item = (Option<NodeId>, SocketAddr)>,
    ) -> Lookup {
        let mut l = Lookup {
            target,
            kind,
            own_id,
            candidates: Vec::new(),
            peers_seen: HashSet::new(),
            queries: 0,
            responses: 0,
            failures: 0,
        };
        for (id, addr) in seeds {
            l.add_candidate(id, addr, 0);
        }
        l
    }

    /// The target.
    pub fn target(&self) -> NodeId {
        self.target
    }

    /// The kind.
    pub fn kind(&self) -> LookupKind {
        self.kind
    }

    fn add_candidate(&mut self, id: Option<NodeId>, addr: SocketAddr, depth: u32) {
        if id == Some(self.own_id) {
            return;
        }
        // One candidate per address and per id: a node that names itself
        // (or one address) under many ids gets one slot only.
        if self
            .candidates
            .iter()
            .any(|c| c.addr == addr || (id.is_some() && c.id == id))
        {
            return;
        }
        let k = key(&self.target, &id);
        let pos = self
            .candidates
            .partition_point(|c| key(&self.target, &c.id) <= k);
        if pos >= MAX_CANDIDATES {
            return;
        }
        self.candidates.insert(
            pos,
            Candidate {
                id,
                addr,
                state: State::Fresh,
                depth,
                token: None,
            },
        );
        if self.candidates.len() > MAX_CANDIDATES {
            // Drop the farthest candidate not waiting on an answer.
            if let Some(i) = self
                .candidates
                .iter()
                .rposition(|c| !matches!(c.state, State::InFlight { .. }))
            {
                self.candidates.remove(i);
            }
        }
    }

    fn in_flight(&self) -> usize {
        self.candidates
            .iter()
            .filter(|c| c.state == State::InFlight { slow: false })
            .count()
    }

    /// The next node to query, if a slot is free and a node among the `k`
    /// closest live candidates has not been asked yet. Call
    /// [`Lookup::sent`] once the query is on its way.
    pub fn next_to_query(&self) -> Option<(Option<NodeId>, SocketAddr)> {
        if self.in_flight() >= ALPHA {
            return None;
        }
        let mut rank = 0;
        for c in &self.candidates {
            if c.state == State::Failed {
                continue;
            }
            if rank >= K && c.id.is_some() {
                return None;
            }
            if c.state == State::Fresh {
                return Some((c.id, c.addr));
            }
            rank += 1;
        }
        None
    }

    /// The query to `addr` was sent.
    pub fn sent(&mut self, addr: &SocketAddr) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.addr == *addr) {
            c.state = State::InFlight { slow: false };
            self.queries += 1;
        }
    }

    /// Whether no more queries will be sent and none that matters is
    /// awaited (queries marked slow are no longer waited for).
    pub fn is_done(&self) -> bool {
        self.in_flight() == 0 && self.next_to_query().is_none()
    }

    /// `addr` answered as `id` with these nodes (of this lookup's family),
    /// peers and token. Returns the peers not seen before in this lookup.
    pub fn on_response(
        &mut self,
        addr: &SocketAddr,
        id: NodeId,
        nodes: &[NodeInfo],
        values: &[SocketAddr],
        token: Option<&[u8]>,
    ) -> Vec<SocketAddr> {
        let Some(i) = self.candidates.iter().position(|c| c.addr == *addr) else {
            return Vec::new();
        };
        self.responses += 1;
        let c = &mut self.candidates[i];
        if c.id.is_some_and(|known| known != id) {
            // It answered under another id than the one we were told:
            // do not let it stand in the k closest under a false name.
            c.state = State::Failed;
            return Vec::new();
        }
        let depth = c.depth;
        c.state = State::Responded;
        c.token = token.map(<[u8]>::to_vec);
        if c.id.is_none() {
            // A router or bootstrap address told us who it is: re-sort.
            let mut c = self.candidates.remove(i);
            if self.candidates.iter().any(|o| o.id == Some(id)) || id == self.own_id {
                return Vec::new();
            }
            c.id = Some(id);
            let k = key(&self.target, &c.id);
            let pos = self
                .candidates
                .partition_point(|o| key(&self.target, &o.id) <= k);
            self.candidates.insert(pos, c);
        }
        for n in nodes {
            self.add_candidate(Some(n.id), n.addr, depth + 1);
        }
        let mut fresh = Vec::new();
        for v in values {
            if self.peers_seen.len() < MAX_PEERS_SEEN && self.peers_seen.insert(*v) {
                fresh.push(*v);
            }
        }
        fresh
    }

    /// The query to `addr` failed (timeout or error reply).
    pub fn on_failure(&mut self, addr: &SocketAddr) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.addr == *addr) {
            if matches!(c.state, State::InFlight { .. }) {
                self.failures += 1;
            }
            c.state = State::Failed;
        }
    }

    /// The query to `addr` is taking long: free its slot for another query
    /// but keep accepting its answer.
    pub fn on_slow(&mut self, addr: &SocketAddr) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.addr == *addr) {
            if c.state == (State::InFlight { slow: false }) {
                c.state = State::InFlight { slow: true };
            }
        }
    }

    /// The closest nodes that answered, at most `k`, with their tokens.
    pub fn closest_responded(&self) -> Vec<(NodeInfo, Option<Vec<u8>>)> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Responded)
            .filter_map(|c| {
                c.id.map(|id| (NodeInfo { id, addr: c.addr }, c.token.clone()))
            })
            .take(K)
            .collect()
    }

    /// Rounds of queries it took to reach the closest answering nodes: the
    /// deepest of them, counting the seeds as hop 1.
    pub fn hops(&self) -> u32 {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Responded && c.id.is_some())
            .take(K)
            .map(|c| c.depth + 1)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> NodeId {
        let mut x = [0u8; 20];
        x[0] = b;
        NodeId(x)
    }

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 1000))
    }

    #[test]
    fn alpha_in_flight_and_convergence() {
        let target = id(0);
        let seeds = (1..=20u8).map(|i| (Some(id(i * 10)), addr(i)));
        let mut l = Lookup::new(target, LookupKind::FindNode, id(255), seeds);
        let mut sent = Vec::new();
        while let Some((_, a)) = l.next_to_query() {
            l.sent(&a);
            sent.push(a);
        }
        assert_eq!(sent, vec![addr(1), addr(2), addr(3)], "closest three first");
        // addr(1) answers with a closer node; it becomes the next asked.
        l.on_response(
            &addr(1),
            id(10),
            &[NodeInfo {
                id: id(1),
                addr: addr(100),
            }],
            &[],
            None,
        );
        assert_eq!(l.next_to_query().map(|x| x.1), Some(addr(100)));
        // Everyone else fails or answers; the lookup ends with k responders.
        let mut rounds = 0;
        while !l.is_done() {
            rounds += 1;
            assert!(rounds < 100);
            while let Some((_, a)) = l.next_to_query() {
                l.sent(&a);
            }
            let flying: Vec<_> = l
                .candidates
                .iter()
                .filter(|c| matches!(c.state, State::InFlight { .. }))
                .map(|c| (c.addr, c.id))
                .collect();
            for (a, i) in flying {
                if a == addr(3) {
                    l.on_failure(&a);
                } else {
                    l.on_response(&a, i.unwrap(), &[], &[], Some(b"t"));
                }
            }
        }
        let best = l.closest_responded();
        assert_eq!(best.len(), K);
        assert_eq!(best[0].0.id, id(1));
        assert!(best.iter().all(|(n, _)| n.addr != addr(3)));
        assert_eq!(l.hops(), 2);
        assert!(l.queries >= 9 && l.queries <= 12, "{}", l.queries);
    }

    #[test]
    fn one_slot_per_address_and_wrong_ids_fail() {
        let target = id(0);
        let mut l = Lookup::new(
            target,
            LookupKind::GetPeers,
            id(255),
            [(Some(id(50)), addr(1))],
        );
        l.sent(&addr(1));
        // A liar lists itself under many ids close to the target.
        let lies: Vec<NodeInfo> = (1..10)
            .map(|i| NodeInfo {
                id: id(i),
                addr: addr(1),
            })
            .collect();
        let peers = l.on_response(
            &addr(1),
            id(50),
            &lies,
            &["1.1.1.1:1".parse().unwrap()],
            None,
        );
        assert_eq!(peers.len(), 1);
        assert_eq!(l.candidates.len(), 1);
        // A node answering under another id than advertised is not trusted.
        let mut l = Lookup::new(
            target,
            LookupKind::GetPeers,
            id(255),
            [(Some(id(5)), addr(2))],
        );
        l.sent(&addr(2));
        l.on_response(&addr(2), id(1), &[], &[], None);
        assert!(l.closest_responded().is_empty());
        assert!(l.is_done());
    }

    #[test]
    fn slow_queries_free_their_slot() {
        let seeds = (1..=5u8).map(|i| (Some(id(i)), addr(i)));
        let mut l = Lookup::new(id(0), LookupKind::FindNode, id(255), seeds);
        for _ in 0..3 {
            let (_, a) = l.next_to_query().unwrap();
            l.sent(&a);
        }
        assert!(l.next_to_query().is_none());
        l.on_slow(&addr(1));
        assert_eq!(l.next_to_query().map(|x| x.1), Some(addr(4)));
        // the slow answer still counts
        l.on_response(&addr(1), id(1), &[], &[], None);
        assert_eq!(l.closest_responded()[0].0.id, id(1));
    }
}
