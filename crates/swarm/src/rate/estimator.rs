//! Sliding-window transfer rate estimation.
//!
//! [`RateEstimator`] keeps a ring of fixed-width time buckets covering the
//! window. Recording is O(1) amortised (plus clearing buckets the clock has
//! moved past, at most one per bucket width elapsed); reading is O(number of
//! buckets) in the worst case and O(1) when the estimator is being fed
//! regularly.

use std::time::{Duration, Instant};

/// Default window length: long enough to smooth over TCP bursts, short enough
/// for the choker (which recomputes every 10 s) to react.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

/// Default number of buckets the window is split into.
pub const DEFAULT_BUCKETS: usize = 20;

/// Estimates a byte rate over a sliding time window.
///
/// Feed it with [`RateEstimator::record`] each time bytes are transferred and
/// read it with [`RateEstimator::rate`]. The estimate at time `now` is the
/// number of bytes recorded in the buckets covering the last window, divided
/// by the time those buckets span (up to `now`, and never more than the time
/// since the estimator was created, so a young estimator is not biased low).
#[derive(Debug, Clone)]
pub struct RateEstimator {
    start: Instant,
    bucket_ns: u64,
    /// Bytes per bucket; bucket with absolute index `i` lives at `i % len`.
    ring: Box<[u64]>,
    /// Absolute index of the newest bucket written (or advanced to).
    cur: u64,
    /// Sum of the ring.
    sum: u64,
    total: u64,
}

impl RateEstimator {
    /// A new estimator with [`DEFAULT_WINDOW`] split into [`DEFAULT_BUCKETS`].
    pub fn new(now: Instant) -> Self {
        Self::with_window(now, DEFAULT_WINDOW, DEFAULT_BUCKETS)
    }

    /// A new estimator whose window is `window` long, split into `buckets`
    /// buckets (clamped to at least 1 bucket of at least 1 ms).
    pub fn with_window(now: Instant, window: Duration, buckets: usize) -> Self {
        let buckets = buckets.max(1);
        let window_ns = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        let bucket_ns = (window_ns / buckets as u64).max(1_000_000);
        RateEstimator {
            start: now,
            bucket_ns,
            ring: vec![0; buckets].into_boxed_slice(),
            cur: 0,
            sum: 0,
            total: 0,
        }
    }

    /// The effective window length (bucket width × bucket count).
    pub fn window(&self) -> Duration {
        Duration::from_nanos(self.bucket_ns.saturating_mul(self.ring.len() as u64))
    }

    fn bucket_of(&self, now: Instant) -> u64 {
        let ns = now.saturating_duration_since(self.start).as_nanos();
        u64::try_from(ns / u128::from(self.bucket_ns)).unwrap_or(u64::MAX)
    }

    /// Records `bytes` transferred at `now`. Times earlier than a previous
    /// record are counted in the newest bucket.
    pub fn record(&mut self, now: Instant, bytes: u64) {
        let idx = self.bucket_of(now);
        self.advance(idx);
        let n = self.ring.len() as u64;
        let slot = (self.cur % n) as usize;
        self.ring[slot] = self.ring[slot].saturating_add(bytes);
        self.sum = self.sum.saturating_add(bytes);
        self.total = self.total.saturating_add(bytes);
    }

    /// Moves the newest bucket to `idx`, clearing buckets that fall out of the
    /// window.
    fn advance(&mut self, idx: u64) {
        if idx <= self.cur {
            return;
        }
        let n = self.ring.len() as u64;
        let steps = idx - self.cur;
        if steps >= n {
            self.ring.fill(0);
            self.sum = 0;
        } else {
            for i in self.cur + 1..=idx {
                let slot = (i % n) as usize;
                self.sum = self.sum.saturating_sub(self.ring[slot]);
                self.ring[slot] = 0;
            }
        }
        self.cur = idx;
    }

    /// Bytes recorded in the window ending at `now`.
    fn bytes_in_window(&self, idx: u64) -> u64 {
        let n = self.ring.len() as u64;
        if idx <= self.cur {
            return self.sum;
        }
        let steps = idx - self.cur;
        if steps >= n {
            return 0;
        }
        // Buckets cur+1..=idx would be recycled: they hold the oldest data.
        let mut s = self.sum;
        for i in self.cur + 1..=idx {
            s = s.saturating_sub(self.ring[(i % n) as usize]);
        }
        s
    }

