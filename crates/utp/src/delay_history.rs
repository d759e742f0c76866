//! Base-delay history for LEDBAT: the minimum one-way delay sample seen in
//! each of the last few 2-minute buckets (as libtorrent keeps it), so the
//! base follows clock drift and route changes instead of sticking to one
//! ancient minimum.
//!
//! Samples are 32-bit microsecond differences of two unsynchronised clocks,
//! so they carry an arbitrary offset and wrap; comparisons are wrap-aware.

use std::time::{Duration, Instant};

use crate::seq::ts_less;

/// Length of one history bucket.
pub const BUCKET: Duration = Duration::from_secs(120);
/// Number of buckets kept (20 minutes of history).
pub const BUCKETS: usize = 10;

/// The minimum delay per bucket, and the base delay over all of them.
#[derive(Debug, Clone)]
pub struct DelayHistory {
    buckets: [u32; BUCKETS],
    filled: usize,
    index: usize,
    bucket_start: Option<Instant>,
    base: u32,
}

impl Default for DelayHistory {
    fn default() -> Self {
        DelayHistory::new()
    }
}

impl DelayHistory {
    /// An empty history.
    pub fn new() -> DelayHistory {
        DelayHistory {
            buckets: [0; BUCKETS],
            filled: 0,
            index: 0,
            bucket_start: None,
            base: 0,
        }
    }

    /// The current base delay (raw sample units), if any sample was added.
    pub fn base(&self) -> Option<u32> {
        (self.filled > 0).then_some(self.base)
    }

    /// Add a raw sample taken at `now` and return the delay above the base
    /// (the queueing delay estimate), in microseconds.
    pub fn add_sample(&mut self, sample: u32, now: Instant) -> u32 {
        match self.bucket_start {
            None => {
                self.bucket_start = Some(now);
                self.buckets[0] = sample;
                self.filled = 1;
                self.index = 0;
                self.base = sample;
            }
            Some(start) => {
                if now.saturating_duration_since(start) >= BUCKET {
                    self.bucket_start = Some(now);
                    self.index = (self.index + 1) % BUCKETS;
                    self.buckets[self.index] = sample;
                    self.filled = (self.filled + 1).min(BUCKETS);
                    self.recompute_base();
                } else if ts_less(sample, self.buckets[self.index]) {
                    self.buckets[self.index] = sample;
                }
                if ts_less(sample, self.base) {
                    self.base = sample;
                }
            }
        }
        sample.wrapping_sub(self.base)
    }

    fn recompute_base(&mut self) {
        let mut base = self.buckets[self.index];
        for i in 0..self.filled {
            if ts_less(self.buckets[i], base) {
                base = self.buckets[i];
            }
        }
        self.base = base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_is_the_minimum_and_old_buckets_expire() {
        let t0 = Instant::now();
        let mut h = DelayHistory::new();
        assert_eq!(h.add_sample(1_000_000, t0), 0);
        assert_eq!(h.add_sample(1_050_000, t0 + Duration::from_secs(1)), 50_000);
        assert_eq!(h.add_sample(900_000, t0 + Duration::from_secs(2)), 0);
        assert_eq!(
            h.add_sample(1_000_000, t0 + Duration::from_secs(3)),
            100_000
        );
        // Ten buckets later the 900 000 minimum has aged out.
        let mut t = t0;
        for _ in 0..BUCKETS {
            t += BUCKET;
            h.add_sample(1_200_000, t);
        }
        assert_eq!(h.base(), Some(1_200_000));
    }

    #[test]
    fn wrapping_samples() {
        let t0 = Instant::now();
        let mut h = DelayHistory::new();
        h.add_sample(u32::MAX - 10, t0);
        assert_eq!(h.add_sample(20, t0), 31);
        assert_eq!(h.base(), Some(u32::MAX - 10));
    }
}
