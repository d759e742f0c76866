//! A virtual network and clock for many sans-I/O DHT nodes in one
//! process: no sockets, no sleeps. Shared by the simulation test and the
//! `simulate` example.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_dht::krpc::{Body, Message, Response};
use shoal_dht::{Config, Event, LookupId, LookupStats, Node, NodeId, NodeInfo};

/// How a simulated node behaves.
pub enum Behaviour {
    /// A Shoal node.
    Honest(Box<Node>),
    /// Gone: drops everything.
    Dead,
    /// Answers every query with random bytes.
    Garbage,
    /// Answers find_node / get_peers with itself as the only node, ever.
    Selfish(NodeId),
}

/// Figures over a set of lookups.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    /// Lookups run.
    pub lookups: usize,
    /// Lookups that found what they looked for.
    pub successes: usize,
    /// Mean hops.
    pub hops: f64,
    /// Mean queries sent per lookup.
    pub messages: f64,
    /// Largest queries per lookup.
    pub max_messages: u32,
}

struct Packet {
    from: SocketAddr,
    to: usize,
    bytes: Vec<u8>,
}

/// The simulated network.
pub struct Sim {
    pub base: Instant,
    pub now: Instant,
    pub nodes: Vec<Behaviour>,
    pub addrs: Vec<SocketAddr>,
    by_addr: HashMap<SocketAddr, usize>,
    queue: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    packets: HashMap<u64, Packet>,
    seq: u64,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    pub rng: StdRng,
    pub events: Vec<Vec<Event>>,
    pub delivered: u64,
}

/// A public address for node `i` (so BEP 42 applies).
pub fn addr_of(i: usize) -> SocketAddr {
    let i = i as u32 + 1;
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(
            20 + (i >> 16) as u8,
            (i >> 8) as u8,
            i as u8,
            1,
        )),
        6881,
    )
}

impl Sim {
    /// `n` honest nodes, not yet joined.
    pub fn new(n: usize, seed: u64) -> Sim {
        let base = Instant::now();
        let mut sim = Sim {
            base,
            now: base,
            nodes: Vec::new(),
            addrs: Vec::new(),
            by_addr: HashMap::new(),
            queue: BinaryHeap::new(),
            packets: HashMap::new(),
            seq: 0,
            timers: BinaryHeap::new(),
            rng: StdRng::seed_from_u64(seed),
            events: Vec::new(),
            delivered: 0,
        };
        for i in 0..n {
            let addr = addr_of(i);
            let config = Config {
                external_ip: Some(addr.ip()),
                ipv6: false,
                seed: seed.wrapping_mul(1_000_003).wrapping_add(i as u64),
                ..Config::default()
            };
            sim.nodes
                .push(Behaviour::Honest(Box::new(Node::new(config, base))));
            sim.addrs.push(addr);
            sim.by_addr.insert(addr, i);
            sim.events.push(Vec::new());
        }
        sim
    }

    /// The honest node `i`, if it is one.
    pub fn node(&mut self, i: usize) -> Option<&mut Node> {
        match &mut self.nodes[i] {
            Behaviour::Honest(n) => Some(n),
            _ => None,
        }
    }

