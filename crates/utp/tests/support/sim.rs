//! A deterministic simulated network for two sans-I/O connections: a
//! virtual clock, per-direction links with delay, loss, duplication,
//! reordering and an optional rate-limited bottleneck queue.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_utp::packet::{Packet, PacketType};
use shoal_utp::{Config, Connection};

/// One direction of the link.
#[derive(Debug, Clone)]
pub struct Link {
    /// Propagation delay.
    pub delay: Duration,
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub dup: f64,
    /// Probability a datagram gets extra random delay (up to `jitter`).
    pub reorder: f64,
    /// Most extra delay of a reordered datagram.
    pub jitter: Duration,
    /// Bottleneck rate in bytes per second (`None`: unlimited).
    pub rate: Option<f64>,
    /// Bottleneck queue capacity in bytes (tail drop).
    pub queue: usize,
    busy_until: Option<Instant>,
    /// Queueing delay seen by each datagram that went through the bottleneck.
    pub queue_delays: Vec<(Instant, Duration)>,
    /// If set, drop datagrams this returns true for.
    pub drop_if: Option<fn(&Packet<'_>) -> bool>,
}

impl Link {
    /// A clean link with the given delay.
    pub fn new(delay: Duration) -> Link {
        Link {
            delay,
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            jitter: Duration::ZERO,
            rate: None,
            queue: usize::MAX,
            busy_until: None,
            queue_delays: Vec::new(),
            drop_if: None,
        }
    }
}

/// Which end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// The initiator.
    A,
    /// The acceptor.
    B,
}

/// A datagram on its way: arrival time, tie-breaker, destination, bytes.
type InTransit = (Instant, u64, Side, Vec<u8>);

/// Two connections and the links between them.
pub struct Sim {
    pub now: Instant,
    pub t0: Instant,
    pub a: Connection,
    pub b: Option<Connection>,
    pub ab: Link,
    pub ba: Link,
    pub cfg_b: Config,
    queue: BinaryHeap<Reverse<InTransit>>,
    counter: u64,
    rng: StdRng,
    /// Datagrams handed to the links, per direction.
    pub sent_ab: u64,
    pub sent_ba: u64,
}

impl Sim {
    /// A connects to B (created when the SYN arrives).
    pub fn new(cfg_a: Config, cfg_b: Config, ab: Link, ba: Link, seed: u64, a_seq: u16) -> Sim {
        let t0 = Instant::now();
        let a = Connection::connect(cfg_a, 1000, a_seq, t0, t0);
        Sim {
            now: t0,
            t0,
            a,
            b: None,
            ab,
            ba,
            cfg_b,
            queue: BinaryHeap::new(),
            counter: 0,
            rng: StdRng::seed_from_u64(seed),
            sent_ab: 0,
            sent_ba: 0,
        }
    }

    /// The acceptor (panics before the SYN arrived).
    pub fn b(&mut self) -> &mut Connection {
        self.b.as_mut().expect("B exists")
    }

    fn enqueue(&mut self, to: Side, d: Vec<u8>) {
        let now = self.now;
        let link = if to == Side::B {
            &mut self.ab
        } else {
            &mut self.ba
        };
        if to == Side::B {
            self.sent_ab += 1;
        } else {
            self.sent_ba += 1;
        }
        if let Some(f) = link.drop_if {
            if let Ok(p) = Packet::parse(&d) {
                if f(&p) {
                    return;
                }
            }
        }
        if self.rng.gen_bool(link.loss) {
            return;
        }
        let mut at = now;
        if let Some(rate) = link.rate {
            let start = link.busy_until.map_or(now, |b| b.max(now));
            let waiting = start.saturating_duration_since(now);
            if waiting.as_secs_f64() * rate > link.queue as f64 {
                return; // tail drop
            }
            link.queue_delays.push((now, waiting));
            let done = start + Duration::from_secs_f64(d.len() as f64 / rate);
            link.busy_until = Some(done);
            at = done;
        }
        at += link.delay;
        if self.rng.gen_bool(link.reorder) {
            at += link.jitter.mul_f64(self.rng.gen::<f64>());
        }
        let dup = self.rng.gen_bool(link.dup);
        self.counter += 1;
        if dup {
            self.queue.push(Reverse((
                at + Duration::from_micros(300),
                self.counter,
                to,
                d.clone(),
            )));
            self.counter += 1;
        }
        self.queue.push(Reverse((at, self.counter, to, d)));
    }

