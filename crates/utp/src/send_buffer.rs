//! The send side's storage: bytes the application wrote that are not yet
//! packetised ([`SendBuffer`]), and the packets sent but not yet
//! acknowledged, indexed by sequence number ([`InFlight`]).

use std::collections::VecDeque;
use std::time::Instant;

use crate::packet::PacketType;
use crate::seq::seq_distance;

/// Bytes written by the application and not yet put into packets.
#[derive(Debug, Default)]
pub struct SendBuffer {
    bytes: VecDeque<u8>,
}

impl SendBuffer {
    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True if nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Append bytes (the caller enforces the bound).
    pub fn push(&mut self, data: &[u8]) {
        self.bytes.extend(data.iter().copied());
    }

    /// Remove and return the first `n` bytes (or fewer if fewer wait).
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.bytes.len());
        let mut out = Vec::with_capacity(n);
        let (a, b) = self.bytes.as_slices();
        let from_a = n.min(a.len());
        out.extend_from_slice(&a[..from_a]);
        out.extend_from_slice(&b[..n - from_a]);
        self.bytes.drain(..n);
        out
    }
}

/// One sequenced packet we sent (or are about to send).
#[derive(Debug)]
pub struct OutPacket {
    /// SYN, DATA or FIN.
    pub ty: PacketType,
    /// The payload (empty for SYN and FIN).
    pub payload: Vec<u8>,
    /// When it was last sent (`None`: never sent).
    pub sent_at: Option<Instant>,
    /// How many times it was sent.
    pub transmissions: u32,
    /// It must be (re)sent: never sent, or deemed lost.
    pub need_send: bool,
}

impl OutPacket {
    /// True if it counts towards the bytes in flight.
    pub fn counted(&self) -> bool {
        self.sent_at.is_some() && !self.need_send
    }
}

/// Unacknowledged packets from `first` on. A slot is `None` once its
/// packet was selectively acknowledged.
#[derive(Debug)]
pub struct InFlight {
    first: u16,
    slots: VecDeque<Option<OutPacket>>,
    bytes: usize,
    payload_bytes: usize,
    /// Packets with `need_send` set (skips the scan when none).
    pending: usize,
}

impl InFlight {
    /// Empty, the next packet to be pushed having sequence number `first`.
    pub fn new(first: u16) -> InFlight {
        InFlight {
            first,
            slots: VecDeque::new(),
            bytes: 0,
            payload_bytes: 0,
            pending: 0,
        }
    }

    /// Sequence number of the oldest slot.
    pub fn first(&self) -> u16 {
        self.first
    }

    /// Number of slots (acked or not) from `first`.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is unacknowledged.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Payload bytes of packets sent and counted as in flight.
    pub fn bytes_in_flight(&self) -> usize {
        self.bytes
    }

    /// Payload bytes held, sent or not (counted against the send buffer).
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// Append the packet with the next sequence number.
    pub fn push(&mut self, p: OutPacket) {
        self.payload_bytes += p.payload.len();
        if p.counted() {
            self.bytes += p.payload.len();
        }
        if p.need_send {
            self.pending += 1;
        }
        self.slots.push_back(Some(p));
    }

    fn index(&self, seq: u16) -> Option<usize> {
        let i = usize::from(seq_distance(self.first, seq));
        (i < self.slots.len()).then_some(i)
    }

    /// The packet with sequence number `seq`, if still unacknowledged.
    pub fn get(&self, seq: u16) -> Option<&OutPacket> {
        self.index(seq).and_then(|i| self.slots[i].as_ref())
    }

    /// True if `seq` falls inside the current slots.
    pub fn contains(&self, seq: u16) -> bool {
        self.index(seq).is_some()
    }

    /// Remove the packet `seq` (acknowledged), returning it.
    pub fn ack(&mut self, seq: u16) -> Option<OutPacket> {
        let i = self.index(seq)?;
        let p = self.slots[i].take()?;
        self.payload_bytes -= p.payload.len();
        if p.counted() {
            self.bytes -= p.payload.len();
        }
        if p.need_send {
            self.pending -= 1;
        }
        self.trim();
        Some(p)
    }

