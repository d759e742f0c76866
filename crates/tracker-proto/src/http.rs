//! HTTP tracker protocol (BEP 3, BEP 23, BEP 7, BEP 48): query strings and
//! bencoded responses.
//!
//! The server side parses a query string with [`parse_announce`] or
//! [`parse_scrape`] (raw bytes, no allocation for announces) and writes its
//! answer with [`write_announce_response`], [`write_scrape_response`] or
//! [`write_failure`]. The client side builds URLs with [`announce_url`] and
//! [`scrape_url`] and reads answers with [`parse_announce_response`] and
//! [`parse_scrape_response`].

use std::net::{IpAddr, SocketAddr};

use shoal_bencode::{encode_bytes, encode_int, Value};

use crate::urlenc::{self, decode_fixed};
use crate::{parse_compact_v4, parse_compact_v6, Event, InfoHash, PeerId};

/// Why a query string was refused. The `Display` text is what the tracker
/// sends back as `failure reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A required parameter is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A parameter's value is malformed or out of range.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A scrape names more info-hashes than allowed.
    #[error("too many info_hash values (at most {0})")]
    TooManyHashes(usize),
}

/// A parsed HTTP announce. Optional free-form values (`key`, `trackerid`,
/// `ip`) are kept as the raw, still percent-encoded slices of the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest<'a> {
    /// The torrent's info-hash (raw bytes, URL-decoded).
    pub info_hash: InfoHash,
    /// The client's peer id (raw bytes, URL-decoded).
    pub peer_id: PeerId,
    /// The port the client listens on (never 0).
    pub port: u16,
    /// Bytes uploaded so far.
    pub uploaded: u64,
    /// Bytes downloaded so far.
    pub downloaded: u64,
    /// Bytes left to download (0 for a seeder).
    pub left: u64,
    /// The event, if any.
    pub event: Event,
    /// Whether the client accepts compact peer lists (default: yes).
    pub compact: bool,
    /// Whether the client asked to leave out peer ids.
    pub no_peer_id: bool,
    /// Peers wanted, if given.
    pub numwant: Option<u32>,
    /// The client's `key`, raw.
    pub key: Option<&'a [u8]>,
    /// The `trackerid` the client got earlier, raw.
    pub tracker_id: Option<&'a [u8]>,
    /// The `ip` the client claims, raw (ignored by Shoal's tracker).
    pub ip: Option<&'a [u8]>,
}

/// Split a query string into `(name, value)` pairs of raw slices.
fn pairs(query: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (p, &p[p.len()..]),
        })
}

/// Parse an unsigned decimal (at most 20 digits, no sign) from raw bytes.
fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Parse the query string of an announce (the part after `?`, raw bytes).
///
/// Required: `info_hash`, `peer_id`, `port` (1..=65535). Absent counters
/// read as 0 (`left` too). `numwant` must be a non-negative number (larger
/// values are clamped by the tracker, not here); an unknown `event` is an
/// error, except BEP 21's `paused`, read as no event. When a parameter is
/// repeated the first one wins.
pub fn parse_announce(query: &[u8]) -> Result<AnnounceRequest<'_>, QueryError> {
    let mut info_hash = None;
    let mut peer_id = None;
    let mut port = None;
    let mut req = AnnounceRequest {
        info_hash: [0; 20],
        peer_id: [0; 20],
        port: 0,
        uploaded: 0,
        downloaded: 0,
        left: 0,
        event: Event::None,
        compact: true,
        no_peer_id: false,
        numwant: None,
        key: None,
        tracker_id: None,
        ip: None,
    };
    let (mut up, mut down, mut left, mut ev, mut nw, mut cp, mut npi) =
        (false, false, false, false, false, false, false);
    for (k, v) in pairs(query) {
        match k {
            b"info_hash" if info_hash.is_none() => {
                info_hash =
                    Some(decode_fixed::<20>(v).map_err(|_| QueryError::Invalid("info_hash"))?);
            }
            b"peer_id" if peer_id.is_none() => {
                peer_id = Some(decode_fixed::<20>(v).map_err(|_| QueryError::Invalid("peer_id"))?);
            }
            b"port" if port.is_none() => {
                let p = parse_u64(v)
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|&p| p != 0)
                    .ok_or(QueryError::Invalid("port"))?;
                port = Some(p);
            }
            b"uploaded" if !up => {
                up = true;
                req.uploaded = parse_u64(v).ok_or(QueryError::Invalid("uploaded"))?;
            }
            b"downloaded" if !down => {
                down = true;
                req.downloaded = parse_u64(v).ok_or(QueryError::Invalid("downloaded"))?;
            }
            b"left" if !left => {
                left = true;
                req.left = parse_u64(v).ok_or(QueryError::Invalid("left"))?;
            }
            b"event" if !ev => {
                ev = true;
                req.event = match v {
                    b"" | b"empty" | b"paused" => Event::None,
                    b"started" => Event::Started,
                    b"completed" => Event::Completed,
                    b"stopped" => Event::Stopped,
                    _ => return Err(QueryError::Invalid("event")),
                };
            }
            b"numwant" | b"num_want" if !nw => {
                nw = true;
                let n = parse_u64(v).ok_or(QueryError::Invalid("numwant"))?;
                req.numwant = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            b"compact" if !cp => {
                cp = true;
                req.compact = v != b"0";
            }
            b"no_peer_id" if !npi => {
                npi = true;
                req.no_peer_id = v != b"0";
            }
            b"key" if req.key.is_none() => req.key = Some(v),
            b"trackerid" if req.tracker_id.is_none() => req.tracker_id = Some(v),
            b"ip" if req.ip.is_none() => req.ip = Some(v),
            _ => {}
        }
    }
    req.info_hash = info_hash.ok_or(QueryError::Missing("info_hash"))?;
    req.peer_id = peer_id.ok_or(QueryError::Missing("peer_id"))?;
    req.port = port.ok_or(QueryError::Missing("port"))?;
    Ok(req)
}

