//! Web seeds (BEP 19): HTTP(S) servers that hold the torrent's files, used
//! as sources alongside peers.
//!
//! A web seed is modelled as a peer that has every piece: it is registered
//! in the [`PiecePicker`](crate::picker::PiecePicker) under a [`PeerKey`] of
//! its own and takes blocks through the same picker as peers (so partial
//! pieces are finished first, rarest first applies, and endgame duplicates
//! work across peers and web seeds). The driver asks for a batch of blocks
//! with [`crate::torrent::TorrentState::web_seed_next`], fetches them with
//! HTTP range requests over the byte runs [`coalesce`] makes of them, and
//! hands every block back through
//! [`crate::torrent::TorrentState::on_web_seed_block`]. Nothing a web seed
//! sends is trusted before the piece's hash check: its blocks go through
//! smart-ban like a peer's, under a sender of their own, so a web seed that
//! serves bad data is pinned exactly and a peer on the same address is
//! never blamed for it.
//!
//! A fetch that fails (an HTTP error, a short body, a timeout) or a piece
//! proven bad backs the web seed off exponentially
//! ([`WebSeedConfig::base_backoff`], doubling up to
//! [`WebSeedConfig::max_backoff`]); after [`WebSeedConfig::max_errors`]
//! failures in a row, or [`WebSeedConfig::max_bad_pieces`] bad pieces, it
//! is dropped for the rest of the session.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::picker::BlockRequest;
use crate::PeerKey;

/// Tunables of web seeds.
#[derive(Debug, Clone)]
pub struct WebSeedConfig {
    /// Most bytes asked of one web seed per fetch round (one piece at
    /// least, whatever this says).
    pub request_bytes: u32,
    /// Wait after the first failure; each further failure in a row
    /// doubles it.
    pub base_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Failed fetches in a row after which the web seed is dropped.
    pub max_errors: u32,
    /// Pieces proven bad after which the web seed is dropped.
    pub max_bad_pieces: u32,
    /// How long a web seed with nothing to fetch (every missing block is
    /// taken by others) waits before asking again.
    pub idle_recheck: Duration,
}

impl Default for WebSeedConfig {
    fn default() -> Self {
        WebSeedConfig {
            request_bytes: 4 << 20,
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(120),
            max_errors: 5,
            max_bad_pieces: 2,
            idle_recheck: Duration::from_millis(500),
        }
    }
}

/// Most web seeds one torrent uses (a `.torrent` can list any number).
pub const MAX_WEB_SEEDS: usize = 32;

/// Where a web seed stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSeedStatus {
    /// Fetching, or ready to.
    Active,
    /// Waiting after a failure.
    BackingOff,
    /// Given up on for the rest of the session.
    Dropped,
}

impl WebSeedStatus {
    /// A short name for reports (`active`, `backing-off`, `dropped`).
    pub fn as_str(self) -> &'static str {
        match self {
            WebSeedStatus::Active => "active",
            WebSeedStatus::BackingOff => "backing-off",
            WebSeedStatus::Dropped => "dropped",
        }
    }
}

/// A report on one web seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSeedInfo {
    /// Its key in the picker.
    pub key: PeerKey,
    /// Its URL, as the driver named it.
    pub url: String,
    /// Payload bytes received from it and stored.
    pub downloaded: u64,
    /// Failed fetches in a row.
    pub errors: u32,
    /// Pieces it sent that failed the hash check (proven by smart-ban).
    pub bad_pieces: u32,
    /// Where it stands.
    pub status: WebSeedStatus,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// What a web seed's driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextFetch {
    /// Fetch these blocks (already reserved in the picker for this web
    /// seed), then report each with `on_web_seed_block` and the end with
    /// `on_web_seed_done` or `on_web_seed_error`.
    Fetch(Vec<BlockRequest>),
    /// Nothing to do before this instant (backing off, or nothing left to
    /// take for now).
    WaitUntil(Instant),
    /// Every wanted piece is verified.
    Finished,
    /// The web seed was dropped (or is unknown): stop.
    Dropped,
}

/// One web seed's bookkeeping.
#[derive(Debug, Clone)]
struct WebSeed {
    url: String,
    downloaded: u64,
    errors: u32,
    bad_pieces: u32,
    next_attempt: Instant,
    dropped: bool,
    last_error: Option<String>,
}

/// Every web seed of a torrent, by key.
#[derive(Debug, Default)]
pub(crate) struct WebSeeds {
    pub(crate) config: WebSeedConfig,
    seeds: BTreeMap<PeerKey, WebSeed>,
}

