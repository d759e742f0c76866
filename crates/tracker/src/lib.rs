//! Shoal tracker server (HTTP + UDP).
//!
//! The request handling is sans-I/O: [`Tracker::handle_udp`] turns one
//! datagram into zero or one reply datagram, and [`Tracker::handle_http`]
//! turns one request target (`/announce?...`) into a response body, both at
//! a time passed in by the caller. The swarm state lives in [`store::Store`].
//! The sockets, threads and the tokio runtime are in [`server`].

#![warn(missing_docs)]

pub mod connid;
pub mod http;
pub mod server;
pub mod stats;
pub mod store;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use shoal_tracker_proto::http as hp;
use shoal_tracker_proto::udp as up;
use shoal_tracker_proto::InfoHash;

pub use connid::ConnectionIds;
pub use stats::{Kind, Stats, StatsSnapshot};
pub use store::{Announce, Store, StoreConfig, StoreError, SwarmCounts};

/// Most info-hashes in one HTTP scrape.
pub const MAX_HTTP_SCRAPE: usize = 256;

/// What the tracker serves and how.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// Store limits (the peer timeout is derived from the interval by
    /// [`TrackerConfig::with_interval`]).
    pub store: StoreConfig,
    /// Announce interval sent to clients (seconds).
    pub interval: u32,
    /// Minimum announce interval sent to HTTP clients (seconds).
    pub min_interval: u32,
    /// If set, only these info-hashes are served (private tracker mode).
    pub whitelist: Option<HashSet<InfoHash>>,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig::with_interval(1800)
    }
}

impl TrackerConfig {
    /// Defaults with announce interval `secs` (clamped to 10..=5400), a
    /// minimum interval of half that, and peers dropped after two missed
    /// intervals plus five minutes.
    pub fn with_interval(secs: u32) -> TrackerConfig {
        let interval = secs.clamp(10, 5400);
        TrackerConfig {
            store: StoreConfig {
                peer_timeout: (2 * interval + 300).min(store::MAX_PEER_TIMEOUT),
                ..StoreConfig::default()
            },
            interval,
            min_interval: interval / 2,
            whitelist: None,
        }
    }
}

/// Errors loading configuration files.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The whitelist file could not be read.
    #[error("cannot read whitelist {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the whitelist is not a 40-digit hex info-hash.
    #[error("{path}:{line}: not a 40-digit hex info-hash")]
    BadLine {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
    },
}

/// Parse a whitelist: one 40-digit hex info-hash per line (as opentracker's
/// `-w` file); blank lines and lines starting with `#` are skipped, and
/// anything after the 40 digits on a line is ignored.
pub fn parse_whitelist(text: &str, path: &str) -> Result<HashSet<InfoHash>, ConfigError> {
    let mut set = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut h = [0u8; 20];
        let hexpart = line.get(..40).ok_or(ConfigError::BadLine {
            path: path.into(),
            line: i + 1,
        })?;
        for (j, b) in h.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hexpart[2 * j..2 * j + 2], 16).map_err(|_| {
                ConfigError::BadLine {
                    path: path.into(),
                    line: i + 1,
                }
            })?;
        }
        set.insert(h);
    }
    Ok(set)
}

/// Read a whitelist file (see [`parse_whitelist`]).
pub fn load_whitelist(path: &Path) -> Result<HashSet<InfoHash>, ConfigError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: p.clone(),
        source,
    })?;
    parse_whitelist(&text, &p)
}

/// The status and content type of an HTTP answer (the body is in the
/// caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpAnswer {
    /// HTTP status code.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
}

const BENCODE: HttpAnswer = HttpAnswer {
    status: 200,
    content_type: "text/plain",
};

/// The tracker: configuration, store, connection ids and counters.
pub struct Tracker {
    cfg: TrackerConfig,
    store: Store,
    ids: ConnectionIds,
    stats: Stats,
}

impl Tracker {
    /// A tracker with a random connection-id key.
    pub fn new(cfg: TrackerConfig) -> Tracker {
        Tracker::with_ids(cfg, ConnectionIds::new())
    }