    /// The estimated rate at `now`, in bytes per second.
    pub fn rate(&self, now: Instant) -> u64 {
        let idx = self.bucket_of(now).max(self.cur);
        let bytes = self.bytes_in_window(idx);
        if bytes == 0 {
            return 0;
        }
        let n = self.ring.len() as u64;
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        // The window covers the full buckets before `idx` plus the part of
        // bucket `idx` that has elapsed.
        let in_cur = elapsed.saturating_sub(u128::from(idx) * u128::from(self.bucket_ns));
        let span = (u128::from(n - 1) * u128::from(self.bucket_ns) + in_cur)
            .min(elapsed)
            .max(u128::from(self.bucket_ns));
        let r = u128::from(bytes) * 1_000_000_000 / span;
        u64::try_from(r).unwrap_or(u64::MAX)
    }

    /// Total bytes ever recorded (saturating).
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn steady_rate_is_measured() {
        let t0 = Instant::now();
        let mut r = RateEstimator::new(t0);
        // 100 KiB/s in 10 KiB chunks every 100 ms, for 30 s.
        for i in 1..=300u64 {
            r.record(t0 + ms(i * 100), 10 * 1024);
        }
        let now = t0 + ms(30_000);
        let got = r.rate(now);
        let want = 100 * 1024;
        assert!(got.abs_diff(want) * 100 <= want * 3, "rate {got} vs {want}");
        assert_eq!(r.total(), 300 * 10 * 1024);
    }

    #[test]
    fn young_estimator_is_not_biased_low() {
        let t0 = Instant::now();
        let mut r = RateEstimator::new(t0);
        for i in 1..=20u64 {
            r.record(t0 + ms(i * 100), 1000);
        }
        // 20 000 bytes in 2 s: 10 000 B/s although the window is 10 s.
        let got = r.rate(t0 + ms(2000));
        assert!(got.abs_diff(10_000) <= 500, "{got}");
    }

    #[test]
    fn rate_decays_to_zero_after_window() {
        let t0 = Instant::now();
        let mut r = RateEstimator::with_window(t0, Duration::from_secs(5), 10);
        for i in 1..=50u64 {
            r.record(t0 + ms(i * 100), 1000);
        }
        assert!(r.rate(t0 + ms(5000)) > 9000);
        // Half the window later, about half the bytes remain.
        let half = r.rate(t0 + ms(7500));
        assert!((4000..=6000).contains(&half), "{half}");
        assert_eq!(r.rate(t0 + ms(10_600)), 0);
        assert_eq!(r.rate(t0 + Duration::from_secs(3600)), 0);
        // Recording again after a long pause works.
        r.record(t0 + Duration::from_secs(3600), 500);
        assert!(r.rate(t0 + Duration::from_secs(3600) + ms(500)) > 0);
    }

    #[test]
    fn backwards_time_is_tolerated() {
        let t0 = Instant::now();
        let mut r = RateEstimator::new(t0);
        r.record(t0 + ms(5000), 1000);
        r.record(t0 + ms(1000), 1000);
        assert_eq!(r.total(), 2000);
        assert!(r.rate(t0) > 0);
        assert!(r.rate(t0 + ms(5000)) > 0);
    }

    #[test]
    fn huge_values_saturate() {
        let t0 = Instant::now();
        let mut r = RateEstimator::new(t0);
        r.record(t0, u64::MAX);
        r.record(t0, u64::MAX);
        assert_eq!(r.total(), u64::MAX);
        assert_eq!(r.rate(t0), u64::MAX);
    }

    #[test]
    fn reading_does_not_change_state() {
        let t0 = Instant::now();
        let mut r = RateEstimator::new(t0);
        r.record(t0 + ms(100), 1000);
        let a = r.rate(t0 + ms(20_000));
        assert_eq!(a, 0);
        // A read far in the future must not have dropped data for an
        // earlier read.
        assert!(r.rate(t0 + ms(1000)) > 0);
    }
}
