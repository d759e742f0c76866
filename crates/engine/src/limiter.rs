//! Async rate limiting over a shared [`TokenBucket`], applied at the socket
//! edges (bytes read from and written to peers).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::rate::TokenBucket;

/// A global byte-rate limit shared by every connection.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Mutex<TokenBucket>,
    burst: u64,
}

/// Shortest sleep while waiting for tokens.
const MIN_WAIT: Duration = Duration::from_millis(2);

impl RateLimiter {
    /// A limit of `rate` bytes per second (`rate` > 0), with a burst of a
    /// fifth of a second's worth (at least 16 KiB).
    pub fn new(rate: u64) -> RateLimiter {
        let burst = (rate / 5).max(16 * 1024);
        RateLimiter {
            bucket: Mutex::new(TokenBucket::new(Instant::now(), rate, burst)),
            burst,
        }
    }

    /// The burst size: the most a caller should ask for at once.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    fn with<T>(&self, f: impl FnOnce(&mut TokenBucket) -> T) -> T {
        let mut guard = match self.bucket.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Wait until `n` bytes may be sent, and take them.
    pub async fn acquire(&self, n: u64) {
        loop {
            let wait = self.with(|b| {
                let now = Instant::now();
                if b.try_take(now, n) {
                    None
                } else {
                    Some(b.time_until(now, n.min(self.burst)))
                }
            });
            match wait {
                None => return,
                Some(w) => tokio::time::sleep(w.max(MIN_WAIT)).await,
            }
        }
    }

    /// Wait until some bytes may be received and return how many (at most
    /// `max`) without taking them: the caller reads up to that much and
    /// then [`RateLimiter::consume`]s what it actually read.
    pub async fn available(&self, max: u64) -> u64 {
        loop {
            let (got, wait) = self.with(|b| {
                let now = Instant::now();
                let got = b.available(now).min(max);
                (got, b.time_until(now, max.min(self.burst).min(16 * 1024)))
            });
            if got > 0 {
                return got;
            }
            tokio::time::sleep(wait.max(MIN_WAIT)).await;
        }
    }

    /// Record `n` bytes transferred.
    pub fn consume(&self, n: u64) {
        self.with(|b| b.consume(Instant::now(), n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn acquire_waits_for_tokens() {
        let l = RateLimiter::new(1 << 20);
        let start = Instant::now();
        l.acquire(l.burst()).await;
        assert!(
            start.elapsed() < Duration::from_millis(190),
            "a full burst is free (waiting for it would take 200 ms)"
        );
        for _ in 0..3 {
            l.acquire(100 * 1024).await;
        }
        let t = start.elapsed();
        assert!(
            t >= Duration::from_millis(250),
            "300 KiB at 1 MiB/s took {t:?}"
        );
        assert!(t < Duration::from_secs(2), "{t:?}");
    }

    #[tokio::test]
    async fn available_then_consume_tracks_reads() {
        let l = RateLimiter::new(1 << 20);
        let n = l.available(1 << 30).await;
        assert_eq!(n, l.burst());
        l.consume(n + 100 * 1024);
        let start = Instant::now();
        assert!(l.available(1024).await > 0);
        assert!(
            start.elapsed() >= Duration::from_millis(80),
            "debt is paid back first"
        );
    }
}