    /// A tracker with given connection ids (tests).
    pub fn with_ids(cfg: TrackerConfig, ids: ConnectionIds) -> Tracker {
        let store = Store::new(cfg.store.clone());
        Tracker {
            cfg,
            store,
            ids,
            stats: Stats::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    /// The swarm store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The connection ids.
    pub fn connection_ids(&self) -> &ConnectionIds {
        &self.ids
    }

    /// The request counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn allowed(&self, h: &InfoHash) -> bool {
        self.cfg.whitelist.as_ref().is_none_or(|w| w.contains(h))
    }

    /// Handle one UDP datagram from `src` at time `now`; the reply (if any)
    /// is written to `out`, which is cleared first. An empty `out` means: do
    /// not answer (packets too short to carry a transaction id, connect
    /// requests with a bad protocol id).
    pub fn handle_udp(&self, pkt: &[u8], src: SocketAddr, now: u32, out: &mut Vec<u8>) {
        out.clear();
        let req = match up::parse_request(pkt) {
            Ok(r) => r,
            Err(e) => {
                match e.header {
                    Some((_, tid)) => {
                        self.stats.add(Kind::UdpError);
                        up::write_error_response(out, tid, &e.error.to_string());
                    }
                    None => self.stats.add(Kind::UdpDropped),
                }
                return;
            }
        };
        match req {
            up::Request::Connect { transaction_id } => {
                self.stats.add(Kind::UdpConnect);
                up::write_connect_response(out, transaction_id, self.ids.make(&src, now));
            }
            up::Request::Announce(a) => {
                if !self.ids.check(a.connection_id, &src, now) {
                    tracing::trace!(%src, "udp announce with a bad connection id");
                    self.stats.add(Kind::UdpError);
                    up::write_error_response(out, a.transaction_id, "invalid connection id");
                    return;
                }
                if a.port == 0 {
                    self.stats.add(Kind::UdpError);
                    up::write_error_response(out, a.transaction_id, "invalid port");
                    return;
                }
                if !self.allowed(&a.info_hash) {
                    self.stats.add(Kind::UdpError);
                    up::write_error_response(out, a.transaction_id, "torrent not allowed");
                    return;
                }
                let v6 = src.ip().to_canonical().is_ipv6();
                let room = if v6 {
                    up::MAX_PEERS_V6
                } else {
                    up::MAX_PEERS_V4
                };
                let ann = Announce {
                    info_hash: a.info_hash,
                    peer: SocketAddr::new(src.ip(), a.port),
                    event: a.event,
                    seeder: a.left == 0,
                    numwant: (a.num_want > 0).then_some(a.num_want as usize),
                };
                up::write_announce_response_header(out, a.transaction_id, self.cfg.interval, 0, 0);
                match self.store.announce(&ann, now, room, out) {
                    Ok(c) => {
                        self.stats.add(Kind::UdpAnnounce);
                        out[12..16].copy_from_slice(&c.leechers.to_be_bytes());
                        out[16..20].copy_from_slice(&c.seeders.to_be_bytes());
                    }
                    Err(e) => {
                        self.stats.add(Kind::UdpError);
                        out.clear();
                        up::write_error_response(out, a.transaction_id, &e.to_string());
                    }
                }
            }
            up::Request::Scrape {
                connection_id,
                transaction_id,
                ..
            } => {
                if !self.ids.check(connection_id, &src, now) {
                    self.stats.add(Kind::UdpError);
                    up::write_error_response(out, transaction_id, "invalid connection id");
                    return;
                }
                self.stats.add(Kind::UdpScrape);
                up::write_scrape_response_header(out, transaction_id);
                for h in req.scrape_hashes() {
                    let c = if self.allowed(&h) {
                        self.store.scrape(&h)
                    } else {
                        SwarmCounts::default()
                    };
                    up::write_scrape_entry(out, c.seeders, c.downloaded, c.leechers);
                }
            }
        }
    }

    /// Handle one HTTP request target (path and query, raw bytes) from
    /// `src` at time `now`; the body is written to `out` (cleared first).
    ///
    /// `/announce` and `/scrape` (and paths starting with them, such as
    /// `/announce.php`) answer bencode; a refused request gets a bencoded
    /// `failure reason` with status 200, as clients expect. `/stats` answers
    /// JSON and `/metrics` Prometheus text; anything else is a 404 with a
    /// failure reason.
    pub fn handle_http(
        &self,
        target: &[u8],
        src: IpAddr,
        now: u32,
        out: &mut Vec<u8>,
    ) -> HttpAnswer {
        out.clear();
        let (path, query) = match target.iter().position(|&b| b == b'?') {
            Some(i) => (&target[..i], &target[i + 1..]),
            None => (target, &target[target.len()..]),
        };
        if path.starts_with(b"/announce") {
            self.http_announce(query, src, now, out);
            BENCODE
        } else if path.starts_with(b"/scrape") {
            self.http_scrape(query, out);
            BENCODE
        } else if path == b"/stats" {
            self.stats.add(Kind::HttpOther);
            self.snapshot().write_json(out);
            HttpAnswer {
                status: 200,
                content_type: "application/json",
            }
        } else if path == b"/metrics" {
            self.stats.add(Kind::HttpOther);
            self.snapshot().write_prometheus(out);
            HttpAnswer {
                status: 200,
                content_type: "text/plain; version=0.0.4",
            }
        } else {
            self.stats.add(Kind::HttpError);
            hp::write_failure(out, "not found");
            HttpAnswer {
                status: 404,
                content_type: "text/plain",
            }
        }
    }

    /// Counters and store totals.
    pub fn snapshot(&self) -> StatsSnapshot {
        self.stats.snapshot(&self.store)
    }

    fn http_announce(&self, query: &[u8], src: IpAddr, now: u32, out: &mut Vec<u8>) {
        let q = match hp::parse_announce(query) {
            Ok(q) => q,
            Err(e) => {
                tracing::trace!(%src, error = %e, "bad http announce");
                self.stats.add(Kind::HttpError);
                hp::write_failure(out, &e.to_string());
                return;
            }
        };
        if !self.allowed(&q.info_hash) {
            self.stats.add(Kind::HttpError);
            hp::write_failure(out, "torrent not allowed");
            return;
        }
        let ann = Announce {
            info_hash: q.info_hash,
            peer: SocketAddr::new(src, q.port),
            event: q.event,
            seeder: q.left == 0,
            numwant: q.numwant.map(|n| n as usize),
        };
        // Peers are gathered in a thread-local scratch buffer so the hot path
        // does not allocate.
        thread_local! {
            static PEERS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        PEERS.with(|p| {
            let mut peers = p.borrow_mut();
            peers.clear();
            match self.store.announce(&ann, now, usize::MAX, &mut peers) {
                Ok(c) => {
                    self.stats.add(Kind::HttpAnnounce);
                    let v6 = src.to_canonical().is_ipv6();
                    let (p4, p6): (&[u8], &[u8]) = if v6 { (&[], &peers) } else { (&peers, &[]) };
                    let h = hp::AnnounceHeader {
                        interval: self.cfg.interval,
                        min_interval: Some(self.cfg.min_interval),
                        complete: c.seeders,
                        incomplete: c.leechers,
                        tracker_id: None,
                        warning: None,
                    };
                    let form = if q.compact {
                        hp::PeerForm::Compact
                    } else {
                        hp::PeerForm::Dict
                    };
                    hp::write_announce_response(out, &h, p4, p6, form);
                }
                Err(e) => {
                    self.stats.add(Kind::HttpError);
                    hp::write_failure(out, &e.to_string());
                }
            }
        });
    }

    fn http_scrape(&self, query: &[u8], out: &mut Vec<u8>) {
        let hashes = match hp::parse_scrape(query, MAX_HTTP_SCRAPE) {
            Ok(h) if h.is_empty() => {
                self.stats.add(Kind::HttpError);
                hp::write_failure(out, "full scrape is not supported: give info_hash");
                return;
            }
            Ok(h) => h,
            Err(e) => {
                self.stats.add(Kind::HttpError);
                hp::write_failure(out, &e.to_string());
                return;
            }
        };
        self.stats.add(Kind::HttpScrape);
        let mut entries: Vec<_> = hashes
            .into_iter()
            .filter(|h| self.allowed(h))
            .map(|h| {
                let c = self.store.scrape(&h);
                (
                    h,
                    hp::ScrapeEntry {
                        complete: c.seeders,
                        downloaded: c.downloaded,
                        incomplete: c.leechers,
                    },
                )
            })
            .collect();
        hp::write_scrape_response(out, &mut entries);
    }
}