/// What a failure did to a web seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It waits until the instant given.
    BackedOff,
    /// It was dropped now.
    Dropped,
    /// It was dropped before (or is unknown): nothing changed.
    Ignored,
}

impl WebSeeds {
    /// Track a new web seed under `key`.
    pub(crate) fn insert(&mut self, key: PeerKey, url: String, now: Instant) {
        self.seeds.insert(
            key,
            WebSeed {
                url,
                downloaded: 0,
                errors: 0,
                bad_pieces: 0,
                next_attempt: now,
                dropped: false,
                last_error: None,
            },
        );
    }

    /// Whether `key` was dropped (or is no web seed).
    pub(crate) fn is_dropped(&self, key: PeerKey) -> bool {
        self.seeds.get(&key).is_none_or(|s| s.dropped)
    }

    /// Number of web seeds not dropped.
    pub(crate) fn active(&self) -> usize {
        self.seeds.values().filter(|s| !s.dropped).count()
    }

    /// Whether `key` may fetch now; `Err` holds what to do instead.
    pub(crate) fn ready(&self, key: PeerKey, now: Instant) -> Result<(), NextFetch> {
        match self.seeds.get(&key) {
            None => Err(NextFetch::Dropped),
            Some(s) if s.dropped => Err(NextFetch::Dropped),
            Some(s) if s.next_attempt > now => Err(NextFetch::WaitUntil(s.next_attempt)),
            Some(_) => Ok(()),
        }
    }

    /// Count `bytes` stored from `key`.
    pub(crate) fn record_bytes(&mut self, key: PeerKey, bytes: u64) {
        if let Some(s) = self.seeds.get_mut(&key) {
            s.downloaded += bytes;
        }
    }

    /// A fetch round completed in full: the failure streak ends.
    pub(crate) fn on_success(&mut self, key: PeerKey) {
        if let Some(s) = self.seeds.get_mut(&key) {
            s.errors = 0;
        }
    }

    /// A fetch failed (`bad_piece` false) or a piece it sent failed the
    /// hash check (`bad_piece` true): back off, or drop it at the limit.
    pub(crate) fn on_failure(
        &mut self,
        key: PeerKey,
        bad_piece: bool,
        reason: &str,
        now: Instant,
    ) -> Failure {
        let cfg = &self.config;
        let Some(s) = self.seeds.get_mut(&key) else {
            return Failure::Ignored;
        };
        if s.dropped {
            return Failure::Ignored;
        }
        s.errors = s.errors.saturating_add(1);
        if bad_piece {
            s.bad_pieces = s.bad_pieces.saturating_add(1);
        }
        s.last_error = Some(reason.to_owned());
        if s.errors >= cfg.max_errors || s.bad_pieces >= cfg.max_bad_pieces {
            s.dropped = true;
            return Failure::Dropped;
        }
        let doublings = s.errors.saturating_sub(1).min(20);
        let wait = cfg
            .base_backoff
            .saturating_mul(1u32 << doublings)
            .min(cfg.max_backoff);
        // A bad piece found while a fetch was under way may come after a
        // longer wait was set: keep the later one.
        s.next_attempt = s.next_attempt.max(now + wait);
        Failure::BackedOff
    }

    /// Drop every web seed (the torrent is shutting down).
    pub(crate) fn drop_all(&mut self) -> Vec<PeerKey> {
        let mut out = Vec::new();
        for (k, s) in self.seeds.iter_mut() {
            if !s.dropped {
                s.dropped = true;
                out.push(*k);
            }
        }
        out
    }

    /// Reports on every web seed, in key order.
    pub(crate) fn infos(&self, now: Instant) -> Vec<WebSeedInfo> {
        self.seeds
            .iter()
            .map(|(k, s)| WebSeedInfo {
                key: *k,
                url: s.url.clone(),
                downloaded: s.downloaded,
                errors: s.errors,
                bad_pieces: s.bad_pieces,
                status: if s.dropped {
                    WebSeedStatus::Dropped
                } else if s.next_attempt > now {
                    WebSeedStatus::BackingOff
                } else {
                    WebSeedStatus::Active
                },
                last_error: s.last_error.clone(),
            })
            .collect()
    }

    /// Payload bytes from every web seed.
    pub(crate) fn downloaded(&self) -> u64 {
        self.seeds.values().map(|s| s.downloaded).sum()
    }
}

/// A run of contiguous bytes of the torrent's stream and the blocks it
/// is made of, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteRun {
    /// Offset of the first byte in the torrent's stream.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
    /// The blocks, end to end.
    pub blocks: Vec<BlockRequest>,
}

