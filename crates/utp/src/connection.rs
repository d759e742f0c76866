//! One uTP connection as a sans-I/O state machine (the quinn-proto shape):
//! the caller feeds it packets ([`Connection::handle_packet`]) and timer
//! expiries ([`Connection::handle_timeout`]) with the current time, moves
//! application bytes in and out ([`Connection::write`],
//! [`Connection::read`]), and sends the datagrams it hands out
//! ([`Connection::poll_transmit`]).
//!
//! Connection ids follow BEP 29: the initiator picks `R`, sends the SYN
//! with id `R`, receives on `R` and sends on `R + 1`; the acceptor receives
//! on `R + 1` and sends on `R`.

use std::time::{Duration, Instant};

use thiserror::Error;

use crate::config::Config;
use crate::congestion::Ledbat;
use crate::delay_history::DelayHistory;
use crate::packet::{encode_with, Header, Packet, PacketType, HEADER_LEN};
use crate::recv_buffer::RecvBuffer;
use crate::rtt::RttEstimator;
use crate::send_buffer::{InFlight, OutPacket, SendBuffer};
use crate::seq::{seq_distance, seq_less, seq_less_eq};

/// Duplicate acks (or packets selectively acked past a hole) that mark a
/// packet lost.
pub const DUP_ACK_THRESHOLD: usize = 3;
/// Most packets in flight (far below half the sequence space).
const MAX_PACKETS_IN_FLIGHT: usize = 8192;
/// Delay samples the LEDBAT input is the minimum of (noise filter).
const DELAY_SAMPLES: usize = 3;

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// We sent a SYN and wait for the answer.
    SynSent,
    /// Open both ways (possibly half-closed by the peer's FIN).
    Connected,
    /// We sent our FIN (after all our data); the peer may still send.
    FinSent,
    /// Both directions finished cleanly.
    Closed,
    /// Reset by the peer, by us, or failed (see [`Connection::error`]).
    Reset,
}

/// Why a connection ended abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ConnectionError {
    /// The peer sent `ST_RESET`.
    #[error("connection reset by peer")]
    Reset,
    /// The SYN was never answered.
    #[error("uTP connect timed out")]
    ConnectTimedOut,
    /// A packet went unacknowledged through every retransmission.
    #[error("uTP connection timed out")]
    TimedOut,
    /// Nothing was received for the idle timeout.
    #[error("uTP connection idle for too long")]
    Idle,
    /// We aborted it.
    #[error("connection aborted")]
    Aborted,
}

/// Counters for statistics and tests.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Data packets sent, retransmissions included.
    pub packets_sent: u64,
    /// Retransmitted packets.
    pub retransmits: u64,
    /// Fast retransmissions (duplicate acks or selective-ack holes).
    pub fast_retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Payload bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Payload bytes delivered in order.
    pub bytes_received: u64,
    /// Received packets dropped (no room, too far ahead, after EOF).
    pub dropped: u64,
}

/// A snapshot of the connection's control state.
#[derive(Debug, Clone)]
pub struct Info {
    /// Congestion window, bytes.
    pub cwnd: usize,
    /// True while in slow start.
    pub slow_start: bool,
    /// Payload bytes in flight.
    pub bytes_in_flight: usize,
    /// The peer's advertised window.
    pub peer_window: usize,
    /// Our free receive buffer (the window we advertise).
    pub recv_window: usize,
    /// Smoothed round-trip time.
    pub rtt: Option<Duration>,
    /// The latest queueing-delay estimate (LEDBAT input).
    pub queueing_delay: Duration,
    /// Bytes written and not yet packetised.
    pub unsent: usize,
    /// Datagram size in use.
    pub packet_size: usize,
}

