//! Tracker announces for one torrent: `started`, periodic re-announces,
//! `completed` when the last piece verifies, `stopped` on the way out.

use std::sync::Arc;
use std::time::Duration;

use shoal_tracker_client::{AnnounceParams, ClientConfig, CryptoSupport, Event, TrackerClient};
use tracing::{debug, info, warn};

use crate::torrent::TorrentShared;

/// Shortest and longest wait between announces, whatever the tracker says.
const MIN_INTERVAL: Duration = Duration::from_secs(10);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// Most time one tracker gets in one announce before the client moves on
/// to the next (BEP 15's retransmissions alone could wait an hour on a dead
/// UDP tracker, and the trackers after it would never get a turn).
const PER_TRACKER_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds on the wait for one whole announce, which may try every tracker.
const MIN_ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(300);

/// The wait for one whole announce across `trackers` trackers.
fn announce_timeout(trackers: usize) -> Duration {
    (PER_TRACKER_TIMEOUT * trackers.min(1000) as u32)
        .clamp(MIN_ANNOUNCE_TIMEOUT, MAX_ANNOUNCE_TIMEOUT)
}
/// Longest wait for the final `stopped` announce.
const STOPPED_TIMEOUT: Duration = Duration::from_secs(3);

/// Wait after `failures` consecutive failed announces: 5 s, doubling, at
/// most about 5 minutes.
fn retry_delay(failures: u32) -> Duration {
    Duration::from_secs(5u64 << failures.saturating_sub(1).min(6))
}

/// What announces say about encryption under the session's policy, as
/// Transmission says it.
fn crypto_support(policy: shoal_mse::Policy) -> CryptoSupport {
    match policy {
        shoal_mse::Policy::Prefer => CryptoSupport::Supported,
        shoal_mse::Policy::Require => CryptoSupport::Required,
        shoal_mse::Policy::Off => CryptoSupport::Unstated,
    }
}

fn params(t: &TorrentShared, event: Event) -> AnnounceParams {
    let s = t.stats();
    AnnounceParams {
        uploaded: s.uploaded,
        downloaded: s.downloaded,
        left: s.total_length - s.bytes_have,
        event,
        numwant: Some(50),
    }
}

/// Record an announce's outcome for the torrent's tracker list.
fn log(t: &TorrentShared, tracker: Option<String>, result: Result<usize, String>, wait: Duration) {
    let now = std::time::SystemTime::now();
    if let Ok(mut l) = t.trackers.lock() {
        if tracker.is_some() {
            l.last_tracker = tracker;
        }
        l.last_at = Some(now);
        l.next_at = Some(now + wait);
        match result {
            Ok(peers) => {
                l.last_peers = peers;
                l.last_error = None;
                l.successes += 1;
            }
            Err(e) => l.last_error = Some(e),
        }
    }
}

/// Run the announce loop for the swarm `info_hash` (one of the torrent's,
/// see [`crate::swarm_hashes`]) until the torrent stops.
pub(crate) async fn run(t: Arc<TorrentShared>, info_hash: [u8; 20]) {
    let tracker_count: usize = t.torrent.trackers.iter().map(Vec::len).sum();
    let announce_wait = announce_timeout(tracker_count);
    let mut client = TrackerClient::with_config(
        t.torrent.trackers.clone(),
        info_hash,
        t.peer_id().0,
        t.session.local_addr.port(),
        ClientConfig {
            tracker_timeout: Some(PER_TRACKER_TIMEOUT),
            crypto: crypto_support(t.session.config.encryption),
            ..ClientConfig::default()
        },
    );
    let mut complete = t.complete.subscribe();
    let mut stopping = t.stopping.subscribe();
    let mut event = Event::Started;
    let mut completed_sent = *complete.borrow_and_update();
    let mut failures = 0u32;
    loop {
        let p = params(&t, event);
        let wait = match tokio::time::timeout(announce_wait, client.announce(p)).await {
            Ok(Ok(resp)) => {
                failures = 0;
                event = Event::None;
                if let Some(w) = &resp.warning {
                    warn!(tracker = %resp.tracker, warning = %w, "tracker warning");
                }
                info!(tracker = %resp.tracker, peers = resp.peers.len(), "announced");
                t.add_peers(&resp.peers, false);
                let wait = resp
                    .interval
                    .max(resp.min_interval.unwrap_or_default())
                    .clamp(MIN_INTERVAL, MAX_INTERVAL);
                log(
                    &t,
                    Some(resp.tracker.to_string()),
                    Ok(resp.peers.len()),
                    wait,
                );
                wait
            }
            Ok(Err(e)) => {
                failures += 1;
                warn!(error = %e, "announce failed");
                let wait = retry_delay(failures);
                log(&t, None, Err(e.to_string()), wait);
                wait
            }
            Err(_) => {
                failures += 1;
                warn!("announce timed out");
                let wait = retry_delay(failures);
                log(&t, None, Err("announce timed out".into()), wait);
                wait
            }
        };
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                _ = &mut sleep => break,
                _ = t.limits.reannounce.notified() => break,
                r = complete.changed(), if !completed_sent => {
                    if r.is_ok() && *complete.borrow_and_update() {
                        completed_sent = true;
                        if event == Event::None {
                            event = Event::Completed;
                        }
                        break;
                    }
                }
                _ = stopping.changed() => {
                    if *stopping.borrow_and_update() {
                        // A download that finished just before stopping
                        // still reports its completion.
                        let finished = *complete.borrow();
                        if finished && (!completed_sent || event == Event::Completed) {
                            let p = params(&t, Event::Completed);
                            let _ = tokio::time::timeout(STOPPED_TIMEOUT, client.announce(p)).await;
                        }
                        let p = params(&t, Event::Stopped);
                        match tokio::time::timeout(STOPPED_TIMEOUT, client.announce(p)).await {
                            Ok(Ok(_)) => debug!("announced stopped"),
                            _ => debug!("could not announce stopped"),
                        }
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tracker_gets_its_turn_within_bounds() {
        assert_eq!(announce_timeout(0), MIN_ANNOUNCE_TIMEOUT);
        assert_eq!(announce_timeout(1), MIN_ANNOUNCE_TIMEOUT);
        assert_eq!(announce_timeout(5), Duration::from_secs(50));
        assert_eq!(announce_timeout(1_000_000), MAX_ANNOUNCE_TIMEOUT);
        // A dead first tracker leaves time for at least two more.
        assert!(announce_timeout(3) >= PER_TRACKER_TIMEOUT * 3);
    }
}
