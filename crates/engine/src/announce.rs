//! Tracker announces for one torrent: `started`, periodic re-announces,
//! `completed` when the last piece verifies, `stopped` on the way out.

use std::sync::Arc;
use std::time::Duration;

use shoal_tracker_client::{AnnounceParams, Event, TrackerClient};
use tracing::{debug, info, warn};

use crate::torrent::TorrentShared;

/// Shortest and longest wait between announces, whatever the tracker says.
const MIN_INTERVAL: Duration = Duration::from_secs(10);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// Longest wait for one announce (the client retries UDP internally).
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the final `stopped` announce.
const STOPPED_TIMEOUT: Duration = Duration::from_secs(3);

/// Wait after `failures` consecutive failed announces: 5 s, doubling, at
/// most about 5 minutes.
fn retry_delay(failures: u32) -> Duration {
    Duration::from_secs(5u64 << failures.saturating_sub(1).min(6))
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

/// Run the announce loop until the torrent stops.
pub(crate) async fn run(t: Arc<TorrentShared>) {
    let mut client = TrackerClient::new(
        t.torrent.trackers.clone(),
        t.info_hash,
        t.peer_id().0,
        t.session.local_addr.port(),
    );
    let mut complete = t.complete.subscribe();
    let mut stopping = t.stopping.subscribe();
    let mut event = Event::Started;
    let mut completed_sent = *complete.borrow_and_update();
    let mut failures = 0u32;
    loop {
        let p = params(&t, event);
        let wait = match tokio::time::timeout(ANNOUNCE_TIMEOUT, client.announce(p)).await {
            Ok(Ok(resp)) => {
                failures = 0;
                event = Event::None;
                if let Some(w) = &resp.warning {
                    warn!(tracker = %resp.tracker, warning = %w, "tracker warning");
                }
                info!(tracker = %resp.tracker, peers = resp.peers.len(), "announced");
                t.add_peers(&resp.peers, false);
                resp.interval
                    .max(resp.min_interval.unwrap_or_default())
                    .clamp(MIN_INTERVAL, MAX_INTERVAL)
            }
            Ok(Err(e)) => {
                failures += 1;
                warn!(error = %e, "announce failed");
                retry_delay(failures)
            }
            Err(_) => {
                failures += 1;
                warn!("announce timed out");
                retry_delay(failures)
            }
        };
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                _ = &mut sleep => break,
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
