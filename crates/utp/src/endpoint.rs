//! Every uTP connection of one UDP socket, sans-I/O: datagrams are routed
//! by (remote address, connection id), SYNs open incoming connections
//! within bounds, packets for unknown connections are answered with a
//! rate-limited `ST_RESET`, and datagrams that are not uTP at all are
//! reported so the caller can hand them to the DHT.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use thiserror::Error;

use crate::config::Config;
use crate::connection::{Connection, State};
use crate::packet::{encode_parts, looks_like_utp, Header, Packet, PacketType};

/// Endpoint settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Settings of every connection.
    pub connection: Config,
    /// Most connections at once (incoming and outgoing).
    pub max_connections: usize,
    /// Most incoming connections whose peer has sent nothing after its SYN.
    pub max_half_open: usize,
    /// Most incoming connections waiting for [`Endpoint::accept`].
    pub accept_backlog: usize,
    /// An incoming connection still half-open after this long is dropped.
    pub half_open_timeout: Duration,
    /// `ST_RESET` answers to strays allowed per second (and burst).
    pub resets_per_second: u32,
    /// Datagram size offered to loopback peers (used when the peer is
    /// Shoal and offers it too; see [`Config::large_packet_size`]).
    pub loopback_packet_size: Option<usize>,
}

impl Default for EndpointConfig {
    fn default() -> EndpointConfig {
        EndpointConfig {
            connection: Config::default(),
            max_connections: 1024,
            max_half_open: 64,
            accept_backlog: 128,
            half_open_timeout: Duration::from_secs(10),
            resets_per_second: 20,
            loopback_packet_size: Some(60 * 1024),
        }
    }
}

/// Names one connection of an [`Endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle(pub u64);

/// What [`Endpoint::handle_datagram`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramEvent {
    /// A uTP packet for a connection (or a SYN that opened one).
    Handled,
    /// A uTP packet for no connection (answered with a reset if allowed).
    Stray,
    /// A SYN refused because the connection limits are reached.
    Refused,
    /// Looked like uTP but did not parse: dropped.
    Invalid,
    /// Not uTP at all (e.g. a DHT message): the caller's to handle.
    NotUtp,
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EndpointError {
    /// [`EndpointConfig::max_connections`] reached.
    #[error("too many uTP connections")]
    TooManyConnections,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// The bytes.
    pub contents: Vec<u8>,
}

#[derive(Debug)]
struct Entry {
    conn: Connection,
    remote: SocketAddr,
    incoming: bool,
    accepted: bool,
    released: bool,
    created: Instant,
    queued: bool,
}

/// The connections of one socket.
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    epoch: Instant,
    rng: StdRng,
    conns: HashMap<u64, Entry>,
    by_key: HashMap<(SocketAddr, u16), u64>,
    next_handle: u64,
    incoming: VecDeque<u64>,
    ready: VecDeque<u64>,
    touched: Vec<u64>,
    resets: VecDeque<Transmit>,
    reset_tokens: f64,
    last_refill: Instant,
}

impl Endpoint {
    /// An endpoint with no connections; `seed` drives connection ids and
    /// initial sequence numbers.
    pub fn new(cfg: EndpointConfig, seed: u64, now: Instant) -> Endpoint {
        Endpoint {
            reset_tokens: f64::from(cfg.resets_per_second),
            cfg,
            epoch: now,
            rng: StdRng::seed_from_u64(seed),
            conns: HashMap::new(),
            by_key: HashMap::new(),
            next_handle: 1,
            incoming: VecDeque::new(),
            ready: VecDeque::new(),
            touched: Vec::new(),
            resets: VecDeque::new(),
            last_refill: now,
        }
    }

