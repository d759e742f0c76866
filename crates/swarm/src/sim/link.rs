//! The network model: each node's uplink serialises what its connections
//! send (round-robin between connections, a chunk at a time, as TCP
//! streams sharing one bottleneck would), each pair of nodes is a fixed
//! one-way latency apart, and a node's optional downlink serialises what
//! arrives. Loss is modelled as a TCP retransmission: a lost chunk arrives
//! one retransmission timeout late, and holds back the rest of its stream.

use std::collections::VecDeque;
use std::time::Duration;

use rand::Rng;

/// How long `bytes` take at `rate` bytes/s (a zero rate is treated as
/// 1 byte/s rather than dividing by zero).
pub fn transmit_time(bytes: usize, rate: u64) -> Duration {
    let nanos = (bytes as u128 * 1_000_000_000) / u128::from(rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A node's upload link: which connections have bytes waiting, served in
/// turn.
#[derive(Debug)]
pub struct Uplink {
    /// Bytes per second.
    pub rate: u64,
    /// Connections (end ids) with bytes waiting, in service order.
    waiting: VecDeque<usize>,
    /// A chunk is being transmitted.
    pub busy: bool,
}

impl Uplink {
    /// An idle uplink of `rate` bytes/s.
    pub fn new(rate: u64) -> Uplink {
        Uplink {
            rate,
            waiting: VecDeque::new(),
            busy: false,
        }
    }

    /// Connection `end` has bytes to send (call once per burst: the caller
    /// tracks whether it is already waiting).
    pub fn enqueue(&mut self, end: usize) {
        self.waiting.push_back(end);
    }

    /// The next connection to serve.
    pub fn next_waiting(&mut self) -> Option<usize> {
        self.waiting.pop_front()
    }

    /// Connections waiting.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

/// A node's download link, first come first served.
#[derive(Debug, Clone, Copy)]
pub struct Downlink {
    /// Bytes per second; `None`: unlimited.
    pub rate: Option<u64>,
    /// When the bytes already accepted will have arrived.
    busy_until: Duration,
}

impl Downlink {
    /// A downlink of `rate` bytes/s (`None`: unlimited).
    pub fn new(rate: Option<u64>) -> Downlink {
        Downlink {
            rate,
            busy_until: Duration::ZERO,
        }
    }

    /// `bytes` reach the downlink at `at`: when they are through it.
    pub fn accept(&mut self, at: Duration, bytes: usize) -> Duration {
        match self.rate {
            None => at,
            Some(rate) => {
                let done = self.busy_until.max(at) + transmit_time(bytes, rate);
                self.busy_until = done;
                done
            }
        }
    }
}

/// Random loss, seen by a TCP stream as delay.
#[derive(Debug, Clone, Copy)]
pub struct Loss {
    /// Probability that a chunk is lost once (0 disables loss).
    pub probability: f64,
    /// Extra delay of a lost chunk (a retransmission timeout).
    pub retransmit: Duration,
}

impl Default for Loss {
    fn default() -> Self {
        Loss {
            probability: 0.0,
            retransmit: Duration::from_millis(200),
        }
    }
}

impl Loss {
    /// Extra delay for one chunk.
    pub fn delay(&self, rng: &mut impl Rng) -> Duration {
        if self.probability > 0.0 && rng.gen_bool(self.probability.min(1.0)) {
            self.retransmit
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_time_is_bytes_over_rate() {
        assert_eq!(transmit_time(1 << 20, 1 << 20), Duration::from_secs(1));
        assert_eq!(transmit_time(512, 1024), Duration::from_millis(500));
    }

    #[test]
    fn a_downlink_queues_what_arrives_faster_than_its_rate() {
        let mut d = Downlink::new(Some(1000));
        assert_eq!(d.accept(Duration::ZERO, 500), Duration::from_millis(500));
        // Arrives while the first is still coming in: waits its turn.
        assert_eq!(
            d.accept(Duration::from_millis(100), 500),
            Duration::from_millis(1000)
        );
        let mut open = Downlink::new(None);
        assert_eq!(
            open.accept(Duration::from_secs(3), 1 << 30),
            Duration::from_secs(3)
        );
    }
}