/// A uTP connection.
#[derive(Debug)]
pub struct Connection {
    cfg: Config,
    /// Datagram size in use (`cfg.packet_size`, or the negotiated large size).
    packet_size: usize,
    state: State,
    error: Option<ConnectionError>,
    epoch: Instant,
    recv_id: u16,
    send_id: u16,
    /// Next sequence number to use.
    seq_nr: u16,
    /// Last sequence number received in order.
    ack_nr: u16,
    send_buf: SendBuffer,
    in_flight: InFlight,
    peer_wnd: usize,
    cc: Ledbat,
    rtt: RttEstimator,
    delay_hist: DelayHistory,
    recent_delays: [u32; DELAY_SAMPLES],
    recent_delay_count: usize,
    last_ack_nr: Option<u16>,
    dup_acks: usize,
    /// Packets up to here are covered by the last window cut.
    loss_seq: u16,
    rto_deadline: Option<Instant>,
    backoff: u32,
    zero_window_deadline: Option<Instant>,
    probe_allowed: bool,
    recv_buf: RecvBuffer,
    reply_micro: u32,
    ack_pending: bool,
    last_advertised: usize,
    close_requested: bool,
    fin_seq: Option<u16>,
    fin_acked: bool,
    eof_seq: Option<u16>,
    eof_reached: bool,
    reset_pending: bool,
    confirmed: bool,
    last_recv: Instant,
    last_send: Instant,
    closed_at: Option<Instant>,
    stats: Stats,
}

impl Connection {
    fn new(
        cfg: Config,
        recv_id: u16,
        send_id: u16,
        seq_nr: u16,
        now: Instant,
        epoch: Instant,
    ) -> Connection {
        let payload = cfg.packet_size.saturating_sub(HEADER_LEN).max(1);
        let cc = Ledbat::new(
            2 * payload,
            u32::try_from(cfg.target_delay.as_micros()).unwrap_or(u32::MAX),
            cfg.gain,
            payload,
            cfg.max_cwnd,
        );
        let rtt = RttEstimator::new(cfg.initial_rto, cfg.min_rto);
        let recv_buf = RecvBuffer::new(cfg.recv_buffer, cfg.max_out_of_order);
        let last_advertised = cfg.recv_buffer;
        Connection {
            packet_size: cfg.packet_size,
            state: State::SynSent,
            error: None,
            epoch,
            recv_id,
            send_id,
            seq_nr,
            ack_nr: 0,
            send_buf: SendBuffer::default(),
            in_flight: InFlight::new(seq_nr),
            peer_wnd: cfg.packet_size,
            cc,
            rtt,
            delay_hist: DelayHistory::new(),
            recent_delays: [0; DELAY_SAMPLES],
            recent_delay_count: 0,
            last_ack_nr: None,
            dup_acks: 0,
            loss_seq: seq_nr.wrapping_sub(1),
            rto_deadline: None,
            backoff: 0,
            zero_window_deadline: None,
            probe_allowed: false,
            recv_buf,
            reply_micro: 0,
            ack_pending: false,
            last_advertised,
            close_requested: false,
            fin_seq: None,
            fin_acked: false,
            eof_seq: None,
            eof_reached: false,
            reset_pending: false,
            confirmed: true,
            last_recv: now,
            last_send: now,
            closed_at: None,
            stats: Stats::default(),
            cfg,
        }
    }

    /// Open a connection: we receive on `recv_id` and send on
    /// `recv_id + 1`; `seq_nr` is our random initial sequence number.
    /// `epoch` is the origin of the microsecond timestamps we send. The
    /// SYN is the first thing [`Connection::poll_transmit`] returns.
    pub fn connect(
        cfg: Config,
        recv_id: u16,
        seq_nr: u16,
        now: Instant,
        epoch: Instant,
    ) -> Connection {
        let mut c = Connection::new(cfg, recv_id, recv_id.wrapping_add(1), seq_nr, now, epoch);
        c.in_flight.push(OutPacket {
            ty: PacketType::Syn,
            payload: Vec::new(),
            sent_at: None,
            transmissions: 0,
            need_send: true,
        });
        c.seq_nr = seq_nr.wrapping_add(1);
        c
    }

    /// Accept the connection a SYN opened: we receive on its id + 1 and
    /// send on its id; `seq_nr` is our random initial sequence number. The
    /// answering `ST_STATE` is the first thing
    /// [`Connection::poll_transmit`] returns.
    pub fn accept(
        cfg: Config,
        syn: &Header,
        seq_nr: u16,
        now: Instant,
        epoch: Instant,
    ) -> Connection {
        Connection::accept_offer(cfg, syn, None, seq_nr, now, epoch)
    }

