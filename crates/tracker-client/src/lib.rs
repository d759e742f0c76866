//! Async tracker client (HTTP via rustls, UDP per BEP 15) with BEP 12 tiers.
//!
//! ```no_run
//! # async fn f() -> Result<(), shoal_tracker_client::TrackerError> {
//! use shoal_tracker_client::{AnnounceParams, Event, TrackerClient};
//! let mut c = TrackerClient::new(
//!     vec![vec!["udp://tracker.example:6969".into(), "http://t2.example/announce".into()]],
//!     [0; 20], *b"-SH0001-123456789012", 6881);
//! let r = c.announce(AnnounceParams { left: 1000, event: Event::Started, ..Default::default() }).await?;
//! println!("{} peers, next in {:?}", r.peers.len(), r.interval);
//! # Ok(()) }
//! ```
//!
//! - **Tiers (BEP 12)**: trackers within a tier are shuffled once, at
//!   construction; an announce tries tier 0 in order, then tier 1, …; the
//!   tracker that answers moves to the front of its tier.
//! - **HTTP**: `reqwest` with rustls (no OpenSSL); `trackerid` from a
//!   response is kept per tracker and sent back; `warning message` and
//!   `failure reason` are surfaced ([`AnnounceResponse::warning`],
//!   [`TrackerError::Failure`]).
//! - **UDP (BEP 15)**: connect then announce/scrape; the connection id is
//!   reused for one minute; a request unanswered after `base · 2ⁿ` (BEP 15:
//!   base 15 s, n up to 8) is sent again, with n growing over the whole
//!   exchange; [`ClientConfig::udp_base_timeout`] makes tests fast.
//! - **Bounds**: nothing a tracker sends can make the client hold much: a
//!   body over [`MAX_RESPONSE_BODY`] is an error (read no further, whatever
//!   the framing), at most [`MAX_REDIRECTS`] redirects are followed, at
//!   most [`MAX_PEERS_PER_RESPONSE`] distinct peers are kept from one
//!   answer, messages are cut to [`MAX_MESSAGE_LEN`] bytes, a tracker id
//!   over [`MAX_TRACKER_ID_LEN`] bytes is ignored, and a UDP datagram is
//!   read into a buffer of [`UDP_RECV_BUFFER`] bytes.

#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use shoal_tracker_proto::http as hp;
pub use shoal_tracker_proto::http::CryptoSupport;
use shoal_tracker_proto::udp as up;
pub use shoal_tracker_proto::{Event, InfoHash, PeerId};
use tokio::net::UdpSocket;

/// The most bytes read from one HTTP tracker response body. A tracker's
/// answer is a small bencoded dictionary (200 compact peers take 1.2 KB);
/// a body that declares more (`Content-Length`), or that goes past this
/// while being read (chunked, or delimited by the connection closing), is
/// an error ([`TrackerError::TooLarge`]) and nothing more of it is read.
pub const MAX_RESPONSE_BODY: usize = 2 << 20;

/// The most peers kept from one announce answer (compact `peers` and
/// `peers6` and the dictionary form together, duplicates counted once);
/// the rest are ignored. When both families are over, IPv4 and IPv6 peers
/// are taken in turn so neither crowds out the other.
pub const MAX_PEERS_PER_RESPONSE: usize = 2000;

/// The most bytes kept of a tracker's `failure reason`, `warning message`
/// or UDP error message (cut at a character boundary, `…` appended).
pub const MAX_MESSAGE_LEN: usize = 1024;

/// A `tracker id` longer than this is ignored (it would be sent back in
/// every later announce URL).
pub const MAX_TRACKER_ID_LEN: usize = 256;

/// The most HTTP redirects followed for one request (libtorrent's is 5).
pub const MAX_REDIRECTS: usize = 5;

