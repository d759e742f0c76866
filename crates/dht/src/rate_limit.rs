//! Per-source-IP query rate limit, after libtorrent's DoS blocker
//! (`dht_block_ratelimit`, `dht_block_timeout`): an address sending more
//! than the limit in one second is ignored for a while. The table of
//! addresses is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Rate limit settings.
#[derive(Clone, Copy, Debug)]
pub struct RateLimitConfig {
    /// Queries per second accepted from one IP (libtorrent's default: 5).
    /// Loopback tests put every node on 127.0.0.1 and must raise it.
    pub per_ip_per_second: u32,
    /// How long an address over the limit is ignored (libtorrent: 5 min).
    pub block_for: Duration,
    /// Addresses tracked at once.
    pub tracked_ips: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_ip_per_second: 5,
            block_for: Duration::from_secs(5 * 60),
            tracked_ips: 1024,
        }
    }
}

#[derive(Debug)]
struct Counter {
    window_start: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

/// The per-IP limiter.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    ips: HashMap<IpAddr, Counter>,
}

impl RateLimiter {
    /// A limiter with these settings.
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter {
            config,
            ips: HashMap::new(),
        }
    }

    /// Count one packet from `ip`; false if it must be ignored.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.ips.contains_key(&ip) && self.ips.len() >= self.config.tracked_ips {
            self.evict(now);
        }
        let c = self.ips.entry(ip).or_insert(Counter {
            window_start: now,
            count: 0,
            blocked_until: None,
        });
        if let Some(until) = c.blocked_until {
            if now < until {
                return false;
            }
            c.blocked_until = None;
            c.count = 0;
            c.window_start = now;
        }
        if now.saturating_duration_since(c.window_start) >= Duration::from_secs(1) {
            c.window_start = now;
            c.count = 0;
        }
        c.count = c.count.saturating_add(1);
        if c.count > self.config.per_ip_per_second {
            c.blocked_until = Some(now + self.config.block_for);
            return false;
        }
        true
    }

    fn evict(&mut self, now: Instant) {
        self.ips.retain(|_, c| {
            c.blocked_until.is_some_and(|u| now < u)
                || now.saturating_duration_since(c.window_start) < Duration::from_secs(1)
        });
        if self.ips.len() >= self.config.tracked_ips {
            // Everyone is active: forget the one whose window is oldest and
            // that is not blocked (blocked addresses stay blocked).
            let victim = self
                .ips
                .iter()
                .filter(|(_, c)| c.blocked_until.is_none())
                .min_by_key(|(_, c)| c.window_start)
                .map(|(ip, _)| *ip)
                .or_else(|| self.ips.keys().next().copied());
            if let Some(v) = victim {
                self.ips.remove(&v);
            }
        }
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.ips.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_only_the_flooder() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(RateLimitConfig {
            per_ip_per_second: 5,
            block_for: Duration::from_secs(60),
            tracked_ips: 16,
        });
        let bad: IpAddr = "1.1.1.1".parse().unwrap();
        let good: IpAddr = "2.2.2.2".parse().unwrap();
        for _ in 0..5 {
            assert!(r.allow(bad, t0));
        }
        assert!(!r.allow(bad, t0));
        assert!(r.allow(good, t0));
        assert!(!r.allow(bad, t0 + Duration::from_secs(30)), "still blocked");
        assert!(r.allow(bad, t0 + Duration::from_secs(61)), "block expires");
        // Steady traffic under the limit is never blocked.
        for s in 0..100 {
            for _ in 0..5 {
                assert!(r.allow(good, t0 + Duration::from_secs(100 + s)));
            }
        }
        // Many addresses: the table stays bounded.
        for i in 0..1000u32 {
            r.allow(IpAddr::from(i.to_be_bytes()), t0 + Duration::from_secs(300));
        }
        assert!(r.tracked() <= 16);
    }
}
