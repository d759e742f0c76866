//! Token bucket rate limiting.
//!
//! Tokens are bytes. The bucket refills at `rate` bytes per second up to
//! `burst` bytes. Internally the balance is kept in *byte-nanoseconds*
//! (bytes × 10⁹) in an `i128`, so refilling `rate × elapsed_ns` is exact
//! integer arithmetic: any number of small takes adds up to exactly
//! `burst + rate × t` over a period `t`, with no rounding drift. All
//! arithmetic saturates, so no input can overflow it.
//!
//! Requests larger than `burst` are admitted by [`TokenBucket::try_take`]
//! once the bucket is full and leave it in debt; the debt is paid back before
//! anything else is admitted, so the long-run rate is still exact and a large
//! request never waits forever. [`TokenBucket::consume`] goes into debt
//! unconditionally, for bytes that have already been transferred (e.g. data
//! that arrived on a download-limited socket).

use std::time::{Duration, Instant};

const NANOS: i128 = 1_000_000_000;

/// A byte-rate limiter; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Bytes per second; 0 means unlimited.
    rate: u64,
    /// Maximum balance in bytes (at least 1 when limited).
    burst: u64,
    /// Balance in byte-nanoseconds; may be negative (debt).
    tokens: i128,
    /// Time of the last refill.
    last: Instant,
}

impl TokenBucket {
    /// A bucket refilling at `rate` bytes/s up to `burst` bytes, starting
    /// full. `rate == 0` means unlimited. `burst` is clamped to at least 1.
    pub fn new(now: Instant, rate: u64, burst: u64) -> Self {
        let burst = burst.max(1);
        TokenBucket {
            rate,
            burst,
            tokens: i128::from(burst) * NANOS,
            last: now,
        }
    }

    /// A bucket whose burst is one second worth of `rate` (unlimited if
    /// `rate` is 0).
    pub fn with_rate(now: Instant, rate: u64) -> Self {
        Self::new(now, rate, rate)
    }

    /// A bucket that admits everything.
    pub fn unlimited(now: Instant) -> Self {
        Self::new(now, 0, 1)
    }

    /// Changes the limits. The current balance (including debt) is kept but
    /// clamped to the new burst; a bucket that was unlimited starts full.
    /// `rate == 0` means unlimited.
    pub fn set_limit(&mut self, now: Instant, rate: u64, burst: u64) {
        self.refill(now);
        let was_unlimited = self.rate == 0;
        self.rate = rate;
        self.burst = burst.max(1);
        self.tokens = self.tokens.min(self.cap());
        if rate == 0 || was_unlimited {
            self.tokens = self.cap();
        }
    }

    /// The configured rate in bytes/s, or `None` if unlimited.
    pub fn rate(&self) -> Option<u64> {
        (self.rate != 0).then_some(self.rate)
    }

    /// The configured burst in bytes.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// True if the bucket has no rate limit.
    pub fn is_unlimited(&self) -> bool {
        self.rate == 0
    }

    fn cap(&self) -> i128 {
        i128::from(self.burst) * NANOS
    }

    fn refill(&mut self, now: Instant) {
        if now <= self.last {
            return;
        }
        let elapsed = now.duration_since(self.last).as_nanos();
        self.last = now;
        if self.rate == 0 {
            self.tokens = self.cap();
            return;
        }
        let room = self.cap().saturating_sub(self.tokens);
        if room <= 0 {
            return;
        }
        // `room` fits in u128 as it is positive; the product saturates.
        let add = elapsed.saturating_mul(u128::from(self.rate));
        let add = i128::try_from(add).unwrap_or(i128::MAX).min(room);
        self.tokens += add;
    }

    /// Whole bytes available at `now` (0 when in debt).
    pub fn available(&mut self, now: Instant) -> u64 {
        self.refill(now);
        if self.rate == 0 {
            return u64::MAX;
        }
        u64::try_from((self.tokens / NANOS).max(0)).unwrap_or(u64::MAX)
    }

    /// Takes `n` bytes if allowed now, all or nothing.
    ///
    /// Succeeds when the balance covers `min(n, burst)` bytes; a request
    /// larger than the burst thus succeeds only with a full bucket and leaves
    /// it in debt.
    pub fn try_take(&mut self, now: Instant, n: u64) -> bool {
        self.refill(now);
        if self.rate == 0 {
            return true;
        }
        let need = i128::from(n.min(self.burst)) * NANOS;
        if self.tokens < need {
            return false;
        }
        self.tokens = self.tokens.saturating_sub(i128::from(n) * NANOS);
        true
    }

    /// Takes as many of `n` bytes as are available now and returns how many
    /// were taken (possibly 0).
    pub fn take_up_to(&mut self, now: Instant, n: u64) -> u64 {
        let got = n.min(self.available(now));
        if self.rate != 0 {
            self.tokens -= i128::from(got) * NANOS;
        }
        got
    }

    /// Records `n` bytes that were transferred regardless of the limit; the
    /// balance may go negative, delaying later takes.
    pub fn consume(&mut self, now: Instant, n: u64) {
        self.refill(now);
        if self.rate == 0 {
            return;
        }
        // Bound the debt so the balance can never overflow.
        let floor = -(i128::from(u64::MAX) * NANOS);
        self.tokens = self.tokens.saturating_sub(i128::from(n) * NANOS).max(floor);
    }