/// The receive buffer for UDP tracker datagrams: a longer datagram is cut
/// to this (BEP 15 answers are far smaller).
pub const UDP_RECV_BUFFER: usize = 2048;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// BEP 15 retransmission base (15 s in the BEP).
    pub udp_base_timeout: Duration,
    /// Highest n in `base · 2ⁿ` (8 in the BEP); after the wait at this n
    /// the request fails with [`TrackerError::Timeout`].
    pub udp_max_n: u32,
    /// Whole-request timeout for HTTP trackers.
    pub http_timeout: Duration,
    /// If set, the most time spent on one tracker in one announce or scrape
    /// before moving on to the next (BEP 15's schedule alone can wait an
    /// hour on a dead UDP tracker; with several trackers, set this so the
    /// later ones get their turn). `None`: no bound beyond the schedule.
    pub tracker_timeout: Option<Duration>,
    /// What HTTP announces say about message stream encryption
    /// (`supportcrypto` / `requirecrypto`; UDP announces have no field
    /// for it).
    pub crypto: hp::CryptoSupport,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            udp_base_timeout: Duration::from_secs(15),
            udp_max_n: 8,
            http_timeout: Duration::from_secs(30),
            tracker_timeout: None,
            crypto: hp::CryptoSupport::Unstated,
        }
    }
}

/// What to announce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnnounceParams {
    /// Bytes uploaded.
    pub uploaded: u64,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left (0 = seeding).
    pub left: u64,
    /// The event.
    pub event: Event,
    /// Peers wanted (`None` = the tracker's default).
    pub numwant: Option<u32>,
}

/// A tracker's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// The tracker URL that answered.
    pub tracker: String,
    /// When to announce next.
    pub interval: Duration,
    /// The tracker's minimum interval, if given.
    pub min_interval: Option<Duration>,
    /// Seeders, if given.
    pub seeders: Option<u32>,
    /// Leechers, if given.
    pub leechers: Option<u32>,
    /// The peers.
    pub peers: Vec<SocketAddr>,
    /// A warning from the tracker, to show the user.
    pub warning: Option<String>,
    /// Trackers tried before this one that failed, with why.
    pub failed: Vec<(String, TrackerError)>,
}

/// Swarm counts from a scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeResponse {
    /// The tracker URL that answered.
    pub tracker: String,
    /// Seeders.
    pub seeders: u32,
    /// Leechers.
    pub leechers: u32,
    /// Completed downloads.
    pub downloaded: u32,
}

/// Why an announce or scrape failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    /// The tracker refused, with its `failure reason` (HTTP) or error
    /// message (UDP): show it to the user.
    #[error("tracker says: {0}")]
    Failure(String),
    /// The URL is not http(s):// or udp://, or is malformed.
    #[error("unsupported tracker URL {0}")]
    BadUrl(String),
    /// HTTP-level failure (connection, status, TLS).
    #[error("http: {0}")]
    Http(String),
    /// Socket or name resolution failure.
    #[error("i/o: {0}")]
    Io(String),
    /// No answer within the retransmission schedule / timeout.
    #[error("no answer from tracker")]
    Timeout,
    /// The answer could not be understood.
    #[error("bad answer: {0}")]
    Protocol(String),
    /// The HTTP body declared or reached more than [`MAX_RESPONSE_BODY`]
    /// bytes (the limit is given).
    #[error("response body larger than {0} bytes")]
    TooLarge(usize),
    /// The tracker does not support scrape (BEP 48 URL rule).
    #[error("scrape not supported")]
    NoScrape,
    /// The announce list is empty.
    #[error("no trackers")]
    NoTrackers,
    /// Every tracker failed; each with its error, in the order tried.
    #[error("all trackers failed: {}", .0.iter().map(|(u, e)| format!("{u}: {e}")).collect::<Vec<_>>().join("; "))]
    AllFailed(Vec<(String, TrackerError)>),
}

/// Per-tracker state.
#[derive(Debug, Clone)]
struct Entry {
    url: String,
    tracker_id: Option<Vec<u8>>,
    /// The UDP socket (kept: connection ids are tied to its source port)
    /// and whether it is IPv6.
    udp_sock: Option<(Arc<UdpSocket>, bool)>,
    udp_conn: Option<(u64, Instant)>,
}

/// A torrent's trackers, announced to as BEP 12 says.
#[derive(Debug)]
pub struct TrackerClient {
    tiers: Vec<Vec<Entry>>,
    info_hash: InfoHash,
    peer_id: PeerId,
    port: u16,
    key: u32,
    cfg: ClientConfig,
    http: Option<reqwest::Client>,
}

/// How long a UDP connection id is used (BEP 15: one minute).
const UDP_CONN_TTL: Duration = Duration::from_secs(60);

impl TrackerClient {
    /// A client for `announce_list` (tiers of URLs, as in a torrent's
    /// `announce-list`, or `vec![vec![announce]]`), with default settings.
    pub fn new(
        announce_list: Vec<Vec<String>>,
        info_hash: InfoHash,
        peer_id: PeerId,
        port: u16,
    ) -> Self {
        TrackerClient::with_config(
            announce_list,
            info_hash,
            peer_id,
            port,
            ClientConfig::default(),
        )
    }