    /// Settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    fn connection_config(&self, remote: SocketAddr) -> Config {
        let mut cfg = self.cfg.connection.clone();
        if remote.ip().is_loopback() && cfg.large_packet_size.is_none() {
            cfg.large_packet_size = self.cfg.loopback_packet_size;
        }
        cfg
    }

    /// Connections held (including closed ones not yet forgotten).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Incoming connections whose peer has not spoken since its SYN.
    pub fn half_open_count(&self) -> usize {
        self.conns
            .values()
            .filter(|e| e.incoming && !e.conn.is_confirmed())
            .count()
    }

    fn insert(
        &mut self,
        conn: Connection,
        remote: SocketAddr,
        incoming: bool,
        now: Instant,
    ) -> u64 {
        let h = self.next_handle;
        self.next_handle += 1;
        self.by_key.insert((remote, conn.recv_id()), h);
        self.conns.insert(
            h,
            Entry {
                conn,
                remote,
                incoming,
                accepted: !incoming,
                released: false,
                created: now,
                queued: false,
            },
        );
        self.mark(h);
        h
    }

    fn mark(&mut self, h: u64) {
        if let Some(e) = self.conns.get_mut(&h) {
            if !e.queued {
                e.queued = true;
                self.ready.push_back(h);
            }
        }
        self.touched.push(h);
    }

    /// Open a connection to `remote`; the SYN goes out with the next
    /// [`Endpoint::poll_transmit`].
    pub fn connect(
        &mut self,
        remote: SocketAddr,
        now: Instant,
    ) -> Result<ConnectionHandle, EndpointError> {
        if self.conns.len() >= self.cfg.max_connections {
            return Err(EndpointError::TooManyConnections);
        }
        // Our receive id R and send id R + 1 must both be free for this peer.
        let recv_id = loop {
            let id: u16 = self.rng.gen();
            let taken = |id: u16| self.by_key.contains_key(&(remote, id));
            if !taken(id) && !taken(id.wrapping_add(1)) && !taken(id.wrapping_sub(1)) {
                break id;
            }
        };
        let seq = self.rng.gen();
        let conn = Connection::connect(
            self.connection_config(remote),
            recv_id,
            seq,
            now,
            self.epoch,
        );
        Ok(ConnectionHandle(self.insert(conn, remote, false, now)))
    }

    /// Route one received datagram.
    pub fn handle_datagram(
        &mut self,
        remote: SocketAddr,
        datagram: &[u8],
        now: Instant,
    ) -> DatagramEvent {
        if !looks_like_utp(datagram) {
            return DatagramEvent::NotUtp;
        }
        let Ok(pkt) = Packet::parse(datagram) else {
            return DatagramEvent::Invalid;
        };
        let h = &pkt.header;
        match h.ty {
            PacketType::Syn => {
                let key = (remote, h.conn_id.wrapping_add(1));
                if let Some(&id) = self.by_key.get(&key) {
                    self.deliver(id, &pkt, now);
                    return DatagramEvent::Handled;
                }
                if self.conns.len() >= self.cfg.max_connections
                    || self.incoming.len() >= self.cfg.accept_backlog
                    || self.half_open_count() >= self.cfg.max_half_open
                    || self.by_key.contains_key(&(remote, h.conn_id))
                {
                    tracing::debug!(%remote, "uTP SYN refused: connection limits");
                    return DatagramEvent::Refused;
                }
                let seq = self.rng.gen();
                let cfg = self.connection_config(remote);
                let conn = Connection::accept_offer(cfg, h, pkt.max_datagram, seq, now, self.epoch);
                let id = self.insert(conn, remote, true, now);
                self.incoming.push_back(id);
                DatagramEvent::Handled
            }
            PacketType::Reset => {
                // A reset carries either our receive id or our send id.
                let candidates = [
                    h.conn_id,
                    h.conn_id.wrapping_add(1),
                    h.conn_id.wrapping_sub(1),
                ];
                for (i, rid) in candidates.into_iter().enumerate() {
                    if let Some(&id) = self.by_key.get(&(remote, rid)) {
                        let matches = self
                            .conns
                            .get(&id)
                            .is_some_and(|e| i == 0 || e.conn.send_id() == h.conn_id);
                        if matches {
                            self.deliver(id, &pkt, now);
                            return DatagramEvent::Handled;
                        }
                    }
                }
                DatagramEvent::Stray
            }
            _ => match self.by_key.get(&(remote, h.conn_id)) {
                Some(&id) => {
                    self.deliver(id, &pkt, now);
                    DatagramEvent::Handled
                }
                None => {
                    self.answer_stray(remote, h, now);
                    DatagramEvent::Stray
                }
            },
        }
    }

    fn deliver(&mut self, id: u64, pkt: &Packet<'_>, now: Instant) {
        if let Some(e) = self.conns.get_mut(&id) {
            e.conn.handle_packet(pkt, now);
        }
        self.mark(id);
    }

    fn refill(&mut self, now: Instant) {
        let rate = f64::from(self.cfg.resets_per_second);
        let dt = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.reset_tokens = (self.reset_tokens + dt * rate).min(rate);
        self.last_refill = now;
    }

    fn answer_stray(&mut self, remote: SocketAddr, h: &Header, now: Instant) {
        self.refill(now);
        if self.reset_tokens < 1.0 || self.resets.len() >= 64 {
            return;
        }
        self.reset_tokens -= 1.0;
        let reset = Header {
            ty: PacketType::Reset,
            conn_id: h.conn_id,
            timestamp_us: now.saturating_duration_since(self.epoch).as_micros() as u32,
            timestamp_diff_us: 0,
            wnd_size: 0,
            seq_nr: self.rng.gen(),
            ack_nr: h.seq_nr,
        };
        let mut contents = Vec::with_capacity(20);
        encode_parts(&reset, None, &[], &mut contents);
        self.resets.push_back(Transmit {
            destination: remote,
            contents,
        });
    }

    /// The next incoming connection, with its peer's address.
    pub fn accept(&mut self) -> Option<(ConnectionHandle, SocketAddr)> {
        while let Some(id) = self.incoming.pop_front() {
            if let Some(e) = self.conns.get_mut(&id) {
                e.accepted = true;
                return Some((ConnectionHandle(id), e.remote));
            }
        }
        None
    }

    /// The connection behind `h` (marked as possibly having output: call
    /// [`Endpoint::poll_transmit`] after writing or closing through it).
    pub fn connection(&mut self, h: ConnectionHandle) -> Option<&mut Connection> {
        if self.conns.contains_key(&h.0) {
            self.mark(h.0);
        }
        self.conns.get_mut(&h.0).map(|e| &mut e.conn)
    }

    /// The connection behind `h`, read-only.
    pub fn connection_ref(&self, h: ConnectionHandle) -> Option<&Connection> {
        self.conns.get(&h.0).map(|e| &e.conn)
    }

    /// The peer of `h`.
    pub fn remote(&self, h: ConnectionHandle) -> Option<SocketAddr> {
        self.conns.get(&h.0).map(|e| e.remote)
    }

    /// The application is done with `h`: an open connection is closed
    /// gracefully (FIN after the data already written) and forgotten once
    /// finished.
    pub fn release(&mut self, h: ConnectionHandle, now: Instant) {
        if let Some(e) = self.conns.get_mut(&h.0) {
            e.released = true;
            if !matches!(e.conn.state(), State::Reset | State::Closed) {
                e.conn.close();
            }
            self.mark(h.0);
        }
        self.collect(now);
    }

    /// Connections whose state changed since the last call (to wake tasks
    /// waiting on them). May repeat handles.
    pub fn poll_touched(&mut self) -> Option<ConnectionHandle> {
        self.touched.pop().map(ConnectionHandle)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(t) = self.resets.pop_front() {
            return Some(t);
        }
        while let Some(id) = self.ready.pop_front() {
            let Some(e) = self.conns.get_mut(&id) else {
                continue;
            };
            match e.conn.poll_transmit(now) {
                Some(contents) => {
                    // Round robin: back of the queue, still marked.
                    self.ready.push_back(id);
                    return Some(Transmit {
                        destination: e.remote,
                        contents,
                    });
                }
                None => e.queued = false,
            }
        }
        None
    }

    /// When [`Endpoint::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self
            .conns
            .values()
            .filter_map(|e| {
                let half_open =
                    (e.incoming && !e.conn.is_confirmed() && e.conn.state() != State::Reset)
                        .then(|| e.created + self.cfg.half_open_timeout);
                [e.conn.poll_timeout(), half_open]
                    .into_iter()
                    .flatten()
                    .min()
            })
            .min();
        if !self.ready.is_empty() || !self.resets.is_empty() {
            // Output is pending; the caller should drain it (no timer needed).
            t = t.map(|t| t.min(self.last_refill));
        }
        t
    }

    /// Run timers due at `now`, expire half-open connections and forget
    /// finished ones.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (&id, e) in self.conns.iter_mut() {
            if e.conn.poll_timeout().is_some_and(|t| t <= now) {
                e.conn.handle_timeout(now);
                due.push(id);
            }
            if e.incoming
                && !e.conn.is_confirmed()
                && e.conn.state() != State::Reset
                && now.saturating_duration_since(e.created) >= self.cfg.half_open_timeout
            {
                e.conn.reset();
                due.push(id);
            }
        }
        for id in due {
            self.mark(id);
        }
        self.collect(now);
    }

    fn collect(&mut self, now: Instant) {
        let dead: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, e)| (e.released || !e.accepted) && e.conn.is_drained(now))
            .map(|(&id, _)| id)
            .collect();
        for id in dead {
            if let Some(e) = self.conns.remove(&id) {
                self.by_key.remove(&(e.remote, e.conn.recv_id()));
                self.incoming.retain(|&i| i != id);
            }
        }
    }
}
