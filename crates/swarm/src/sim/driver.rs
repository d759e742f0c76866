//! The simulation: nodes, connections and the event loop. Each handler
//! drives the core as the engine's tasks do (the housekeeping loop, the
//! dialer, the connection's read and write loops), minus sockets and disk.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_wire::{ExtensionHandshake, MessageDecoder};

use super::clock::EventQueue;
use super::content::Content;
use super::link::{Downlink, Uplink};
use super::node::{node_addr, node_of, node_peer_id, End, Node, Writer};
use super::report::{min_distribution_time, NodeReport, Report};
use super::scenario::{Role, Scenario};
use crate::bitfield::Bitfield;
use crate::choker::Choker;
use crate::peer::PeerState;
use crate::picker::{PickerConfig, PiecePicker};
use crate::torrent::{Action, TorrentState};
use crate::ut_metadata::{UT_METADATA, UT_METADATA_ID};

/// Something that happens at a point of virtual time.
#[derive(Debug)]
pub(super) enum Event {
    /// A node announces and starts its housekeeping.
    Join(usize),
    /// A node's housekeeping tick.
    Tick(usize),
    /// A dial from `dialer` to `target` completes its handshakes.
    Establish {
        dialer: usize,
        target: usize,
        addr: std::net::SocketAddr,
    },
    /// A connection's writer runs.
    Write(usize),
    /// A node's uplink finished a chunk.
    UplinkFree(usize),
    /// Bytes reach a connection end's downlink.
    Arrive(usize, Vec<Bytes>),
    /// Bytes are through the downlink: the read loop gets them.
    Receive(usize, Vec<Bytes>),
    /// A node's hash check of a piece finishes.
    Verify(usize, u32),
    /// The other end of a connection closed it.
    RemoteClosed(usize),
    /// A node leaves the swarm.
    Leave(usize),
}

impl Event {
    /// A number naming the event, for the trace digest.
    fn digest(&self) -> (u64, u64) {
        match self {
            Event::Join(n) => (1, *n as u64),
            Event::Tick(n) => (2, *n as u64),
            Event::Establish { dialer, target, .. } => (3, (*dialer as u64) << 32 | *target as u64),
            Event::Write(e) => (4, *e as u64),
            Event::UplinkFree(n) => (5, *n as u64),
            Event::Arrive(e, b) => (
                6,
                (*e as u64) << 32 | b.iter().map(|b| b.len() as u64).sum::<u64>(),
            ),
            Event::Receive(e, _) => (7, *e as u64),
            Event::Verify(n, p) => (8, (*n as u64) << 32 | u64::from(*p)),
            Event::RemoteClosed(e) => (9, *e as u64),
            Event::Leave(n) => (10, *n as u64),
        }
    }
}

/// A swarm being simulated; see the [module documentation](super).
#[derive(Debug)]
pub struct Simulation {
    pub(super) scenario: Scenario,
    pub(super) q: EventQueue<Event>,
    pub(super) rng: StdRng,
    pub(super) content: Content,
    pub(super) nodes: Vec<Node>,
    pub(super) ends: Vec<End>,
    /// Leechers holding each piece.
    pub(super) holders: Vec<u32>,
    /// Pieces held by at least one leecher.
    pub(super) distributed: u32,
    pub(super) full_copy_at: Option<Duration>,
    pub(super) seeder_piece_bytes: Vec<u64>,
    /// Leechers not yet complete.
    pub(super) incomplete: usize,
    next_port: u16,
    trace: u64,
}