    /// As [`TrackerClient::new`] with settings.
    pub fn with_config(
        announce_list: Vec<Vec<String>>,
        info_hash: InfoHash,
        peer_id: PeerId,
        port: u16,
        cfg: ClientConfig,
    ) -> Self {
        let mut rng = rand::thread_rng();
        let tiers = announce_list
            .into_iter()
            .map(|tier| {
                let mut t: Vec<Entry> = tier
                    .into_iter()
                    .map(|url| Entry {
                        url,
                        tracker_id: None,
                        udp_sock: None,
                        udp_conn: None,
                    })
                    .collect();
                t.shuffle(&mut rng);
                t
            })
            .filter(|t| !t.is_empty())
            .collect();
        TrackerClient {
            tiers,
            info_hash,
            peer_id,
            port,
            key: rand::random(),
            cfg,
            http: None,
        }
    }

    /// The tiers in their current order.
    pub fn tiers(&self) -> Vec<Vec<String>> {
        self.tiers
            .iter()
            .map(|t| t.iter().map(|e| e.url.clone()).collect())
            .collect()
    }

    fn http_client(&mut self) -> Result<reqwest::Client, TrackerError> {
        if let Some(c) = &self.http {
            return Ok(c.clone());
        }
        let c = reqwest::Client::builder()
            .timeout(self.cfg.http_timeout)
            .user_agent(concat!("Shoal/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .build()
            .map_err(|e| TrackerError::Http(e.to_string()))?;
        self.http = Some(c.clone());
        Ok(c)
    }

    /// Announce: tries the trackers tier by tier until one answers, moves
    /// it to the front of its tier, and returns its answer.
    pub async fn announce(&mut self, p: AnnounceParams) -> Result<AnnounceResponse, TrackerError> {
        let (t, i, mut resp, failed) = self.first_answer(Announce(&p)).await?;
        let e = self.tiers[t].remove(i);
        self.tiers[t].insert(0, e);
        resp.failed = failed;
        Ok(resp)
    }

    /// Scrape our torrent at the first tracker (in tier order) that answers.
    pub async fn scrape(&mut self) -> Result<ScrapeResponse, TrackerError> {
        let (_, _, resp, _) = self.first_answer(Scrape).await?;
        Ok(resp)
    }

    /// Run `op` on each tracker in tier order, each bounded by
    /// `tracker_timeout`, until one succeeds. Returns the tier and index of
    /// the one that answered, its answer, and the trackers that failed
    /// before it; or every failure.
    async fn first_answer<O: TrackerOp>(
        &mut self,
        op: O,
    ) -> Result<(usize, usize, O::Answer, Vec<(String, TrackerError)>), TrackerError> {
        if self.tiers.is_empty() {
            return Err(TrackerError::NoTrackers);
        }
        let mut failed = Vec::new();
        for t in 0..self.tiers.len() {
            for i in 0..self.tiers[t].len() {
                let mut e = self.tiers[t][i].clone();
                let r = match self.cfg.tracker_timeout {
                    Some(limit) => tokio::time::timeout(limit, op.run(self, &mut e))
                        .await
                        .unwrap_or(Err(TrackerError::Timeout)),
                    None => op.run(self, &mut e).await,
                };
                let url = e.url.clone();
                self.tiers[t][i] = e;
                match r {
                    Ok(answer) => return Ok((t, i, answer, failed)),
                    Err(err) => {
                        tracing::debug!(tracker = %url, error = %err, "tracker request failed");
                        failed.push((url, err));
                    }
                }
            }
        }
        Err(TrackerError::AllFailed(failed))
    }

    async fn announce_entry(
        &mut self,
        e: &mut Entry,
        p: &AnnounceParams,
    ) -> Result<AnnounceResponse, TrackerError> {
        if e.url.starts_with("http://") || e.url.starts_with("https://") {
            self.http_announce(e, p).await
        } else if let Some(rest) = e.url.strip_prefix("udp://") {
            let hostport = rest.split('/').next().unwrap_or_default().to_string();
            self.udp_announce(e, &hostport, p).await
        } else {
            Err(TrackerError::BadUrl(e.url.clone()))
        }
    }

    async fn scrape_entry(&mut self, e: &mut Entry) -> Result<ScrapeResponse, TrackerError> {
        if e.url.starts_with("http://") || e.url.starts_with("https://") {
            let url = hp::scrape_url(&e.url, &[self.info_hash]).ok_or(TrackerError::NoScrape)?;
            let body = self.http_get(&url).await?;
            let entries = hp::parse_scrape_response(&body).map_err(response_error)?;
            let s = entries
                .into_iter()
                .find(|(h, _)| *h == self.info_hash)
                .map(|(_, s)| s)
                .unwrap_or_default();
            Ok(ScrapeResponse {
                tracker: e.url.clone(),
                seeders: s.complete,
                leechers: s.incomplete,
                downloaded: s.downloaded,
            })
        } else if let Some(rest) = e.url.strip_prefix("udp://") {
            let hostport = rest.split('/').next().unwrap_or_default().to_string();
            let (sock, v6) = entry_socket(e, &hostport).await?;
            let info_hash = self.info_hash;
            let resp = self
                .udp_exchange(
                    e,
                    &sock,
                    |conn, tid, out| up::write_scrape_request(out, conn, tid, &[info_hash]),
                    v6,
                )
                .await?;
            match resp {
                up::Response::Scrape { entries, .. } => {
                    let s = entries.first().copied().unwrap_or_default();
                    Ok(ScrapeResponse {
                        tracker: e.url.clone(),
                        seeders: s.seeders,
                        leechers: s.leechers,
                        downloaded: s.completed,
                    })
                }
                other => Err(TrackerError::Protocol(format!("unexpected {other:?}"))),
            }
        } else {
            Err(TrackerError::BadUrl(e.url.clone()))
        }
    }

    async fn http_get(&mut self, url: &str) -> Result<Vec<u8>, TrackerError> {
        let client = self.http_client()?;
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| TrackerError::Http(e.without_url().to_string()))?;
        let status = resp.status();
        let body = read_bounded_body(resp).await?;
        if !status.is_success() {
            // Trackers often explain a refusal in a bencoded body.
            if let Err(hp::ResponseError::Failure(f)) = hp::parse_announce_response(&body) {
                return Err(TrackerError::Failure(bounded_message(f)));
            }
            return Err(TrackerError::Http(format!("status {status}")));
        }
        Ok(body)
    }

    async fn http_announce(
        &mut self,
        e: &mut Entry,
        p: &AnnounceParams,
    ) -> Result<AnnounceResponse, TrackerError> {
        let url = hp::announce_url(
            &e.url,
            &hp::AnnounceQuery {
                info_hash: &self.info_hash,
                peer_id: &self.peer_id,
                port: self.port,
                uploaded: p.uploaded,
                downloaded: p.downloaded,
                left: p.left,
                event: p.event,
                numwant: p.numwant,
                key: Some(self.key),
                tracker_id: e.tracker_id.as_deref(),
                crypto: self.cfg.crypto,
            },
        );
        let body = self.http_get(&url).await?;
        let r = hp::parse_announce_response(&body).map_err(response_error)?;
        if let Some(t) = r.tracker_id {
            if t.len() <= MAX_TRACKER_ID_LEN {
                e.tracker_id = Some(t);
            } else {
                tracing::debug!(tracker = %e.url, len = t.len(), "tracker id too long, ignored");
            }
        }
        Ok(AnnounceResponse {
            tracker: e.url.clone(),
            interval: Duration::from_secs(u64::from(r.interval)),
            min_interval: r.min_interval.map(|m| Duration::from_secs(u64::from(m))),
            seeders: r.complete,
            leechers: r.incomplete,
            peers: bounded_peers(r.peers),
            warning: r.warning.map(bounded_message),
            failed: Vec::new(),
        })
    }

    async fn udp_announce(
        &mut self,
        e: &mut Entry,
        hostport: &str,
        p: &AnnounceParams,
    ) -> Result<AnnounceResponse, TrackerError> {
        let (sock, v6) = entry_socket(e, hostport).await?;
        let (info_hash, peer_id, key, port) = (self.info_hash, self.peer_id, self.key, self.port);
        let p = *p;
        let resp = self
            .udp_exchange(
                e,
                &sock,
                move |conn, tid, out| {
                    up::write_announce_request(
                        out,
                        &up::AnnounceRequest {
                            connection_id: conn,
                            transaction_id: tid,
                            info_hash,
                            peer_id,
                            downloaded: p.downloaded,
                            left: p.left,
                            uploaded: p.uploaded,
                            event: p.event,
                            ip: 0,
                            key,
                            num_want: p
                                .numwant
                                .map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX)),
                            port,
                        },
                    )
                },
                v6,
            )
            .await?;
        match resp {
            up::Response::Announce {
                interval,
                leechers,
                seeders,
                peers,
                ..
            } => Ok(AnnounceResponse {
                tracker: e.url.clone(),
                interval: Duration::from_secs(u64::from(interval)),
                min_interval: None,
                seeders: Some(seeders),
                leechers: Some(leechers),
                peers: bounded_peers(peers),
                warning: None,
                failed: Vec::new(),
            }),
            other => Err(TrackerError::Protocol(format!("unexpected {other:?}"))),
        }
    }

    /// Connect (unless a fresh connection id is cached) and send the request
    /// built by `build`, retransmitting per BEP 15.
    async fn udp_exchange(
        &self,
        e: &mut Entry,
        sock: &UdpSocket,
        build: impl Fn(u64, u32, &mut Vec<u8>),
        v6: bool,
    ) -> Result<up::Response, TrackerError> {
        let mut n = 0u32;
        let mut buf = vec![0u8; UDP_RECV_BUFFER];
        let mut out = Vec::with_capacity(128);
        let mut reconnected = false;
        loop {
            let conn = match e.udp_conn {
                Some((c, at)) if at.elapsed() < UDP_CONN_TTL => c,
                _ => {
                    let tid: u32 = rand::random();
                    out.clear();
                    up::write_connect_request(&mut out, tid);
                    match self
                        .udp_round(sock, &out, tid, &mut n, &mut buf, v6)
                        .await?
                    {
                        up::Response::Connect { connection_id, .. } => {
                            reconnected = true;
                            e.udp_conn = Some((connection_id, Instant::now()));
                            connection_id
                        }
                        up::Response::Error { message, .. } => {
                            return Err(TrackerError::Failure(bounded_message(message)))
                        }
                        other => {
                            return Err(TrackerError::Protocol(format!("unexpected {other:?}")))
                        }
                    }
                }
            };
            let tid: u32 = rand::random();
            out.clear();
            build(conn, tid, &mut out);
            match self.udp_round(sock, &out, tid, &mut n, &mut buf, v6).await {
                Ok(up::Response::Error { message, .. }) => {
                    e.udp_conn = None;
                    // A cached id the tracker no longer takes (it restarted,
                    // or its window moved on): reconnect once.
                    if message.contains("connection id") && !reconnected {
                        continue;
                    }
                    return Err(TrackerError::Failure(bounded_message(message)));
                }
                other => return other,
            }
        }
    }

    /// Send `pkt` and wait for the answer with transaction id `tid`,
    /// resending after `base · 2ⁿ` and bumping the shared `n`.
    async fn udp_round(
        &self,
        sock: &UdpSocket,
        pkt: &[u8],
        tid: u32,
        n: &mut u32,
        buf: &mut [u8],
        v6: bool,
    ) -> Result<up::Response, TrackerError> {
        loop {
            if *n > self.cfg.udp_max_n {
                return Err(TrackerError::Timeout);
            }
            sock.send(pkt)
                .await
                .map_err(|e| TrackerError::Io(e.to_string()))?;
            let wait = self.cfg.udp_base_timeout.saturating_mul(1 << (*n).min(16));
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                match tokio::time::timeout_at(deadline, sock.recv(buf)).await {
                    Err(_) => break,
                    // ICMP port unreachable and the like: keep waiting for
                    // the schedule, the tracker may come up.
                    Ok(Err(_)) => {
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                    Ok(Ok(len)) => match up::parse_response(&buf[..len], v6) {
                        Ok(r) if r.transaction_id() == tid => return Ok(r),
                        _ => continue,
                    },
                }
            }
            *n += 1;
            tracing::debug!(n = *n, "udp tracker: no answer, retransmitting");
        }
    }
}