/// Parse the query string of a scrape: every `info_hash` value, at most
/// `max` of them. No `info_hash` at all (a "full scrape") gives an empty list.
pub fn parse_scrape(query: &[u8], max: usize) -> Result<Vec<InfoHash>, QueryError> {
    let mut out = Vec::new();
    for (k, v) in pairs(query) {
        if k == b"info_hash" {
            if out.len() == max {
                return Err(QueryError::TooManyHashes(max));
            }
            out.push(decode_fixed::<20>(v).map_err(|_| QueryError::Invalid("info_hash"))?);
        }
    }
    Ok(out)
}

/// What a client puts in an announce URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceQuery<'a> {
    /// The torrent's info-hash.
    pub info_hash: &'a InfoHash,
    /// Our peer id.
    pub peer_id: &'a PeerId,
    /// Our listening port.
    pub port: u16,
    /// Bytes uploaded.
    pub uploaded: u64,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left.
    pub left: u64,
    /// The event.
    pub event: Event,
    /// Peers wanted (omitted when `None`).
    pub numwant: Option<u32>,
    /// Our `key` (sent as 8 hex digits).
    pub key: Option<u32>,
    /// The tracker id the tracker gave us earlier.
    pub tracker_id: Option<&'a [u8]>,
    /// What we say about message stream encryption.
    pub crypto: CryptoSupport,
}

/// What an announcer says about message stream encryption (MSE/PE), as
/// Transmission and libtorrent do: `supportcrypto=1` when it speaks MSE,
/// with `requirecrypto=1` when it speaks nothing else. Trackers that
/// understand these may keep plaintext-only peers away from a peer that
/// requires encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CryptoSupport {
    /// Nothing said (plaintext only, or the caller does not tell).
    #[default]
    Unstated,
    /// `supportcrypto=1`: encrypted connections welcome, plaintext too.
    Supported,
    /// `supportcrypto=1&requirecrypto=1`: encrypted connections only.
    Required,
}

/// Append `?` or `&` to a base URL, whichever continues its query.
fn query_sep(url: &str) -> char {
    if url.contains('?') {
        '&'
    } else {
        '?'
    }
}

/// The full announce URL: `base` with the BEP 3 parameters appended
/// (`compact=1` always; an existing query in `base` is kept).
pub fn announce_url(base: &str, q: &AnnounceQuery<'_>) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(base.len() + 256);
    s.push_str(base);
    s.push(query_sep(base));
    s.push_str("info_hash=");
    urlenc::encode_into(&mut s, q.info_hash);
    s.push_str("&peer_id=");
    urlenc::encode_into(&mut s, q.peer_id);
    let _ = write!(
        s,
        "&port={}&uploaded={}&downloaded={}&left={}&compact=1",
        q.port, q.uploaded, q.downloaded, q.left
    );
    if q.event != Event::None {
        let _ = write!(s, "&event={}", q.event.as_str());
    }
    if let Some(n) = q.numwant {
        let _ = write!(s, "&numwant={n}");
    }
    if let Some(k) = q.key {
        let _ = write!(s, "&key={k:08X}");
    }
    if let Some(t) = q.tracker_id {
        s.push_str("&trackerid=");
        urlenc::encode_into(&mut s, t);
    }
    match q.crypto {
        CryptoSupport::Unstated => {}
        CryptoSupport::Supported => s.push_str("&supportcrypto=1"),
        CryptoSupport::Required => s.push_str("&supportcrypto=1&requirecrypto=1"),
    }
    s
}