impl Simulation {
    /// Set up `scenario`: nodes built as the engine's `add_torrent` builds
    /// a torrent, nothing run yet.
    pub fn new(scenario: Scenario) -> Simulation {
        let start = Instant::now();
        let mut rng = StdRng::seed_from_u64(scenario.seed);
        let content = Content::new(scenario.total_length, scenario.piece_length, rng.gen());
        let pieces = scenario.piece_count();
        let mut nodes = Vec::with_capacity(scenario.nodes.len());
        let (lo, hi) = scenario.latency;
        for (i, spec) in scenario.nodes.iter().enumerate() {
            let latency = spec.latency.unwrap_or_else(|| rng.gen_range(lo..=hi));
            let mut node_rng = StdRng::seed_from_u64(rng.gen());
            let picker = PiecePicker::new(
                pieces,
                scenario.piece_length,
                scenario.total_length,
                PickerConfig {
                    seed: node_rng.gen(),
                    ..scenario.picker.clone()
                },
            );
            let Ok(mut picker) = picker else {
                // An impossible geometry: a node with no torrent would be
                // meaningless, so the scenario is simply empty.
                return Simulation::empty(scenario, content, start, rng);
            };
            if spec.role == Role::Seeder {
                for p in 0..pieces {
                    let _ = picker.mark_have(p);
                }
            }
            let mut state = TorrentState::new(
                picker,
                Choker::new(scenario.choker.clone()),
                node_rng,
                start,
            );
            if spec.super_seed {
                state.enable_super_seeding();
            }
            let addr = node_addr(i);
            let mut ext = ExtensionHandshake {
                v: Some("Shoal sim".into()),
                p: Some(addr.port()),
                reqq: Some(scenario.peer.max_upload_queue as u32),
                ..ExtensionHandshake::default()
            };
            ext.m.insert(UT_METADATA.into(), UT_METADATA_ID);
            let mut corrupt = vec![false; pieces as usize];
            for &p in &spec.corrupt_pieces {
                if let Some(c) = corrupt.get_mut(p as usize) {
                    *c = true;
                }
            }
            nodes.push(Node {
                spec: spec.clone(),
                state,
                addr,
                peer_id: node_peer_id(i),
                ext,
                latency,
                uplink: Uplink::new(spec.upload),
                downlink: Downlink::new(spec.download),
                ends: Default::default(),
                half_open: 0,
                corrupt,
                bad: vec![false; pieces as usize],
                joined: false,
                departed_at: None,
                completed_at: (spec.role == Role::Seeder).then_some(Duration::ZERO),
                from_seeders: 0,
                from_leechers: 0,
                uploaded: 0,
                hash_failures: 0,
            });
        }
        let incomplete = nodes.iter().filter(|n| n.completed_at.is_none()).count();
        let mut q = EventQueue::new(start);
        for (i, n) in nodes.iter().enumerate() {
            q.schedule(n.spec.join_at, Event::Join(i));
        }
        Simulation {
            holders: vec![0; pieces as usize],
            distributed: 0,
            full_copy_at: None,
            seeder_piece_bytes: vec![0; pieces as usize],
            incomplete,
            scenario,
            q,
            rng,
            content,
            nodes,
            ends: Vec::new(),
            next_port: 0,
            trace: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn empty(scenario: Scenario, content: Content, start: Instant, rng: StdRng) -> Simulation {
        Simulation {
            holders: Vec::new(),
            distributed: 0,
            full_copy_at: None,
            seeder_piece_bytes: Vec::new(),
            incomplete: 0,
            scenario,
            q: EventQueue::new(start),
            rng,
            content,
            nodes: Vec::new(),
            ends: Vec::new(),
            next_port: 0,
            trace: 0,
        }
    }

    /// Run until every leecher is complete, nothing is left to do, or the
    /// time limit; then report.
    pub fn run(mut self) -> Report {
        while !self.all_complete() {
            let Some((at, event)) = self.q.pop() else {
                break;
            };
            if at > self.scenario.time_limit {
                break;
            }
            let (kind, id) = event.digest();
            for x in [at.as_nanos() as u64, kind, id] {
                self.trace = (self.trace ^ x).wrapping_mul(0x0100_0000_01b3);
            }
            self.handle(event);
        }
        self.report()
    }

    /// Whether every leecher holds every piece.
    fn all_complete(&self) -> bool {
        self.incomplete == 0
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Join(n) => self.join(n),
            Event::Tick(n) => self.tick(n),
            Event::Establish {
                dialer,
                target,
                addr,
            } => self.establish(dialer, target, addr),
            Event::Write(e) => self.write(e),
            Event::UplinkFree(n) => {
                self.nodes[n].uplink.busy = false;
                self.send_next(n);
            }
            Event::Arrive(e, parts) => self.arrive(e, parts),
            Event::Receive(e, parts) => self.receive(e, parts),
            Event::Verify(n, piece) => self.verify(n, piece),
            Event::RemoteClosed(e) => {
                let end = &self.ends[e];
                if end.open {
                    let (n, key) = (end.node, end.key);
                    let now = self.q.now_instant();
                    self.nodes[n]
                        .state
                        .remove_peer(key, "connection closed by peer", now);
                    self.apply_actions(n);
                }
            }
            Event::Leave(n) => {
                if self.nodes[n].departed_at.is_none() {
                    self.nodes[n].departed_at = Some(self.q.now());
                    let now = self.q.now_instant();
                    self.nodes[n].state.shut_down(now);
                    self.apply_actions(n);
                }
            }
        }
    }

    /// The node announces: the "tracker" gives it up to `numwant` of the
    /// nodes present, at random; its housekeeping starts within a tick.
    fn join(&mut self, n: usize) {
        let now = self.q.now();
        self.nodes[n].joined = true;
        if self.nodes[n].spec.role == Role::Leecher {
            let present: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| {
                    i != n
                        && self.nodes[i].spec.join_at <= now
                        && self.nodes[i].departed_at.is_none()
                })
                .collect();
            let take = self.scenario.numwant.min(present.len());
            let picked = rand::seq::index::sample(&mut self.rng, present.len(), take);
            let at = self.q.now_instant();
            for i in picked.iter() {
                let addr = self.nodes[present[i]].addr;
                self.nodes[n].state.add_candidate(addr, false, at);
            }
        }
        let stagger = self
            .rng
            .gen_range(Duration::ZERO..self.scenario.tick.max(Duration::from_nanos(1)));
        self.q.schedule_in(stagger, Event::Tick(n));
    }