/// Read a response body, failing with [`TrackerError::TooLarge`] as soon as
/// it declares or reaches more than [`MAX_RESPONSE_BODY`] bytes.
async fn read_bounded_body(mut resp: reqwest::Response) -> Result<Vec<u8>, TrackerError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BODY as u64)
    {
        return Err(TrackerError::TooLarge(MAX_RESPONSE_BODY));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| TrackerError::Http(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BODY {
            return Err(TrackerError::TooLarge(MAX_RESPONSE_BODY));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `s` cut to at most [`MAX_MESSAGE_LEN`] bytes (at a character boundary),
/// with `…` appended when cut.
fn bounded_message(mut s: String) -> String {
    if s.len() > MAX_MESSAGE_LEN {
        let mut end = MAX_MESSAGE_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// At most [`MAX_PEERS_PER_RESPONSE`] distinct peers of `peers`, in their
/// order within each family; IPv4 and IPv6 peers taken in turn.
fn bounded_peers(peers: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    let (mut n4, mut n6) = (0usize, 0usize);
    for p in peers {
        let n = if p.is_ipv4() { &mut n4 } else { &mut n6 };
        if *n < MAX_PEERS_PER_RESPONSE && seen.insert(p) {
            *n += 1;
            kept.push(p);
        }
    }
    if kept.len() <= MAX_PEERS_PER_RESPONSE {
        return kept;
    }
    let (v4, v6): (Vec<_>, Vec<_>) = kept.into_iter().partition(SocketAddr::is_ipv4);
    let mut out = Vec::with_capacity(MAX_PEERS_PER_RESPONSE);
    let (mut a, mut b) = (v4.into_iter(), v6.into_iter());
    while out.len() < MAX_PEERS_PER_RESPONSE {
        match (a.next(), b.next()) {
            (None, None) => break,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
    out.truncate(MAX_PEERS_PER_RESPONSE);
    out
}

fn response_error(e: hp::ResponseError) -> TrackerError {
    match e {
        hp::ResponseError::Failure(f) => TrackerError::Failure(bounded_message(f)),
        other => TrackerError::Protocol(other.to_string()),
    }
}

/// The entry's UDP socket, made on first use.
async fn entry_socket(
    e: &mut Entry,
    hostport: &str,
) -> Result<(Arc<UdpSocket>, bool), TrackerError> {
    if let Some((s, v6)) = &e.udp_sock {
        return Ok((s.clone(), *v6));
    }
    let (s, v6) = udp_socket(hostport).await?;
    let s = Arc::new(s);
    e.udp_sock = Some((s.clone(), v6));
    e.udp_conn = None;
    Ok((s, v6))
}

/// A UDP socket connected to `hostport`; returns whether it is IPv6.
async fn udp_socket(hostport: &str) -> Result<(UdpSocket, bool), TrackerError> {
    let addr = tokio::net::lookup_host(hostport)
        .await
        .map_err(|e| TrackerError::Io(format!("{hostport}: {e}")))?
        .next()
        .ok_or_else(|| TrackerError::Io(format!("{hostport}: no address")))?;
    let bind: SocketAddr = if addr.is_ipv6() {
        "[::]:0"
            .parse()
            .map_err(|_| TrackerError::Io("bind".into()))?
    } else {
        ([0, 0, 0, 0], 0).into()
    };
    let s = UdpSocket::bind(bind)
        .await
        .map_err(|e| TrackerError::Io(e.to_string()))?;
    s.connect(addr)
        .await
        .map_err(|e| TrackerError::Io(e.to_string()))?;
    Ok((s, addr.is_ipv6()))
}

/// One request that [`TrackerClient::first_answer`] tries tracker by tracker.
trait TrackerOp {
    /// What a tracker answers.
    type Answer;
    /// Ask the tracker `e`.
    fn run(
        &self,
        c: &mut TrackerClient,
        e: &mut Entry,
    ) -> impl std::future::Future<Output = Result<Self::Answer, TrackerError>> + Send;
}

/// An announce with these parameters.
struct Announce<'p>(&'p AnnounceParams);

impl TrackerOp for Announce<'_> {
    type Answer = AnnounceResponse;
    async fn run(
        &self,
        c: &mut TrackerClient,
        e: &mut Entry,
    ) -> Result<AnnounceResponse, TrackerError> {
        c.announce_entry(e, self.0).await
    }
}

/// A scrape of our torrent.
struct Scrape;

impl TrackerOp for Scrape {
    type Answer = ScrapeResponse;
    async fn run(
        &self,
        c: &mut TrackerClient,
        e: &mut Entry,
    ) -> Result<ScrapeResponse, TrackerError> {
        c.scrape_entry(e).await
    }
}