    /// Move every datagram the connections want to send onto the links.
    pub fn flush(&mut self) {
        let now = self.now;
        while let Some(d) = self.a.poll_transmit(now) {
            self.enqueue(Side::B, d);
        }
        while let Some(d) = self.b.as_mut().and_then(|b| b.poll_transmit(now)) {
            self.enqueue(Side::A, d);
        }
    }

    fn deliver(&mut self, to: Side, d: &[u8]) {
        let Ok(p) = Packet::parse(d) else { return };
        let now = self.now;
        match to {
            Side::A => self.a.handle_packet(&p, now),
            Side::B => match self.b.as_mut() {
                Some(b) => b.handle_packet(&p, now),
                None if p.header.ty == PacketType::Syn => {
                    self.b = Some(Connection::accept(
                        self.cfg_b.clone(),
                        &p.header,
                        40_000,
                        now,
                        self.t0,
                    ));
                }
                None => {}
            },
        }
    }

    /// Advance to the next event (a delivery or a timer) no later than
    /// `limit`, process it, and flush. Returns false if nothing is pending
    /// before `limit` (the clock then jumps to `limit`).
    pub fn step(&mut self, limit: Instant) -> bool {
        self.flush();
        let mut next = limit;
        if let Some(Reverse((t, ..))) = self.queue.peek() {
            next = next.min(*t);
        }
        if let Some(t) = self.a.poll_timeout() {
            next = next.min(t);
        }
        if let Some(t) = self.b.as_ref().and_then(|b| b.poll_timeout()) {
            next = next.min(t);
        }
        self.now = self.now.max(next);
        let now = self.now;
        let mut did = false;
        while let Some(Reverse((t, ..))) = self.queue.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((_, _, to, d))) = self.queue.pop() else {
                break;
            };
            self.deliver(to, &d);
            did = true;
        }
        if self.a.poll_timeout().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now);
            did = true;
        }
        if let Some(b) = self.b.as_mut() {
            if b.poll_timeout().is_some_and(|t| t <= now) {
                b.handle_timeout(now);
                did = true;
            }
        }
        self.flush();
        did || now < limit
    }

    /// Step until `done` holds or `max` of virtual time passes; returns
    /// whether `done` held.
    pub fn run_until(&mut self, max: Duration, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        let limit = self.now + max;
        while self.now < limit {
            if done(self) {
                return true;
            }
            let step_limit = (self.now + Duration::from_millis(5)).min(limit);
            self.step(step_limit);
        }
        done(self)
    }
}

/// Deterministic pseudo-random test data.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

/// Transfer state for one direction: what is left to write and what was
/// read so far.
pub struct Transfer {
    pub data: Vec<u8>,
    pub written: usize,
    pub received: Vec<u8>,
}

impl Transfer {
    /// A transfer of `data`.
    pub fn new(data: Vec<u8>) -> Transfer {
        Transfer {
            data,
            written: 0,
            received: Vec::new(),
        }
    }

    /// Write what fits into `from` (closing it once everything is written
    /// if `close`), read what `to` has.
    pub fn pump(&mut self, from: &mut Connection, to: &mut Connection, close: bool) {
        if self.written < self.data.len() {
            self.written += from.write(&self.data[self.written..]);
            if self.written == self.data.len() && close {
                from.close();
            }
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = to.read(&mut buf);
            if n == 0 {
                break;
            }
            self.received.extend_from_slice(&buf[..n]);
        }
    }

    /// True when every byte arrived.
    pub fn complete(&self) -> bool {
        self.received.len() == self.data.len()
    }
}