/// Sort `blocks` by position and merge those that touch into runs, so a
/// web seed is asked for as few ranges as possible. Blocks of pieces of
/// `piece_length` bytes; duplicates are dropped.
pub fn coalesce(mut blocks: Vec<BlockRequest>, piece_length: u32) -> Vec<ByteRun> {
    let pos = |b: &BlockRequest| u64::from(b.piece) * u64::from(piece_length) + u64::from(b.begin);
    blocks.sort_by_key(pos);
    blocks.dedup();
    let mut runs: Vec<ByteRun> = Vec::new();
    for b in blocks {
        let start = pos(&b);
        let len = u64::from(b.length);
        match runs.last_mut() {
            Some(r) if r.offset + r.len == start => {
                r.len += len;
                r.blocks.push(b);
            }
            _ => runs.push(ByteRun {
                offset: start,
                len,
                blocks: vec![b],
            }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(piece: u32, begin: u32, length: u32) -> BlockRequest {
        BlockRequest {
            piece,
            begin,
            length,
        }
    }

    #[test]
    fn touching_blocks_across_pieces_make_one_run() {
        let runs = coalesce(
            vec![b(1, 0, 16384), b(0, 16384, 16384), b(0, 0, 16384)],
            32768,
        );
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].offset, 0);
        assert_eq!(runs[0].len, 3 * 16384);
        assert_eq!(runs[0].blocks[0], b(0, 0, 16384));
        assert_eq!(runs[0].blocks[2], b(1, 0, 16384));
    }

    #[test]
    fn gaps_split_runs_and_duplicates_go() {
        let runs = coalesce(
            vec![b(3, 0, 100), b(0, 0, 16384), b(0, 0, 16384), b(2, 0, 16384)],
            32768,
        );
        let spans: Vec<(u64, u64)> = runs.iter().map(|r| (r.offset, r.len)).collect();
        assert_eq!(spans, vec![(0, 16384), (65536, 16384), (98304, 100)]);
    }

    #[test]
    fn failures_back_off_doubling_then_drop() {
        let t0 = Instant::now();
        let mut w = WebSeeds {
            config: WebSeedConfig {
                base_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(3),
                max_errors: 4,
                ..WebSeedConfig::default()
            },
            ..WebSeeds::default()
        };
        let k = PeerKey(7);
        w.insert(k, "http://x/".into(), t0);
        assert_eq!(w.ready(k, t0), Ok(()));
        assert_eq!(w.on_failure(k, false, "500", t0), Failure::BackedOff);
        assert_eq!(
            w.ready(k, t0),
            Err(NextFetch::WaitUntil(t0 + Duration::from_secs(1)))
        );
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(w.ready(k, t1), Ok(()));
        assert_eq!(w.on_failure(k, false, "500", t1), Failure::BackedOff);
        assert_eq!(
            w.ready(k, t1),
            Err(NextFetch::WaitUntil(t1 + Duration::from_secs(2)))
        );
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(w.on_failure(k, false, "500", t2), Failure::BackedOff);
        // Capped at max_backoff.
        assert_eq!(
            w.ready(k, t2),
            Err(NextFetch::WaitUntil(t2 + Duration::from_secs(3)))
        );
        assert_eq!(w.infos(t2)[0].status, WebSeedStatus::BackingOff);
        let t3 = t2 + Duration::from_secs(3);
        assert_eq!(w.on_failure(k, false, "500", t3), Failure::Dropped);
        assert_eq!(w.ready(k, t3), Err(NextFetch::Dropped));
        assert_eq!(w.on_failure(k, false, "500", t3), Failure::Ignored);
        let info = &w.infos(t3)[0];
        assert_eq!(info.status, WebSeedStatus::Dropped);
        assert_eq!(info.last_error.as_deref(), Some("500"));
        assert_eq!(w.active(), 0);
    }

    #[test]
    fn success_ends_the_streak_but_bad_pieces_add_up() {
        let t0 = Instant::now();
        let mut w = WebSeeds {
            config: WebSeedConfig {
                max_errors: 2,
                max_bad_pieces: 2,
                ..WebSeedConfig::default()
            },
            ..WebSeeds::default()
        };
        let k = PeerKey(1);
        w.insert(k, "u".into(), t0);
        assert_eq!(w.on_failure(k, false, "timeout", t0), Failure::BackedOff);
        w.on_success(k);
        assert_eq!(w.on_failure(k, false, "timeout", t0), Failure::BackedOff);
        w.on_success(k);
        assert_eq!(w.on_failure(k, true, "bad piece", t0), Failure::BackedOff);
        w.on_success(k);
        assert_eq!(w.on_failure(k, true, "bad piece", t0), Failure::Dropped);
    }
}
