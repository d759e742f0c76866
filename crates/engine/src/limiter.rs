//! Async rate limiting over a shared [`TokenBucket`], applied at the socket
//! edges (bytes read from and written to peers). A [`RateLimiter`] may be
//! unlimited and its rate changed at any time (session and per-torrent
//! limits, the alternative "turtle" limits); a [`Throttle`] chains the
//! torrent's limiter and the session's, so a connection obeys both.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoal_swarm::rate::TokenBucket;

/// A byte-rate limit shared by many connections; unlimited or limited,
/// changeable at run time.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    bucket: Mutex<TokenBucket>,
    burst: AtomicU64,
    unlimited: AtomicBool,
}

/// Shortest sleep while waiting for tokens.
const MIN_WAIT: Duration = Duration::from_millis(2);

/// The burst allowed at `rate` bytes/s: a fifth of a second's worth, at
/// least 16 KiB.
fn burst_for(rate: u64) -> u64 {
    (rate / 5).max(16 * 1024)
}

impl RateLimiter {
    /// A limit of `rate` bytes per second (`rate` > 0), with a burst of a
    /// fifth of a second's worth (at least 16 KiB).
    pub fn new(rate: u64) -> RateLimiter {
        let l = RateLimiter::unlimited();
        l.set_rate(Some(rate));
        l
    }

    /// A limiter that lets everything through until given a rate.
    pub fn unlimited() -> RateLimiter {
        RateLimiter {
            bucket: Mutex::new(TokenBucket::unlimited(Instant::now())),
            burst: AtomicU64::new(burst_for(0)),
            unlimited: AtomicBool::new(true),
        }
    }

    /// Set the rate in bytes/s (`None` or 0: unlimited).
    pub fn set_rate(&self, rate: Option<u64>) {
        let rate = rate.unwrap_or(0);
        let burst = burst_for(rate);
        self.with(|b| b.set_limit(Instant::now(), rate, burst));
        self.burst.store(burst, Ordering::Relaxed);
        self.unlimited.store(rate == 0, Ordering::Release);
    }

    /// Whether everything passes at once.
    pub fn is_unlimited(&self) -> bool {
        self.unlimited.load(Ordering::Acquire)
    }

    /// The burst size: the most a caller should ask for at once.
    pub fn burst(&self) -> u64 {
        self.burst.load(Ordering::Relaxed)
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
            if self.is_unlimited() {
                return;
            }
            let wait = self.with(|b| {
                let now = Instant::now();
                if b.try_take(now, n) {
                    None
                } else {
                    Some(b.time_until(now, n.min(self.burst())))
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
            if self.is_unlimited() {
                return max;
            }
            let (got, wait) = self.with(|b| {
                let now = Instant::now();
                let got = b.available(now).min(max);
                (got, b.time_until(now, max.min(self.burst()).min(16 * 1024)))
            });
            if got > 0 {
                return got;
            }
            tokio::time::sleep(wait.max(MIN_WAIT)).await;
        }
    }

    /// Record `n` bytes transferred.
    pub fn consume(&self, n: u64) {
        if !self.is_unlimited() {
            self.with(|b| b.consume(Instant::now(), n));
        }
    }
}

/// The limiters one direction of a connection obeys: its torrent's, then
/// the session's.
#[derive(Debug, Clone)]
pub(crate) struct Throttle([Arc<RateLimiter>; 2]);

impl Throttle {
    /// Obey `torrent`'s limit and then `session`'s.
    pub fn new(torrent: Arc<RateLimiter>, session: Arc<RateLimiter>) -> Throttle {
        Throttle([torrent, session])
    }

    /// Whether neither limiter limits anything now.
    pub fn is_unlimited(&self) -> bool {
        self.0.iter().all(|l| l.is_unlimited())
    }

    /// The most to ask for at once: `max`, or the smallest limited burst.
    pub fn batch(&self, max: u64) -> u64 {
        self.0
            .iter()
            .filter(|l| !l.is_unlimited())
            .map(|l| l.burst())
            .fold(max, u64::min)
    }

    /// Wait until `n` bytes may be sent under both limits, and take them.
    pub async fn acquire(&self, n: u64) {
        for l in &self.0 {
            l.acquire(n).await;
        }
    }

    /// Wait until some bytes may be received under both limits; how many
    /// (at most `max`), not taken (see [`Throttle::consume`]).
    pub async fn available(&self, max: u64) -> u64 {
        let mut n = max;
        for l in &self.0 {
            n = n.min(l.available(n).await);
        }
        n
    }

    /// Record `n` bytes transferred under both limits.
    pub fn consume(&self, n: u64) {
        for l in &self.0 {
            l.consume(n);
        }
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

    #[tokio::test]
    async fn rate_changes_at_run_time_and_throttle_obeys_the_tighter() {
        let torrent = Arc::new(RateLimiter::unlimited());
        let session = Arc::new(RateLimiter::unlimited());
        let t = Throttle::new(torrent.clone(), session.clone());
        assert!(t.is_unlimited());
        assert_eq!(t.batch(1 << 20), 1 << 20);
        let start = Instant::now();
        t.acquire(100 << 20).await;
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "unlimited waits"
        );

        // The session's limit is the tighter: 512 KiB/s.
        torrent.set_rate(Some(4 << 20));
        session.set_rate(Some(512 << 10));
        assert!(!t.is_unlimited());
        assert_eq!(t.batch(1 << 20), session.burst());
        let start = Instant::now();
        t.acquire(session.burst()).await;
        for _ in 0..2 {
            t.acquire(128 << 10).await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(400),
            "256 KiB at 512 KiB/s took {took:?}"
        );
        assert!(took < Duration::from_secs(3), "{took:?}");

        // Back to unlimited: no wait.
        session.set_rate(None);
        torrent.set_rate(None);
        let start = Instant::now();
        t.acquire(64 << 20).await;
        assert!(start.elapsed() < Duration::from_millis(50));
    }
}