    fn trim(&mut self) {
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first = self.first.wrapping_add(1);
        }
    }

    /// Mark `seq` as needing a (re)send; true if it changed.
    pub fn mark_lost(&mut self, seq: u16) -> bool {
        let Some(i) = self.index(seq) else {
            return false;
        };
        let Some(p) = self.slots[i].as_mut() else {
            return false;
        };
        if p.need_send {
            return false;
        }
        if p.counted() {
            self.bytes -= p.payload.len();
        }
        p.need_send = true;
        self.pending += 1;
        true
    }

    /// Mark every sent packet as needing a resend (retransmission timeout).
    pub fn mark_all_lost(&mut self) {
        self.pending = 0;
        for p in self.slots.iter_mut().flatten() {
            p.need_send = true;
            self.pending += 1;
        }
        self.bytes = 0;
    }

    /// The oldest packet that needs sending.
    pub fn first_needing_send(&self) -> Option<u16> {
        if self.pending == 0 {
            return None;
        }
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|p| p.need_send))
            .map(|i| self.first.wrapping_add(i as u16))
    }

    /// Record that `seq` was sent at `now`; returns the packet.
    pub fn mark_sent(&mut self, seq: u16, now: Instant) -> Option<&OutPacket> {
        let i = self.index(seq)?;
        let p = self.slots[i].as_mut()?;
        if !p.counted() {
            self.bytes += p.payload.len();
        }
        if p.need_send {
            self.pending -= 1;
        }
        p.sent_at = Some(now);
        p.transmissions += 1;
        p.need_send = false;
        self.slots[i].as_ref()
    }

    /// Sequence numbers of unacked packets sent before `before` that have at
    /// least `threshold` acknowledged packets after them: deemed lost.
    pub fn lost_by_sack(&self, threshold: usize, before: Instant) -> Vec<u16> {
        let mut acked_after = 0;
        let mut lost = Vec::new();
        for (i, slot) in self.slots.iter().enumerate().rev() {
            match slot {
                None => acked_after += 1,
                Some(p) => {
                    if acked_after >= threshold
                        && !p.need_send
                        && p.sent_at.is_some_and(|t| t <= before)
                    {
                        lost.push(self.first.wrapping_add(i as u16));
                    }
                }
            }
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(n: usize) -> OutPacket {
        OutPacket {
            ty: PacketType::Data,
            payload: vec![0; n],
            sent_at: None,
            transmissions: 0,
            need_send: true,
        }
    }

    #[test]
    fn send_buffer_takes_in_order() {
        let mut b = SendBuffer::default();
        b.push(b"hello ");
        b.push(b"world");
        assert_eq!(b.take(3), b"hel");
        assert_eq!(b.take(100), b"lo world");
        assert!(b.is_empty());
    }

    #[test]
    fn in_flight_accounting_across_wrap() {
        let now = Instant::now();
        let mut f = InFlight::new(65534);
        for _ in 0..4 {
            f.push(pkt(100));
        }
        assert_eq!(f.bytes_in_flight(), 0);
        for s in [65534u16, 65535, 0, 1] {
            f.mark_sent(s, now);
        }
        assert_eq!(f.bytes_in_flight(), 400);
        assert!(f.ack(0).is_some());
        assert_eq!(f.first(), 65534);
        assert!(f.ack(65534).is_some());
        assert_eq!(f.first(), 65535);
        assert!(f.mark_lost(65535));
        assert_eq!(f.bytes_in_flight(), 100);
        assert_eq!(f.first_needing_send(), Some(65535));
        f.mark_all_lost();
        assert_eq!(f.first_needing_send(), Some(65535));
        f.mark_sent(65535, now);
        assert_eq!(f.first_needing_send(), Some(1));
        f.mark_sent(1, now);
        assert_eq!(f.first_needing_send(), None);
        assert!(f.mark_lost(65535));
        assert!(f.ack(65535).is_some());
        assert_eq!(f.first(), 1);
        assert_eq!(f.payload_bytes(), 100);
        assert!(f.ack(7).is_none());
    }
}