/// The BEP 48 scrape URL for an announce URL: the last path component must
/// start with `announce`, which becomes `scrape`; otherwise scraping is not
/// supported and this returns `None`. The `info_hash` parameters are appended.
pub fn scrape_url(announce: &str, info_hashes: &[InfoHash]) -> Option<String> {
    let (path, query) = match announce.find('?') {
        Some(i) => (&announce[..i], Some(&announce[i + 1..])),
        None => (announce, None),
    };
    let slash = path.rfind('/')?;
    let last = &path[slash + 1..];
    let rest = last.strip_prefix("announce")?;
    let mut s = format!("{}scrape{}", &path[..=slash], rest);
    let mut sep = '?';
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        s.push('?');
        s.push_str(q);
        sep = '&';
    }
    for h in info_hashes {
        s.push(sep);
        s.push_str("info_hash=");
        urlenc::encode_into(&mut s, h);
        sep = '&';
    }
    Some(s)
}

/// The counts and options at the top of an announce response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceHeader<'a> {
    /// Seconds between regular announces.
    pub interval: u32,
    /// Minimum seconds between announces, if any.
    pub min_interval: Option<u32>,
    /// Seeders in the swarm.
    pub complete: u32,
    /// Leechers in the swarm.
    pub incomplete: u32,
    /// A tracker id for the client to send back, if any.
    pub tracker_id: Option<&'a [u8]>,
    /// A warning for the user, if any.
    pub warning: Option<&'a str>,
}

/// How the peers of an announce response are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerForm {
    /// Compact strings: `peers` (6 bytes each) and `peers6` (18 bytes each).
    Compact,
    /// The original list of dictionaries with `ip` and `port` (the tracker
    /// keeps no peer ids, so `peer id` is left out, as with `no_peer_id`).
    Dict,
}

/// Append a bencoded announce response. `peers4` and `peers6` are compact
/// peer strings (6- and 18-byte entries); an empty `peers6` is left out.
pub fn write_announce_response(
    out: &mut Vec<u8>,
    h: &AnnounceHeader<'_>,
    peers4: &[u8],
    peers6: &[u8],
    form: PeerForm,
) {
    out.push(b'd');
    out.extend_from_slice(b"8:complete");
    encode_int(out, i64::from(h.complete));
    out.extend_from_slice(b"10:incomplete");
    encode_int(out, i64::from(h.incomplete));
    out.extend_from_slice(b"8:interval");
    encode_int(out, i64::from(h.interval));
    if let Some(m) = h.min_interval {
        out.extend_from_slice(b"12:min interval");
        encode_int(out, i64::from(m));
    }
    match form {
        PeerForm::Compact => {
            out.extend_from_slice(b"5:peers");
            encode_bytes(out, peers4);
            if !peers6.is_empty() {
                out.extend_from_slice(b"6:peers6");
                encode_bytes(out, peers6);
            }
        }
        PeerForm::Dict => {
            out.extend_from_slice(b"5:peersl");
            let all = parse_compact_v4(peers4)
                .into_iter()
                .chain(parse_compact_v6(peers6));
            for p in all {
                out.extend_from_slice(b"d2:ip");
                encode_bytes(out, p.ip().to_string().as_bytes());
                out.extend_from_slice(b"4:port");
                encode_int(out, i64::from(p.port()));
                out.push(b'e');
            }
            out.push(b'e');
        }
    }
    if let Some(t) = h.tracker_id {
        out.extend_from_slice(b"10:tracker id");
        encode_bytes(out, t);
    }
    if let Some(w) = h.warning {
        out.extend_from_slice(b"15:warning message");
        encode_bytes(out, w.as_bytes());
    }
    out.push(b'e');
}

/// Append a bencoded failure response: `d14:failure reason<len>:<msg>e`.
pub fn write_failure(out: &mut Vec<u8>, reason: &str) {
    out.extend_from_slice(b"d14:failure reason");
    encode_bytes(out, reason.as_bytes());
    out.push(b'e');
}

/// One torrent's counts in a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeEntry {
    /// Seeders.
    pub complete: u32,
    /// Completed downloads ever counted.
    pub downloaded: u32,
    /// Leechers.
    pub incomplete: u32,
}

/// Append a bencoded scrape response (BEP 48). The entries must be given in
/// ascending info-hash order with no duplicates (bencode dictionaries are
/// sorted); [`write_scrape_response`] sorts them itself.
pub fn write_scrape_response(out: &mut Vec<u8>, entries: &mut [(InfoHash, ScrapeEntry)]) {
    entries.sort_unstable_by_key(|e| e.0);
    out.extend_from_slice(b"d5:filesd");
    let mut last: Option<InfoHash> = None;
    for (h, e) in entries.iter() {
        if last == Some(*h) {
            continue;
        }
        last = Some(*h);
        encode_bytes(out, h);
        out.extend_from_slice(b"d8:complete");
        encode_int(out, i64::from(e.complete));
        out.extend_from_slice(b"10:downloaded");
        encode_int(out, i64::from(e.downloaded));
        out.extend_from_slice(b"10:incomplete");
        encode_int(out, i64::from(e.incomplete));
        out.push(b'e');
    }
    out.extend_from_slice(b"ee");
}

