//! The receive side's storage: bytes delivered in order and waiting for the
//! application, and packets that arrived ahead of a gap. Both count against
//! one capacity, which is what the connection advertises as its window.

use std::collections::{HashMap, VecDeque};

use crate::packet::MAX_SACK_BYTES;
use crate::seq::seq_distance;

/// In-order bytes plus out-of-order packets, bounded.
#[derive(Debug)]
pub struct RecvBuffer {
    ready: VecDeque<u8>,
    ooo: HashMap<u16, Vec<u8>>,
    ooo_bytes: usize,
    capacity: usize,
    max_ooo_packets: usize,
}

impl RecvBuffer {
    /// A buffer of `capacity` bytes holding at most `max_ooo_packets`
    /// packets ahead of a gap.
    pub fn new(capacity: usize, max_ooo_packets: usize) -> RecvBuffer {
        RecvBuffer {
            ready: VecDeque::new(),
            ooo: HashMap::new(),
            ooo_bytes: 0,
            capacity,
            max_ooo_packets,
        }
    }

    /// Free space: what the connection advertises as `wnd_size`.
    pub fn free(&self) -> usize {
        self.capacity
            .saturating_sub(self.ready.len() + self.ooo_bytes)
    }

    /// Total capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// In-order bytes waiting to be read.
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Out-of-order packets held.
    pub fn ooo_len(&self) -> usize {
        self.ooo.len()
    }

    /// Append in-order bytes; false (and nothing stored) if they do not fit.
    pub fn push_ready(&mut self, data: &[u8]) -> bool {
        if self.ready.len() + self.ooo_bytes + data.len() > self.capacity {
            return false;
        }
        self.ready.extend(data.iter().copied());
        true
    }

    /// Hold a packet that arrived ahead of a gap; false if it does not fit
    /// (too many held, or no room). A duplicate is accepted and ignored.
    pub fn insert_ooo(&mut self, seq: u16, data: &[u8]) -> bool {
        if self.ooo.contains_key(&seq) {
            return true;
        }
        if self.ooo.len() >= self.max_ooo_packets || data.len() > self.free() {
            return false;
        }
        self.ooo_bytes += data.len();
        self.ooo.insert(seq, data.to_vec());
        true
    }

    /// Take the held packet `seq`, if any, moving it to the in-order bytes.
    pub fn promote(&mut self, seq: u16) -> bool {
        match self.ooo.remove(&seq) {
            Some(data) => {
                self.ooo_bytes -= data.len();
                self.ready.extend(data.iter().copied());
                true
            }
            None => false,
        }
    }

    /// True if packet `seq` is held out of order.
    pub fn has_ooo(&self, seq: u16) -> bool {
        self.ooo.contains_key(&seq)
    }

    /// Copy in-order bytes into `buf`, returning how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.ready.len());
        let (a, b) = self.ready.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        self.ready.drain(..n);
        n
    }

    /// The selective-ack bitmask for held packets past `ack_nr` (bit `i`
    /// is packet `ack_nr + 2 + i`), a multiple of 4 bytes, or `None` if no
    /// packet is held.
    pub fn sack(&self, ack_nr: u16) -> Option<Vec<u8>> {
        if self.ooo.is_empty() {
            return None;
        }
        let start = ack_nr.wrapping_add(2);
        let mut bits = [0u8; MAX_SACK_BYTES];
        let mut last = None;
        for &seq in self.ooo.keys() {
            let d = usize::from(seq_distance(start, seq));
            if d < MAX_SACK_BYTES * 8 {
                bits[d / 8] |= 1 << (d % 8);
                last = Some(last.map_or(d, |l: usize| l.max(d)));
            }
        }
        let last = last?;
        let len = (last / 32 + 1) * 4;
        Some(bits[..len].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_both_kinds() {
        let mut r = RecvBuffer::new(100, 4);
        assert!(r.push_ready(&[1; 30]));
        assert!(r.insert_ooo(9, &[2; 50]));
        assert_eq!(r.free(), 20);
        assert!(!r.push_ready(&[3; 21]));
        assert!(!r.insert_ooo(10, &[3; 21]));
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf), 30);
        assert!(r.promote(9));
        assert_eq!(r.read(&mut buf), 50);
        assert_eq!(r.free(), 100);
    }

    #[test]
    fn sack_bits() {
        let mut r = RecvBuffer::new(1000, 10);
        // ack_nr = 65534: bit 0 is 0, bit 3 is 3, bit 33 is 33.
        r.insert_ooo(0, b"a");
        r.insert_ooo(3, b"b");
        assert_eq!(r.sack(65534), Some(vec![0b1001, 0, 0, 0]));
        r.insert_ooo(33, b"c");
        assert_eq!(r.sack(65534).unwrap(), vec![0b1001, 0, 0, 0, 0b10, 0, 0, 0]);
        assert_eq!(RecvBuffer::new(10, 1).sack(5), None);
    }
}