    /// [`Connection::accept`] for a SYN that carried a large-datagram offer
    /// ([`Packet::max_datagram`]).
    pub fn accept_offer(
        cfg: Config,
        syn: &Header,
        offer: Option<u32>,
        seq_nr: u16,
        now: Instant,
        epoch: Instant,
    ) -> Connection {
        let mut c = Connection::new(
            cfg,
            syn.conn_id.wrapping_add(1),
            syn.conn_id,
            seq_nr,
            now,
            epoch,
        );
        c.state = State::Connected;
        c.ack_nr = syn.seq_nr;
        c.peer_wnd = syn.wnd_size as usize;
        c.reply_micro = c.micros(now).wrapping_sub(syn.timestamp_us);
        c.ack_pending = true;
        c.confirmed = false;
        c.negotiate_packet_size(offer);
        c
    }

    /// The id packets to us carry.
    pub fn recv_id(&self) -> u16 {
        self.recv_id
    }

    /// The id our packets carry.
    pub fn send_id(&self) -> u16 {
        self.send_id
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Why the connection failed, if it did.
    pub fn error(&self) -> Option<ConnectionError> {
        self.error
    }

    /// True once the peer sent a packet after its SYN (an accepted
    /// connection stops being half-open).
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// A snapshot of the control state.
    pub fn info(&self) -> Info {
        let n = self.recent_delay_count.min(DELAY_SAMPLES);
        Info {
            cwnd: self.cc.window(),
            slow_start: self.cc.in_slow_start(),
            bytes_in_flight: self.in_flight.bytes_in_flight(),
            peer_window: self.peer_wnd,
            recv_window: self.recv_buf.free(),
            rtt: self.rtt.srtt(),
            queueing_delay: Duration::from_micros(u64::from(
                self.recent_delays[..n].iter().copied().min().unwrap_or(0),
            )),
            unsent: self.send_buf.len(),
            packet_size: self.packet_size,
        }
    }

    /// Congestion window, bytes.
    pub fn cwnd(&self) -> usize {
        self.cc.window()
    }

    /// Smoothed round-trip time, if measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// Payload bytes sent and not yet acknowledged.
    pub fn bytes_in_flight(&self) -> usize {
        self.in_flight.bytes_in_flight()
    }

    /// The peer's advertised receive window.
    pub fn peer_window(&self) -> usize {
        self.peer_wnd
    }

    fn max_payload(&self) -> usize {
        self.packet_size.saturating_sub(HEADER_LEN).max(1)
    }

    /// Datagram size in use (header included).
    pub fn packet_size(&self) -> usize {
        self.packet_size
    }

    /// The peer offered datagrams of up to `theirs` bytes: if we offered
    /// large packets too, use the smaller offer.
    fn negotiate_packet_size(&mut self, theirs: Option<u32>) {
        if let (Some(ours), Some(theirs)) = (self.cfg.large_packet_size, theirs) {
            let size = ours.min(theirs as usize);
            if size > self.packet_size {
                self.packet_size = size;
                self.cc.set_min_window(self.max_payload());
            }
        }
    }

    /// Our offer of large datagrams, sent with the SYN and its answer.
    fn offer(&self, ty: PacketType) -> Option<u32> {
        let handshake = ty == PacketType::Syn || (ty == PacketType::State && !self.confirmed);
        self.cfg
            .large_packet_size
            .filter(|_| handshake)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn micros(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.epoch).as_micros() as u32
    }

    fn is_open_for_writes(&self) -> bool {
        matches!(self.state, State::SynSent | State::Connected) && !self.close_requested
    }

    /// Room left in the send buffer.
    pub fn send_capacity(&self) -> usize {
        if !self.is_open_for_writes() {
            return 0;
        }
        self.cfg
            .send_buffer
            .saturating_sub(self.send_buf.len() + self.in_flight.payload_bytes())
    }

    /// True if [`Connection::write`] would accept bytes, or writing can
    /// never succeed again (closed): either way a blocked writer should
    /// look again.
    pub fn is_writable(&self) -> bool {
        self.send_capacity() > 0 || !self.is_open_for_writes()
    }

    /// Queue application bytes; returns how many fit in the send buffer
    /// (0 when full or closed for writing).
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.send_capacity());
        self.send_buf.push(&data[..n]);
        n
    }

    /// Copy received in-order bytes into `buf`. 0 with
    /// [`Connection::is_eof`] false means nothing yet.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.recv_buf.read(buf);
        if n > 0 {
            let free = self.recv_buf.free();
            let half = self.recv_buf.capacity() / 2;
            // Tell a sender stalled by our window that it opened again.
            if self.last_advertised < half.max(self.max_payload()) && free >= half {
                self.ack_pending = true;
            }
        }
        n
    }

    /// True if an acknowledgement (or window update) is waiting to be sent.
    pub fn has_pending_ack(&self) -> bool {
        self.ack_pending
    }

    /// True once [`Connection::close`] was called (or the connection ended).
    pub fn is_write_closed(&self) -> bool {
        !self.is_open_for_writes()
    }

    /// Bytes waiting to be read.
    pub fn readable_bytes(&self) -> usize {
        self.recv_buf.ready_len()
    }

    /// True once the peer's FIN arrived and every byte before it was read.
    pub fn is_eof(&self) -> bool {
        self.eof_reached && self.recv_buf.ready_len() == 0
    }

    /// True when reading can make progress or never will: data waiting,
    /// end of stream, or the connection failed.
    pub fn is_readable(&self) -> bool {
        self.recv_buf.ready_len() > 0 || self.eof_reached || self.state == State::Reset
    }

    /// Finish our direction: the FIN follows the data already written.
    pub fn close(&mut self) {
        self.close_requested = true;
    }

    /// Abort: send `ST_RESET` and drop everything.
    pub fn reset(&mut self) {
        if !matches!(self.state, State::Reset | State::Closed) {
            self.reset_pending = true;
            self.fail(ConnectionError::Aborted);
        }
    }

    fn fail(&mut self, err: ConnectionError) {
        self.state = State::Reset;
        self.error.get_or_insert(err);
        self.rto_deadline = None;
        self.zero_window_deadline = None;
    }

    /// True when the connection is finished and has nothing left to send:
    /// it may be forgotten (a closed one after lingering to re-ack FINs).
    pub fn is_drained(&self, now: Instant) -> bool {
        match self.state {
            State::Reset => !self.reset_pending,
            State::Closed => self
                .closed_at
                .is_some_and(|t| now.saturating_duration_since(t) >= self.cfg.linger),
            _ => false,
        }
    }

    // ---------------------------------------------------------------
    // Incoming packets
    // ---------------------------------------------------------------

    /// Process a packet addressed to this connection.
    pub fn handle_packet(&mut self, pkt: &Packet<'_>, now: Instant) {
        let h = &pkt.header;
        if self.state == State::Reset {
            return;
        }
        if h.ty == PacketType::Reset {
            self.fail(ConnectionError::Reset);
            return;
        }
        self.last_recv = now;
        self.reply_micro = self.micros(now).wrapping_sub(h.timestamp_us);
        if h.ty == PacketType::Syn {
            // A duplicate SYN: our answer was lost.
            if self.ack_nr == h.seq_nr && !self.confirmed {
                self.ack_pending = true;
            }
            return;
        }
        self.confirmed = true;
        if self.state == State::SynSent {
            // The answer to our SYN: an ST_STATE whose seq_nr is the peer's
            // next sequence number, or (its ST_STATE lost, or the peer
            // closing at once) a DATA or FIN carrying that number.
            self.ack_nr = h.seq_nr.wrapping_sub(1);
            self.state = State::Connected;
            self.negotiate_packet_size(pkt.max_datagram);
        }
        // An ack of something we never sent: drop the packet.
        let last_sent = self.seq_nr.wrapping_sub(1);
        if seq_less(last_sent, h.ack_nr) {
            self.stats.dropped += 1;
            return;
        }
        self.peer_wnd = h.wnd_size as usize;
        if self.peer_wnd >= self.max_payload() {
            self.zero_window_deadline = None;
        }
        self.process_acks(pkt, now);
        if h.ty == PacketType::Data || h.ty == PacketType::Fin {
            self.process_sequenced(h, pkt.payload);
        }
        self.check_closed(now);
    }

    fn process_acks(&mut self, pkt: &Packet<'_>, now: Instant) {
        let h = &pkt.header;
        let in_flight_before = self.in_flight.bytes_in_flight();
        let mut acked_bytes = 0usize;
        let mut newest_acked_sent: Option<Instant> = None;
        let mut acked_any = false;
        let mut on_acked = |p: OutPacket, this: &mut Connection| {
            acked_any = true;
            if p.sent_at.is_some() {
                acked_bytes += p.payload.len();
            }
            if let Some(t) = p.sent_at {
                if p.transmissions == 1 {
                    this.rtt.sample(now.saturating_duration_since(t));
                }
                newest_acked_sent = Some(newest_acked_sent.map_or(t, |n: Instant| n.max(t)));
            }
        };
        // Cumulative ack.
        while !self.in_flight.is_empty() && seq_less_eq(self.in_flight.first(), h.ack_nr) {
            let seq = self.in_flight.first();
            match self.in_flight.ack(seq) {
                Some(p) => {
                    if p.ty == PacketType::Fin {
                        self.fin_acked = true;
                    }
                    on_acked(p, self)
                }
                None => break,
            }
        }
        // Selective ack.
        if let Some(mask) = pkt.sack {
            let base = h.ack_nr.wrapping_add(2);
            for (byte_i, byte) in mask.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (1 << bit) != 0 {
                        let seq = base.wrapping_add((byte_i * 8 + bit) as u16);
                        if let Some(p) = self.in_flight.ack(seq) {
                            if p.ty == PacketType::Fin {
                                self.fin_acked = true;
                            }
                            on_acked(p, self);
                        }
                    }
                }
            }
        }
        self.stats.bytes_acked += acked_bytes as u64;

        // Duplicate acks.
        let dup = h.ty == PacketType::State
            && !acked_any
            && self.last_ack_nr == Some(h.ack_nr)
            && !self.in_flight.is_empty()
            && self.in_flight.first() == h.ack_nr.wrapping_add(1);
        if acked_any && self.last_ack_nr != Some(h.ack_nr) {
            self.dup_acks = 0;
        }
        self.last_ack_nr = Some(h.ack_nr);
        let mut lost = Vec::new();
        if dup {
            self.dup_acks += 1;
            if self.dup_acks == DUP_ACK_THRESHOLD {
                lost.push(h.ack_nr.wrapping_add(1));
            }
        }
        if let Some(t) = newest_acked_sent {
            if pkt.sack.is_some() {
                lost.extend(self.in_flight.lost_by_sack(DUP_ACK_THRESHOLD, t));
            }
        }
        let mut cut = false;
        for seq in lost {
            if self.in_flight.mark_lost(seq) {
                self.stats.fast_retransmits += 1;
                if seq_less(self.loss_seq, seq) {
                    cut = true;
                }
            }
        }
        if cut {
            self.cc.on_loss();
            self.loss_seq = self.seq_nr.wrapping_sub(1);
        }

        // Delay-based window update.
        if acked_bytes > 0 {
            let delay = if h.timestamp_diff_us != 0 {
                let queued = self.delay_hist.add_sample(h.timestamp_diff_us, now);
                self.recent_delays[self.recent_delay_count % DELAY_SAMPLES] = queued;
                self.recent_delay_count += 1;
                let n = self.recent_delay_count.min(DELAY_SAMPLES);
                self.recent_delays[..n].iter().copied().min().unwrap_or(0)
            } else {
                0
            };
            let saturated = in_flight_before + self.max_payload() > self.cc.window();
            self.cc.on_ack(acked_bytes, delay, saturated);
        }
        if acked_any {
            self.backoff = 0;
            self.rto_deadline = if self.in_flight.bytes_in_flight() > 0 {
                Some(now + self.rtt.rto(0))
            } else {
                None
            };
        }
    }

    fn process_sequenced(&mut self, h: &Header, payload: &[u8]) {
        self.ack_pending = true;
        let seq = h.seq_nr;
        if seq_less_eq(seq, self.ack_nr) {
            return; // duplicate: re-ack
        }
        if let Some(eof) = self.eof_seq {
            if seq_less(eof, seq) {
                self.stats.dropped += 1;
                return;
            }
        }
        if usize::from(seq_distance(self.ack_nr, seq)) > self.cfg.max_out_of_order {
            self.stats.dropped += 1;
            return;
        }
        if h.ty == PacketType::Fin && self.eof_seq.is_none() {
            self.eof_seq = Some(seq);
        }
        if seq == self.ack_nr.wrapping_add(1) {
            if h.ty == PacketType::Data {
                if !self.recv_buf.push_ready(payload) {
                    self.stats.dropped += 1;
                    return;
                }
                self.stats.bytes_received += payload.len() as u64;
            }
            self.ack_nr = seq;
            loop {
                if self.eof_seq == Some(self.ack_nr) {
                    self.eof_reached = true;
                    break;
                }
                let next = self.ack_nr.wrapping_add(1);
                if self.eof_seq == Some(next) {
                    self.ack_nr = next;
                    continue;
                }
                if !self.recv_buf.promote(next) {
                    break;
                }
                self.ack_nr = next;
            }
        } else if h.ty == PacketType::Data && !self.recv_buf.insert_ooo(seq, payload) {
            self.stats.dropped += 1;
        }
    }

    fn check_closed(&mut self, now: Instant) {
        if self.state == State::FinSent && self.fin_acked && self.eof_reached {
            self.state = State::Closed;
            self.closed_at = Some(now);
            self.rto_deadline = None;
        }
    }

    // ---------------------------------------------------------------
    // Timers
    // ---------------------------------------------------------------

    /// When [`Connection::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Reset => return None,
            State::Closed => return self.closed_at.map(|t| t + self.cfg.linger),
            _ => {}
        }
        let mut deadlines = [self.rto_deadline, self.zero_window_deadline, None, None];
        if self.in_flight.is_empty() {
            deadlines[2] = Some(self.last_recv + self.cfg.idle_timeout);
        }
        if self.state != State::SynSent {
            deadlines[3] = Some(self.last_send + self.cfg.keepalive);
        }
        deadlines.into_iter().flatten().min()
    }

    /// Run the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Reset | State::Closed) {
            return;
        }
        // While something is unacknowledged the retransmission limit
        // decides; the idle timeout is for a silent, quiet connection.
        if self.in_flight.is_empty()
            && now.saturating_duration_since(self.last_recv) >= self.cfg.idle_timeout
        {
            let err = if self.state == State::SynSent {
                ConnectionError::ConnectTimedOut
            } else {
                ConnectionError::Idle
            };
            self.fail(err);
            return;
        }
        if self.rto_deadline.is_some_and(|d| now >= d) {
            self.backoff += 1;
            self.stats.timeouts += 1;
            let limit = if self.state == State::SynSent {
                self.cfg.syn_retries
            } else {
                self.cfg.max_retransmissions
            };
            if self.backoff > limit {
                let err = if self.state == State::SynSent {
                    ConnectionError::ConnectTimedOut
                } else {
                    ConnectionError::TimedOut
                };
                self.fail(err);
                return;
            }
            if self.state != State::SynSent {
                self.cc.on_timeout();
                self.loss_seq = self.seq_nr.wrapping_sub(1);
            }
            self.in_flight.mark_all_lost();
            self.dup_acks = 0;
            self.rto_deadline = Some(now + self.rtt.rto(self.backoff));
        }
        if self.zero_window_deadline.is_some_and(|d| now >= d) {
            self.zero_window_deadline = None;
            self.probe_allowed = true;
        }
        if self.state != State::SynSent
            && now.saturating_duration_since(self.last_send) >= self.cfg.keepalive
        {
            self.ack_pending = true;
        }
    }

    // ---------------------------------------------------------------
    // Outgoing packets
    // ---------------------------------------------------------------

    fn header(&mut self, ty: PacketType, seq_nr: u16, now: Instant) -> Header {
        let wnd = self.recv_buf.free();
        self.last_advertised = wnd;
        Header {
            ty,
            conn_id: if ty == PacketType::Syn {
                self.recv_id
            } else {
                self.send_id
            },
            timestamp_us: self.micros(now),
            timestamp_diff_us: self.reply_micro,
            wnd_size: u32::try_from(wnd).unwrap_or(u32::MAX),
            seq_nr,
            ack_nr: if ty == PacketType::Syn {
                0
            } else {
                self.ack_nr
            },
        }
    }

    fn build(&mut self, ty: PacketType, seq_nr: u16, payload: &[u8], now: Instant) -> Vec<u8> {
        let offer = self.offer(ty);
        let (header, sack) = self.prepare(ty, seq_nr, now);
        let mut out = Vec::new();
        encode_with(&header, sack.as_deref(), offer, payload, &mut out);
        out
    }

    /// The header (and selective ack) of a packet about to be sent, and the
    /// bookkeeping of sending it (an ack goes with every packet).
    fn prepare(&mut self, ty: PacketType, seq_nr: u16, now: Instant) -> (Header, Option<Vec<u8>>) {
        let header = self.header(ty, seq_nr, now);
        let sack = if ty == PacketType::Syn || ty == PacketType::Reset {
            None
        } else {
            self.recv_buf.sack(self.ack_nr)
        };
        self.ack_pending = false;
        self.last_send = now;
        (header, sack)
    }

    fn send_window(&self) -> usize {
        self.cc.window().min(self.peer_wnd)
    }

    fn send_sequenced(&mut self, seq: u16, now: Instant) -> Option<Vec<u8>> {
        let p = self.in_flight.mark_sent(seq, now)?;
        let (ty, retransmit) = (p.ty, p.transmissions > 1);
        if ty == PacketType::Data {
            self.stats.packets_sent += 1;
            if retransmit {
                self.stats.retransmits += 1;
            }
        }
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rtt.rto(self.backoff));
        }
        let offer = self.offer(ty);
        let (header, sack) = self.prepare(ty, seq, now);
        let payload = self.in_flight.get(seq).map_or(&[][..], |p| &p.payload[..]);
        let mut out = Vec::new();
        encode_with(&header, sack.as_deref(), offer, payload, &mut out);
        Some(out)
    }

    /// The next datagram to send, if any. Call until `None` after anything
    /// that may have produced output (a packet, a write, a timeout).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.state {
            State::Reset => {
                if self.reset_pending {
                    self.reset_pending = false;
                    let seq = self.seq_nr;
                    return Some(self.build(PacketType::Reset, seq, &[], now));
                }
                return None;
            }
            State::Closed => {
                if self.ack_pending {
                    let seq = self.seq_nr;
                    return Some(self.build(PacketType::State, seq, &[], now));
                }
                return None;
            }
            _ => {}
        }
        // Retransmissions (and the first SYN) come first.
        if let Some(seq) = self.in_flight.first_needing_send() {
            let len = self.in_flight.get(seq).map_or(0, |p| p.payload.len());
            let oldest = seq == self.in_flight.first();
            if oldest || self.in_flight.bytes_in_flight() + len <= self.send_window() {
                return self.send_sequenced(seq, now);
            }
        }
        if self.state == State::SynSent {
            return None;
        }
        if let Some(d) = self.new_data_packet(now) {
            return Some(d);
        }
        if self.close_requested
            && self.fin_seq.is_none()
            && self.send_buf.is_empty()
            && self.in_flight.len() < MAX_PACKETS_IN_FLIGHT
        {
            let seq = self.seq_nr;
            self.seq_nr = seq.wrapping_add(1);
            self.fin_seq = Some(seq);
            self.state = State::FinSent;
            self.in_flight.push(OutPacket {
                ty: PacketType::Fin,
                payload: Vec::new(),
                sent_at: None,
                transmissions: 0,
                need_send: true,
            });
            return self.send_sequenced(seq, now);
        }
        if self.ack_pending {
            let seq = self.seq_nr;
            return Some(self.build(PacketType::State, seq, &[], now));
        }
        None
    }

    fn new_data_packet(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.send_buf.is_empty()
            || self.fin_seq.is_some()
            || self.in_flight.len() >= MAX_PACKETS_IN_FLIGHT
        {
            return None;
        }
        let in_flight = self.in_flight.bytes_in_flight();
        let mut n = self.max_payload().min(self.send_buf.len());
        let window = self.send_window();
        if in_flight + n > window {
            if in_flight > 0 {
                return None;
            }
            // Nothing in flight: the peer's window is what limits us.
            if self.peer_wnd == 0 || self.peer_wnd < n.min(self.max_payload()) / 4 {
                if self.probe_allowed {
                    self.probe_allowed = false;
                } else {
                    if self.zero_window_deadline.is_none() {
                        self.zero_window_deadline = Some(now + self.rtt.rto(0));
                    }
                    return None;
                }
            } else {
                n = n.min(window);
            }
        }
        // Nagle: no short packet while data is in flight (unless closing).
        if self.cfg.nagle && n < self.max_payload() && in_flight > 0 && !self.close_requested {
            return None;
        }
        let payload = self.send_buf.take(n);
        let seq = self.seq_nr;
        self.seq_nr = seq.wrapping_add(1);
        self.in_flight.push(OutPacket {
            ty: PacketType::Data,
            payload,
            sent_at: None,
            transmissions: 0,
            need_send: true,
        });
        self.send_sequenced(seq, now)
    }
}
