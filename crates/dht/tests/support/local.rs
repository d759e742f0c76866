//! Helpers for loopback tests of the driver.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use shoal_dht::rate_limit::RateLimitConfig;
use shoal_dht::{Config, DriverConfig, NodeId};

/// Every node of a loopback test is at 127.0.0.1, so the per-IP rate limit
/// (libtorrent's `dht_block_ratelimit` model, 5/s by default) is raised to
/// this many queries per second.
pub const LOOPBACK_RATE_LIMIT: u32 = 100_000;

/// A driver config for loopback: no routers, raised rate limit, short
/// query timeout, the given seed.
pub fn loopback_config(seed: u64, bootstrap: Vec<SocketAddr>) -> DriverConfig {
    DriverConfig {
        node: Config {
            seed,
            query_timeout: Duration::from_secs(3),
            rate_limit: RateLimitConfig {
                per_ip_per_second: LOOPBACK_RATE_LIMIT,
                ..RateLimitConfig::default()
            },
            ..Config::default()
        },
        routers: Vec::new(),
        bootstrap,
        state: None,
    }
}

/// An info-hash made from a label.
pub fn info_hash(label: &str) -> NodeId {
    use sha1::{Digest, Sha1};
    let d = Sha1::digest(label.as_bytes());
    let mut b = [0u8; 20];
    b.copy_from_slice(&d);
    NodeId(b)
}

/// Run `f` until it returns `Some`, at most `limit`, polling every 100 ms.
pub async fn eventually<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