/// Why a tracker's HTTP response could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The tracker refused: its `failure reason`, to show the user.
    #[error("tracker failure: {0}")]
    Failure(String),
    /// The body is not valid bencode.
    #[error("malformed response: {0}")]
    Bencode(#[from] shoal_bencode::DecodeError),
    /// The body is bencode but not the expected shape.
    #[error("malformed response: {0}")]
    Shape(&'static str),
}

/// A tracker's answer to an announce, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnounceResponse {
    /// Seconds until the next regular announce.
    pub interval: u32,
    /// The tracker's minimum announce interval, if it gave one.
    pub min_interval: Option<u32>,
    /// Seeders, if given.
    pub complete: Option<u32>,
    /// Leechers, if given.
    pub incomplete: Option<u32>,
    /// A tracker id to send back on later announces, if given.
    pub tracker_id: Option<Vec<u8>>,
    /// A warning to show the user, if given.
    pub warning: Option<String>,
    /// The peers (IPv4 and IPv6, compact or dictionary form).
    pub peers: Vec<SocketAddr>,
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// Decode a tracker response's top-level dictionary; a `failure reason` in
/// it becomes [`ResponseError::Failure`].
fn response_dict(body: &[u8]) -> Result<shoal_bencode::Dict<'_>, ResponseError> {
    let Value::Dict(d) = shoal_bencode::decode(body)? else {
        return Err(ResponseError::Shape("not a dictionary"));
    };
    if let Some(f) = d.get_bytes(b"failure reason") {
        return Err(ResponseError::Failure(
            String::from_utf8_lossy(f).into_owned(),
        ));
    }
    Ok(d)
}

/// Read a bencoded announce response. A `failure reason` gives
/// [`ResponseError::Failure`]; a missing `interval` reads as 1800 s.
pub fn parse_announce_response(body: &[u8]) -> Result<AnnounceResponse, ResponseError> {
    let d = response_dict(body)?;
    let mut r = AnnounceResponse {
        interval: d.get_int(b"interval").map(to_u32).unwrap_or(1800),
        min_interval: d.get_int(b"min interval").map(to_u32),
        complete: d.get_int(b"complete").map(to_u32),
        incomplete: d.get_int(b"incomplete").map(to_u32),
        tracker_id: d.get_bytes(b"tracker id").map(<[u8]>::to_vec),
        warning: d
            .get_bytes(b"warning message")
            .map(|w| String::from_utf8_lossy(w).into_owned()),
        peers: Vec::new(),
    };
    match d.get(b"peers") {
        Some(Value::Bytes(b)) => r.peers.extend(parse_compact_v4(b)),
        Some(Value::List(l)) => {
            for p in l {
                let Some(pd) = p.as_dict() else { continue };
                let ip = pd.get_str(b"ip").and_then(|s| s.parse::<IpAddr>().ok());
                let port = pd.get_int(b"port").and_then(|p| u16::try_from(p).ok());
                if let (Some(ip), Some(port)) = (ip, port) {
                    if port != 0 {
                        r.peers.push(SocketAddr::new(ip, port));
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(b) = d.get_bytes(b"peers6") {
        r.peers.extend(parse_compact_v6(b));
    }
    Ok(r)
}

/// Read a bencoded scrape response: the entries under `files`, in the
/// order given. A `failure reason` gives [`ResponseError::Failure`].
pub fn parse_scrape_response(body: &[u8]) -> Result<Vec<(InfoHash, ScrapeEntry)>, ResponseError> {
    let d = response_dict(body)?;
    let files = d
        .get_dict(b"files")
        .ok_or(ResponseError::Shape("no files dictionary"))?;
    let mut out = Vec::with_capacity(files.len());
    for (k, v) in files.entries() {
        let Ok(h) = <InfoHash>::try_from(*k) else {
            continue;
        };
        let Some(e) = v.as_dict() else { continue };
        out.push((
            h,
            ScrapeEntry {
                complete: e.get_int(b"complete").map(to_u32).unwrap_or(0),
                downloaded: e.get_int(b"downloaded").map(to_u32).unwrap_or(0),
                incomplete: e.get_int(b"incomplete").map(to_u32).unwrap_or(0),
            },
        ));
    }
    Ok(out)
}