    /// The housekeeping loop's body: tick, make room, dial.
    fn tick(&mut self, n: usize) {
        if !self.nodes[n].active() {
            return;
        }
        let now = self.q.now_instant();
        let (max_peers, max_half_open) = (self.scenario.max_peers, self.scenario.max_half_open);
        let node = &mut self.nodes[n];
        let _dropped = node.state.tick(now);
        node.state.make_room(now, max_peers);
        let open = node.state.peer_count() + node.half_open;
        let room = max_peers.saturating_sub(open);
        let half_open_room = max_half_open.saturating_sub(node.half_open);
        let dial = node.state.take_candidates(now, room.min(half_open_room));
        for addr in dial {
            match node_of(addr, self.nodes.len()) {
                Some(target) => {
                    self.nodes[n].half_open += 1;
                    let rtt = 2 * (self.nodes[n].latency + self.nodes[target].latency);
                    // TCP connect (one round trip), then the handshakes
                    // cross (half of one more).
                    self.q.schedule_in(
                        rtt + rtt / 2,
                        Event::Establish {
                            dialer: n,
                            target,
                            addr,
                        },
                    );
                }
                None => self.nodes[n].state.candidate_done(addr, false, false, now),
            }
        }
        self.apply_actions(n);
        let tick = self.scenario.tick;
        self.q.schedule_in(tick, Event::Tick(n));
    }

    /// Both handshakes are in: the target admits the connection (as the
    /// engine's accept path does), then the dialer.
    fn establish(&mut self, a: usize, b: usize, addr: std::net::SocketAddr) {
        let now = self.q.now_instant();
        self.nodes[a].half_open = self.nodes[a].half_open.saturating_sub(1);
        if !self.nodes[a].active() {
            return;
        }
        if !self.nodes[b].active() {
            self.nodes[a].state.candidate_done(addr, false, false, now);
            return;
        }
        self.next_port = self.next_port.wrapping_add(1);
        let ephemeral =
            std::net::SocketAddr::new(self.nodes[a].addr.ip(), 32768 + self.next_port % 28000);
        let a_id = self.nodes[a].peer_id;
        let kb = self.admit(b, ephemeral, a_id, false);
        let Some(kb) = kb else {
            self.nodes[a].state.candidate_done(addr, false, false, now);
            self.apply_actions(b);
            return;
        };
        let b_id = self.nodes[b].peer_id;
        let Some(ka) = self.admit(a, addr, b_id, true) else {
            self.nodes[a].state.candidate_done(addr, false, false, now);
            self.nodes[b]
                .state
                .remove_peer(kb, "connection closed by peer", now);
            self.apply_actions(a);
            self.apply_actions(b);
            return;
        };
        let (ea, eb) = (self.ends.len(), self.ends.len() + 1);
        let decoder = MessageDecoder::new(Some(self.scenario.piece_count()))
            .with_extensions(self.scenario.fast, self.scenario.extended);
        for (node, key, remote_node, remote_end, outgoing) in
            [(a, ka, b, eb, true), (b, kb, a, ea, false)]
        {
            self.ends.push(End {
                node,
                key,
                remote_node,
                remote_end,
                outgoing,
                dialed: addr,
                decoder: decoder.clone(),
                rx: BytesMut::new(),
                tx: Default::default(),
                in_uplink: false,
                writer: Writer::Idle,
                sent_payload: 0,
                last_delivery: Duration::ZERO,
                open: true,
            });
            self.nodes[node]
                .ends
                .insert(key, if outgoing { ea } else { eb });
        }
        // The writers start with what `start` queued.
        self.wake(ea);
        self.wake(eb);
        self.apply_actions(a);
        self.apply_actions(b);
    }