    /// How long from `now` until [`TokenBucket::try_take`] of `n` bytes
    /// would succeed (zero if it would succeed now). Requests larger than the
    /// burst are measured against a full bucket, consistent with `try_take`.
    pub fn time_until(&self, now: Instant, n: u64) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        let mut tokens = self.tokens;
        if now > self.last {
            let elapsed = now.duration_since(self.last).as_nanos();
            let add = elapsed.saturating_mul(u128::from(self.rate));
            let add = i128::try_from(add).unwrap_or(i128::MAX);
            tokens = tokens.saturating_add(add).min(self.cap());
        }
        let need = i128::from(n.min(self.burst)) * NANOS;
        if tokens >= need {
            return Duration::ZERO;
        }
        // Deficit in byte-ns over rate (bytes/s) = nanoseconds, rounded up
        // so that after sleeping this long the take succeeds.
        let deficit = (need - tokens) as u128;
        let rate = u128::from(self.rate);
        let ns = deficit.div_ceil(rate);
        let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX);
        let sub = (ns % 1_000_000_000) as u32;
        Duration::new(secs, sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_full_and_limits() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 1000, 500);
        assert!(b.try_take(t0, 500));
        assert!(!b.try_take(t0, 1));
        assert_eq!(b.time_until(t0, 100), Duration::from_millis(100));
        assert!(!b.try_take(t0 + Duration::from_millis(99), 100));
        assert!(b.try_take(t0 + Duration::from_millis(100), 100));
    }

    #[test]
    fn rate_over_ten_simulated_seconds_is_exact_with_small_takes() {
        let t0 = Instant::now();
        let rate = 123_457;
        let burst = 16 * 1024;
        let mut b = TokenBucket::new(t0, rate, burst);
        let mut taken = 0u64;
        // Many small takes (7 bytes) every 100 µs for 10 s.
        let mut t = t0;
        let end = t0 + Duration::from_secs(10);
        while t <= end {
            while b.try_take(t, 7) {
                taken += 7;
            }
            t += Duration::from_micros(100);
        }
        let ideal = burst + rate * 10;
        // Exact up to the granularity of one take.
        assert!(taken <= ideal && ideal - taken < 7, "{taken} vs {ideal}");
        let measured = (taken - burst) as f64 / 10.0;
        assert!((measured - rate as f64).abs() / (rate as f64) < 0.01);
    }

    #[test]
    fn take_up_to_and_time_until_pace_correctly() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 1_000_000, 16_384);
        let mut t = t0;
        let mut total = 0u64;
        let end = t0 + Duration::from_secs(10);
        // An async edge that sleeps exactly `time_until` between takes.
        while t < end {
            let got = b.take_up_to(t, 16_384);
            total += got;
            let wait = b.time_until(t, 16_384);
            assert!(got > 0 || wait > Duration::ZERO);
            t += wait.max(Duration::from_nanos(1));
        }
        let ideal = 16_384 + 10 * 1_000_000;
        assert!(
            total <= ideal + 16_384 && total + 16_384 >= ideal,
            "{total}"
        );
    }

    #[test]
    fn sleeping_time_until_always_suffices() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 3, 10);
        assert!(b.try_take(t0, 10));
        for n in [1u64, 2, 5, 10, 11, 1000] {
            let w = b.time_until(t0, n);
            let mut c = b.clone();
            assert!(c.try_take(t0 + w, n), "n={n} w={w:?}");
            if w > Duration::ZERO {
                let mut c = b.clone();
                assert!(!c.try_take(t0 + w - Duration::from_nanos(1), n));
            }
        }
    }

    #[test]
    fn oversized_request_goes_into_debt() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 100, 100);
        assert!(b.try_take(t0, 300));
        assert_eq!(b.available(t0), 0);
        // 200 bytes of debt + 1 byte: 2.01 s.
        assert_eq!(b.time_until(t0, 1), Duration::from_millis(2010));
        assert!(b.try_take(t0 + Duration::from_millis(2010), 1));
    }

    #[test]
    fn consume_creates_debt() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 1000, 1000);
        b.consume(t0, 3000);
        assert_eq!(b.time_until(t0, 1000), Duration::from_secs(3));
        b.consume(t0, u64::MAX);
        b.consume(t0, u64::MAX);
        assert!(b.time_until(t0, 1) > Duration::from_secs(1_000_000));
    }

    #[test]
    fn unlimited_admits_everything() {
        let t0 = Instant::now();
        let mut b = TokenBucket::unlimited(t0);
        assert!(b.try_take(t0, u64::MAX));
        assert_eq!(b.take_up_to(t0, 12345), 12345);
        assert_eq!(b.time_until(t0, u64::MAX), Duration::ZERO);
        assert!(b.is_unlimited());
        assert_eq!(b.rate(), None);
        b.set_limit(t0, 10, 10);
        assert_eq!(b.rate(), Some(10));
        assert_eq!(b.available(t0), 10);
        assert!(b.try_take(t0, 10));
        assert!(!b.try_take(t0, 1));
    }

    #[test]
    fn never_overflows() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, u64::MAX, u64::MAX);
        let far = t0 + Duration::from_secs(10_000_000_000);
        assert_eq!(b.available(far), u64::MAX);
        assert!(b.try_take(far, u64::MAX));
        assert!(b.try_take(far, u64::MAX) || b.time_until(far, 1) > Duration::ZERO);
        b.consume(far, u64::MAX);
        let _ = b.time_until(far, u64::MAX);
    }

    #[test]
    fn bucket_does_not_grow_beyond_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 1000, 50);
        assert_eq!(b.available(t0 + Duration::from_secs(100)), 50);
        assert_eq!(b.take_up_to(t0 + Duration::from_secs(100), 80), 50);
    }

    #[test]
    fn backwards_time_is_ignored() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut b = TokenBucket::new(t1, 1000, 1000);
        assert!(b.try_take(t1, 1000));
        assert!(!b.try_take(t0, 1));
        assert_eq!(b.time_until(t0, 1), Duration::from_millis(1));
    }
}