    /// Indices of honest nodes.
    pub fn honest(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| matches!(self.nodes[*i], Behaviour::Honest(_)))
            .collect()
    }

    fn latency(&mut self) -> Duration {
        Duration::from_millis(self.rng.gen_range(10..120))
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let Some(&to) = self.by_addr.get(&to) else {
            return;
        };
        let at = self.now + self.latency();
        self.seq += 1;
        self.packets.insert(self.seq, Packet { from, to, bytes });
        self.queue.push(Reverse((at, self.seq, to)));
    }

    /// Collect what node `i` wants to send and its next timer.
    fn flush(&mut self, i: usize) {
        let from = self.addrs[i];
        let mut out = Vec::new();
        let mut timer = None;
        if let Behaviour::Honest(n) = &mut self.nodes[i] {
            while let Some(t) = n.poll_transmit() {
                out.push(t);
            }
            while let Some(e) = n.poll_event() {
                self.events[i].push(e);
            }
            timer = n.poll_timeout();
        }
        for (to, bytes) in out {
            self.send(from, to, bytes);
        }
        if let Some(t) = timer {
            self.timers.push(Reverse((t.max(self.now), i)));
        }
    }

    fn deliver(&mut self, p: Packet) {
        self.delivered += 1;
        let now = self.now;
        let to_addr = self.addrs[p.to];
        let mut reply: Option<Vec<u8>> = None;
        match &mut self.nodes[p.to] {
            Behaviour::Honest(n) => n.handle_datagram(p.from, &p.bytes, now),
            Behaviour::Dead => {}
            Behaviour::Garbage => {
                let len = self.rng.gen_range(1..200);
                let mut b: Vec<u8> = (0..len).map(|_| self.rng.gen()).collect();
                b[0] = b'd';
                reply = Some(b);
            }
            Behaviour::Selfish(id) => {
                if let Ok(Message {
                    transaction_id,
                    body: Body::Query(_),
                    ..
                }) = Message::decode(&p.bytes)
                {
                    let me = NodeInfo {
                        id: *id,
                        addr: to_addr,
                    };
                    let r = Message {
                        transaction_id,
                        version: None,
                        read_only: false,
                        requester_ip: None,
                        body: Body::Response(Response {
                            id: *id,
                            nodes: vec![me],
                            token: Some(b"tok".to_vec()),
                            ..Response::default()
                        }),
                    };
                    reply = Some(r.encode());
                }
            }
        }
        if let Some(b) = reply {
            self.send(to_addr, p.from, b);
        }
        self.flush(p.to);
    }

    /// Run the virtual clock until `until` (or until nothing is left to do).
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let next_packet = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self.timers.peek().map(|Reverse((t, _))| *t);
            let next = match (next_packet, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = next;
            if next_packet == Some(next) {
                let Some(Reverse((_, seq, _))) = self.queue.pop() else {
                    break;
                };
                if let Some(p) = self.packets.remove(&seq) {
                    self.deliver(p);
                }
            } else {
                let Some(Reverse((t, i))) = self.timers.pop() else {
                    break;
                };
                let mut due = false;
                if let Behaviour::Honest(n) = &mut self.nodes[i] {
                    if n.poll_timeout().is_some_and(|p| p <= t) {
                        n.handle_timeout(t);
                        due = true;
                    }
                }
                if due {
                    self.flush(i);
                }
            }
        }
        self.now = until.max(self.now);
    }

    /// Advance by `d`.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Join every node: node 0 first, each later node bootstraps from a
    /// few nodes that joined before it; then let the network settle.
    pub fn join_all(&mut self, spacing: Duration, settle: Duration) {
        for i in 0..self.nodes.len() {
            let mut seeds = vec![self.addrs[0]];
            for _ in 0..2 {
                if i > 1 {
                    let j = self.rng.gen_range(0..i);
                    seeds.push(self.addrs[j]);
                }
            }
            let now = self.now;
            if i > 0 {
                if let Some(n) = self.node(i) {
                    n.bootstrap(&seeds, now);
                }
            }
            self.flush(i);
            self.run_for(spacing);
        }
        self.run_for(settle);
    }

    /// Run until lookup `id` of node `i` finishes (bounded by `limit`);
    /// returns its stats, closest nodes and the peers it found.
    pub fn wait_lookup(
        &mut self,
        i: usize,
        id: LookupId,
        limit: Duration,
    ) -> Option<(LookupStats, Vec<NodeInfo>, Vec<SocketAddr>)> {
        let deadline = self.now + limit;
        let mut peers = Vec::new();
        loop {
            let mut done = None;
            for e in self.events[i].drain(..) {
                match e {
                    Event::Peers {
                        lookup, peers: p, ..
                    } if lookup == id => peers.extend(p),
                    Event::LookupDone {
                        lookup,
                        stats,
                        closest,
                        ..
                    } if lookup == id => done = Some((stats, closest)),
                    _ => {}
                }
            }
            if let Some((stats, closest)) = done {
                return Some((stats, closest, peers));
            }
            if self.now >= deadline {
                return None;
            }
            let step = self.now + Duration::from_millis(50);
            self.run_until(step);
        }
    }

    /// Announce `count` fresh info-hashes from random honest nodes and look
    /// each up from another honest node; success = the announcer found.
    pub fn announce_and_find(&mut self, count: usize) -> Figures {
        let mut f = Figures::default();
        let mut hops = 0u64;
        let mut msgs = 0u64;
        for k in 0..count {
            let honest = self.honest();
            let a = honest[self.rng.gen_range(0..honest.len())];
            let b = loop {
                let b = honest[self.rng.gen_range(0..honest.len())];
                if b != a {
                    break b;
                }
            };
            let ih = NodeId(self.rng.gen());
            let port = 10000 + k as u16;
            let now = self.now;
            let Some(id) = self
                .node(a)
                .and_then(|n| n.announce(ih, Some(port), now).ok())
            else {
                continue;
            };
            self.flush(a);
            if self.wait_lookup(a, id, Duration::from_secs(120)).is_none() {
                continue;
            }
            self.run_for(Duration::from_secs(1));
            let now = self.now;
            let Some(id) = self.node(b).and_then(|n| n.get_peers(ih, now).ok()) else {
                continue;
            };
            self.flush(b);
            f.lookups += 1;
            if let Some((stats, _, peers)) = self.wait_lookup(b, id, Duration::from_secs(120)) {
                let want = SocketAddr::new(self.addrs[a].ip(), port);
                if peers.contains(&want) {
                    f.successes += 1;
                }
                hops += u64::from(stats.hops);
                msgs += u64::from(stats.queries);
                f.max_messages = f.max_messages.max(stats.queries);
            }
        }
        if f.lookups > 0 {
            f.hops = hops as f64 / f.lookups as f64;
            f.messages = msgs as f64 / f.lookups as f64;
        }
        f
    }

    /// `find_node` for random targets from random honest nodes; success =
    /// the closest live honest node to the target was found.
    pub fn find_closest(&mut self, count: usize) -> Figures {
        let mut f = Figures::default();
        let mut hops = 0u64;
        let mut msgs = 0u64;
        for _ in 0..count {
            let honest = self.honest();
            let a = honest[self.rng.gen_range(0..honest.len())];
            let target = NodeId(self.rng.gen());
            let best = honest
                .iter()
                .filter(|&&i| i != a)
                .filter_map(|&i| match &self.nodes[i] {
                    Behaviour::Honest(n) => Some(n.id()),
                    _ => None,
                })
                .min_by_key(|id| id.distance(&target));
            let now = self.now;
            let Some(id) = self.node(a).and_then(|n| n.find_node(target, now).ok()) else {
                continue;
            };
            self.flush(a);
            f.lookups += 1;
            if let Some((stats, closest, _)) = self.wait_lookup(a, id, Duration::from_secs(120)) {
                if best.is_some_and(|b| closest.iter().any(|c| c.id == b)) {
                    f.successes += 1;
                }
                hops += u64::from(stats.hops);
                msgs += u64::from(stats.queries);
                f.max_messages = f.max_messages.max(stats.queries);
            }
        }
        if f.lookups > 0 {
            f.hops = hops as f64 / f.lookups as f64;
            f.messages = msgs as f64 / f.lookups as f64;
        }
        f
    }

    /// Take `fraction` of the nodes (never node `keep`) out of the network.
    pub fn kill(&mut self, fraction: f64) {
        let n = (self.nodes.len() as f64 * fraction) as usize;
        let mut killed = 0;
        while killed < n {
            let i = self.rng.gen_range(1..self.nodes.len());
            if matches!(self.nodes[i], Behaviour::Honest(_)) {
                self.nodes[i] = Behaviour::Dead;
                killed += 1;
            }
        }
    }

    /// Turn `fraction` of the nodes hostile: half answer garbage, half
    /// return only themselves for every id.
    pub fn corrupt(&mut self, fraction: f64) {
        let n = (self.nodes.len() as f64 * fraction) as usize;
        let mut done = 0;
        while done < n {
            let i = self.rng.gen_range(1..self.nodes.len());
            if let Behaviour::Honest(node) = &self.nodes[i] {
                let id = node.id();
                self.nodes[i] = if done % 2 == 0 {
                    Behaviour::Garbage
                } else {
                    Behaviour::Selfish(id)
                };
                done += 1;
            }
        }
    }

    /// Mean routing-table size over honest nodes.
    pub fn mean_table(&self) -> f64 {
        let h: Vec<usize> = self
            .nodes
            .iter()
            .filter_map(|b| match b {
                Behaviour::Honest(n) => Some(n.table_v4().len()),
                _ => None,
            })
            .collect();
        h.iter().sum::<usize>() as f64 / h.len().max(1) as f64
    }
}