    /// `register` at node `n`, with the state the engine builds.
    fn admit(
        &mut self,
        n: usize,
        addr: std::net::SocketAddr,
        peer_id: shoal_wire::PeerId,
        outgoing: bool,
    ) -> Option<crate::PeerKey> {
        let now = self.q.now_instant();
        let (fast, extended) = (self.scenario.fast, self.scenario.extended);
        let pieces = self.scenario.piece_count();
        let peer_cfg = self.scenario.peer.clone();
        let max_peers = self.scenario.max_peers;
        let node = &mut self.nodes[n];
        let have = if node.state.super_seeding() {
            Bitfield::new(pieces as usize)
        } else {
            node.state.picker.have().clone()
        };
        let ext = &node.ext;
        let our_id = node.peer_id;
        node.state
            .register(
                addr,
                peer_id,
                outgoing,
                our_id,
                max_peers,
                |key| {
                    let mut s = PeerState::new(key, pieces, fast, extended, peer_cfg, now);
                    s.start(&have, Some(ext), now);
                    s
                },
                now,
            )
            .ok()
    }

    /// Carry out what node `n`'s torrent state asked for, as the engine's
    /// lock guard does: wake writers, close connections.
    pub(super) fn apply_actions(&mut self, n: usize) {
        if !self.nodes[n].state.has_actions() {
            return;
        }
        let actions: Vec<Action> = self.nodes[n].state.drain_actions().collect();
        for action in actions {
            match action {
                Action::Wake(key) => {
                    if let Some(&e) = self.nodes[n].ends.get(&key) {
                        self.wake(e);
                    }
                }
                Action::Close(key) => {
                    if let Some(e) = self.nodes[n].ends.remove(&key) {
                        self.close(e);
                    }
                }
            }
        }
    }

    /// Wake a writer (a no-op if it is busy: it looks again when done).
    pub(super) fn wake(&mut self, e: usize) {
        let end = &mut self.ends[e];
        if end.open && end.writer == Writer::Idle {
            end.writer = Writer::Scheduled;
            self.q.schedule_in(Duration::ZERO, Event::Write(e));
        }
    }

    /// Close a connection at this end; the other end hears of it one
    /// latency later. A dialer reports the candidate as done.
    fn close(&mut self, e: usize) {
        let now = self.q.now_instant();
        let end = &mut self.ends[e];
        if !end.open {
            return;
        }
        end.open = false;
        end.tx.clear();
        end.rx = BytesMut::new();
        let (n, remote, remote_node, outgoing, dialed) = (
            end.node,
            end.remote_end,
            end.remote_node,
            end.outgoing,
            end.dialed,
        );
        if outgoing {
            self.nodes[n].state.candidate_done(dialed, true, false, now);
        }
        let latency = self.latency(n, remote_node);
        self.q.schedule_in(latency, Event::RemoteClosed(remote));
    }

    /// One-way latency between two nodes.
    pub(super) fn latency(&self, a: usize, b: usize) -> Duration {
        self.nodes[a].latency + self.nodes[b].latency
    }

    fn report(self) -> Report {
        let mut nodes: Vec<NodeReport> = self
            .nodes
            .iter()
            .map(|n| NodeReport {
                role: n.spec.role,
                completed_at: n.completed_at,
                from_seeders: n.from_seeders,
                from_leechers: n.from_leechers,
                uploaded: n.uploaded,
                hash_failures: n.hash_failures,
                banned_by: Vec::new(),
                departed_at: n.departed_at,
            })
            .collect();
        for (i, n) in self.nodes.iter().enumerate() {
            let mut banned: Vec<usize> = n
                .state
                .banned()
                .filter_map(|ip| node_of(std::net::SocketAddr::new(*ip, 0), self.nodes.len()))
                .collect();
            banned.sort_unstable();
            for b in banned {
                nodes[b].banned_by.push(i);
            }
        }
        let t = nodes
            .iter()
            .filter(|n| n.role == Role::Leecher)
            .map(|n| n.completed_at)
            .try_fold(Duration::ZERO, |acc, c| c.map(|c| acc.max(c)));
        let pieces = self.scenario.piece_count();
        let probe = PiecePicker::new(
            pieces,
            self.scenario.piece_length,
            self.scenario.total_length,
            PickerConfig::default(),
        );
        let piece_sizes = match probe {
            Ok(p) => (0..pieces).map(|i| p.piece_size(i)).collect(),
            Err(_) => Vec::new(),
        };
        Report {
            t,
            t_star: min_distribution_time(&self.scenario),
            full_copy_at: self.full_copy_at,
            seeder_piece_bytes: self.seeder_piece_bytes,
            piece_sizes,
            total_length: self.scenario.total_length,
            events: self.q.processed(),
            trace_hash: self.trace,
            end: self.q.now(),
            nodes,
        }
    }
}
