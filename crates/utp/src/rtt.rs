//! Round-trip time estimation and the retransmission timeout (RFC 6298
//! smoothing; minimum 500 ms as libtorrent; doubled per consecutive
//! timeout).

use std::time::Duration;

/// Smoothed RTT and its variation.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    min_rto: Duration,
    initial_rto: Duration,
}

/// Upper bound of the retransmission timeout.
pub const MAX_RTO: Duration = Duration::from_secs(60);

impl RttEstimator {
    /// A fresh estimator: `initial_rto` until the first sample, never below
    /// `min_rto`.
    pub fn new(initial_rto: Duration, min_rto: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            min_rto,
            initial_rto,
        }
    }

    /// Feed one RTT sample (from a packet sent once: Karn's rule is the
    /// caller's job).
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let err = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + err) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    /// The smoothed RTT, if measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The retransmission timeout after `backoff` consecutive timeouts.
    pub fn rto(&self, backoff: u32) -> Duration {
        let base = match self.srtt {
            None => self.initial_rto,
            Some(srtt) => (srtt + self.rttvar * 4).max(self.min_rto),
        };
        base.saturating_mul(1u32 << backoff.min(16)).min(MAX_RTO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rto_has_a_floor_and_backs_off() {
        let mut r = RttEstimator::new(Duration::from_secs(1), Duration::from_millis(500));
        assert_eq!(r.rto(0), Duration::from_secs(1));
        r.sample(Duration::from_millis(10));
        assert_eq!(r.rto(0), Duration::from_millis(500));
        assert_eq!(r.rto(2), Duration::from_millis(2000));
        for _ in 0..50 {
            r.sample(Duration::from_millis(400));
        }
        assert!(r.rto(0) > Duration::from_millis(400));
        assert_eq!(r.rto(40), MAX_RTO);
    }
}
