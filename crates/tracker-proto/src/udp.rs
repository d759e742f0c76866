//! UDP tracker protocol (BEP 15): connect, announce, scrape and error
//! packets in both directions, sans I/O.
//!
//! All integers are big-endian. Requests are parsed with [`parse_request`]
//! (server) and written with the `write_*_request` functions (client);
//! responses are written with the `write_*_response` functions (server) and
//! parsed with [`parse_response`] (client).

use std::net::SocketAddr;

use crate::{parse_compact_v4, parse_compact_v6, Event, InfoHash, PeerId};

/// The magic `protocol_id` of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// Action number of connect.
pub const ACTION_CONNECT: u32 = 0;
/// Action number of announce.
pub const ACTION_ANNOUNCE: u32 = 1;
/// Action number of scrape.
pub const ACTION_SCRAPE: u32 = 2;
/// Action number of error.
pub const ACTION_ERROR: u32 = 3;
/// Size of a connect request.
pub const CONNECT_REQUEST_LEN: usize = 16;
/// Size of an announce request without BEP 41 options.
pub const ANNOUNCE_REQUEST_LEN: usize = 98;
/// Size of the fixed part of an announce response.
pub const ANNOUNCE_RESPONSE_HEADER_LEN: usize = 20;
/// The largest datagram Shoal's tracker sends (fits any path MTU ≥ 1280
/// with IPv6 and UDP headers).
pub const MAX_DATAGRAM: usize = 1200;
/// Most IPv4 peers in one announce response: (1200 − 20) / 6.
pub const MAX_PEERS_V4: usize = (MAX_DATAGRAM - ANNOUNCE_RESPONSE_HEADER_LEN) / 6;
/// Most IPv6 peers in one announce response: (1200 − 20) / 18.
pub const MAX_PEERS_V6: usize = (MAX_DATAGRAM - ANNOUNCE_RESPONSE_HEADER_LEN) / 18;
/// Most info-hashes answered in one scrape.
pub const MAX_SCRAPE_HASHES: usize = 70;

/// Why a datagram could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// Too short to hold even a header (no transaction id to answer to).
    #[error("packet too short")]
    TooShort,
    /// A connect request without the magic protocol id.
    #[error("bad protocol id")]
    BadProtocolId,
    /// An action this side does not know.
    #[error("unknown action {0}")]
    UnknownAction(u32),
    /// A known action, but the packet is too short for it.
    #[error("truncated {0} packet")]
    Truncated(&'static str),
    /// The transaction id does not match the request's.
    #[error("transaction id mismatch")]
    TransactionMismatch,
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[i..i + 4]);
    u32::from_be_bytes(a)
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_be_bytes(a)
}

fn arr20(b: &[u8], i: usize) -> [u8; 20] {
    let mut a = [0u8; 20];
    a.copy_from_slice(&b[i..i + 20]);
    a
}

/// A BEP 15 announce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The connection id from the connect response.
    pub connection_id: u64,
    /// The transaction id.
    pub transaction_id: u32,
    /// The torrent's info-hash.
    pub info_hash: InfoHash,
    /// The client's peer id.
    pub peer_id: PeerId,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left.
    pub left: u64,
    /// Bytes uploaded.
    pub uploaded: u64,
    /// The event.
    pub event: Event,
    /// The IPv4 address the client claims (0 = the source address).
    pub ip: u32,
    /// The client's key.
    pub key: u32,
    /// Peers wanted (−1 = the tracker's default).
    pub num_want: i32,
    /// The client's listening port.
    pub port: u16,
}

/// A request read by [`parse_request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Connect: only a transaction id.
    Connect {
        /// The transaction id.
        transaction_id: u32,
    },
    /// Announce.
    Announce(AnnounceRequest),
    /// Scrape: the raw info-hashes, 20 bytes each (see [`Request::scrape_hashes`]).
    Scrape {
        /// The connection id.
        connection_id: u64,
        /// The transaction id.
        transaction_id: u32,
        /// Concatenated info-hashes, a multiple of 20 bytes, at most
        /// [`MAX_SCRAPE_HASHES`] of them (extra ones are dropped).
        info_hashes: &'a [u8],
    },
}

impl<'a> Request<'a> {
    /// The info-hashes of a scrape (empty for other requests).
    pub fn scrape_hashes(&self) -> impl Iterator<Item = InfoHash> + 'a {
        let b: &'a [u8] = match self {
            Request::Scrape { info_hashes, .. } => info_hashes,
            _ => &[],
        };
        b.chunks_exact(20).map(|c| arr20(c, 0))
    }
}

/// A request that could not be read but carries a transaction id, so the
/// server can answer with an error packet; `None` means drop silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestError {
    /// What was wrong.
    pub error: UdpError,
    /// The connection id and transaction id, when the packet had a header.
    pub header: Option<(u64, u32)>,
}

/// Parse a request datagram (server side).
///
/// Packets shorter than 16 bytes, and connect requests without the magic
/// protocol id, have no usable header (`header: None`). BEP 41 options after
/// an announce are ignored; scrape hashes beyond [`MAX_SCRAPE_HASHES`] and a
/// trailing partial hash are dropped.
pub fn parse_request(b: &[u8]) -> Result<Request<'_>, RequestError> {
    if b.len() < 16 {
        return Err(RequestError {
            error: UdpError::TooShort,
            header: None,
        });
    }
    let conn = u64_at(b, 0);
    let action = u32_at(b, 8);
    let tid = u32_at(b, 12);
    let err = |error| RequestError {
        error,
        header: Some((conn, tid)),
    };
    match action {
        ACTION_CONNECT => {
            if conn != PROTOCOL_ID {
                return Err(RequestError {
                    error: UdpError::BadProtocolId,
                    header: None,
                });
            }
            Ok(Request::Connect {
                transaction_id: tid,
            })
        }
        ACTION_ANNOUNCE => {
            if b.len() < ANNOUNCE_REQUEST_LEN {
                return Err(err(UdpError::Truncated("announce")));
            }
            Ok(Request::Announce(AnnounceRequest {
                connection_id: conn,
                transaction_id: tid,
                info_hash: arr20(b, 16),
                peer_id: arr20(b, 36),
                downloaded: u64_at(b, 56),
                left: u64_at(b, 64),
                uploaded: u64_at(b, 72),
                event: Event::from_udp(u32_at(b, 80)),
                ip: u32_at(b, 84),
                key: u32_at(b, 88),
                num_want: u32_at(b, 92) as i32,
                port: u16::from_be_bytes([b[96], b[97]]),
            }))
        }
        ACTION_SCRAPE => {
            let body = &b[16..];
            let n = (body.len() / 20).min(MAX_SCRAPE_HASHES);
            if n == 0 {
                return Err(err(UdpError::Truncated("scrape")));
            }
            Ok(Request::Scrape {
                connection_id: conn,
                transaction_id: tid,
                info_hashes: &body[..n * 20],
            })
        }
        a => Err(err(UdpError::UnknownAction(a))),
    }
}

/// Append a connect request.
pub fn write_connect_request(out: &mut Vec<u8>, transaction_id: u32) {
    out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
    out.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
}

/// Append an announce request.
pub fn write_announce_request(out: &mut Vec<u8>, r: &AnnounceRequest) {
    out.extend_from_slice(&r.connection_id.to_be_bytes());
    out.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    out.extend_from_slice(&r.transaction_id.to_be_bytes());
    out.extend_from_slice(&r.info_hash);
    out.extend_from_slice(&r.peer_id);
    out.extend_from_slice(&r.downloaded.to_be_bytes());
    out.extend_from_slice(&r.left.to_be_bytes());
    out.extend_from_slice(&r.uploaded.to_be_bytes());
    out.extend_from_slice(&r.event.to_udp().to_be_bytes());
    out.extend_from_slice(&r.ip.to_be_bytes());
    out.extend_from_slice(&r.key.to_be_bytes());
    out.extend_from_slice(&r.num_want.to_be_bytes());
    out.extend_from_slice(&r.port.to_be_bytes());
}

/// Append a scrape request for up to [`MAX_SCRAPE_HASHES`] info-hashes
/// (extra ones are not written).
pub fn write_scrape_request(
    out: &mut Vec<u8>,
    connection_id: u64,
    transaction_id: u32,
    info_hashes: &[InfoHash],
) {
    out.extend_from_slice(&connection_id.to_be_bytes());
    out.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    for h in info_hashes.iter().take(MAX_SCRAPE_HASHES) {
        out.extend_from_slice(h);
    }
}

/// Append a connect response.
pub fn write_connect_response(out: &mut Vec<u8>, transaction_id: u32, connection_id: u64) {
    out.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    out.extend_from_slice(&connection_id.to_be_bytes());
}

/// Append the fixed part of an announce response; the caller then appends
/// the compact peers (6 bytes each over IPv4, 18 over IPv6).
pub fn write_announce_response_header(
    out: &mut Vec<u8>,
    transaction_id: u32,
    interval: u32,
    leechers: u32,
    seeders: u32,
) {
    out.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    out.extend_from_slice(&interval.to_be_bytes());
    out.extend_from_slice(&leechers.to_be_bytes());
    out.extend_from_slice(&seeders.to_be_bytes());
}

/// Append the header of a scrape response; then append one
/// [`write_scrape_entry`] per requested info-hash, in request order.
pub fn write_scrape_response_header(out: &mut Vec<u8>, transaction_id: u32) {
    out.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
}

/// Append one scrape entry: seeders, completed, leechers.
pub fn write_scrape_entry(out: &mut Vec<u8>, seeders: u32, completed: u32, leechers: u32) {
    out.extend_from_slice(&seeders.to_be_bytes());
    out.extend_from_slice(&completed.to_be_bytes());
    out.extend_from_slice(&leechers.to_be_bytes());
}

/// Append an error response with a message.
pub fn write_error_response(out: &mut Vec<u8>, transaction_id: u32, message: &str) {
    out.extend_from_slice(&ACTION_ERROR.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    out.extend_from_slice(message.as_bytes());
}

/// One torrent's counts in a scrape response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeCounts {
    /// Seeders.
    pub seeders: u32,
    /// Completed downloads.
    pub completed: u32,
    /// Leechers.
    pub leechers: u32,
}

/// A response read by [`parse_response`] (client side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Connect response.
    Connect {
        /// The transaction id.
        transaction_id: u32,
        /// The connection id to use for the next requests.
        connection_id: u64,
    },
    /// Announce response.
    Announce {
        /// The transaction id.
        transaction_id: u32,
        /// Seconds until the next announce.
        interval: u32,
        /// Leechers in the swarm.
        leechers: u32,
        /// Seeders in the swarm.
        seeders: u32,
        /// The peers.
        peers: Vec<SocketAddr>,
    },
    /// Scrape response, entries in request order.
    Scrape {
        /// The transaction id.
        transaction_id: u32,
        /// One entry per info-hash asked for.
        entries: Vec<ScrapeCounts>,
    },
    /// Error response.
    Error {
        /// The transaction id.
        transaction_id: u32,
        /// The tracker's message.
        message: String,
    },
}

impl Response {
    /// The transaction id of any response.
    pub fn transaction_id(&self) -> u32 {
        match self {
            Response::Connect { transaction_id, .. }
            | Response::Announce { transaction_id, .. }
            | Response::Scrape { transaction_id, .. }
            | Response::Error { transaction_id, .. } => *transaction_id,
        }
    }
}

/// Parse a response datagram (client side). `ipv6` selects the 18-byte peer
/// form of announce responses (BEP 15: the form follows the address family
/// the request was sent over).
pub fn parse_response(b: &[u8], ipv6: bool) -> Result<Response, UdpError> {
    if b.len() < 8 {
        return Err(UdpError::TooShort);
    }
    let action = u32_at(b, 0);
    let tid = u32_at(b, 4);
    match action {
        ACTION_CONNECT => {
            if b.len() < 16 {
                return Err(UdpError::Truncated("connect"));
            }
            Ok(Response::Connect {
                transaction_id: tid,
                connection_id: u64_at(b, 8),
            })
        }
        ACTION_ANNOUNCE => {
            if b.len() < ANNOUNCE_RESPONSE_HEADER_LEN {
                return Err(UdpError::Truncated("announce"));
            }
            let body = &b[ANNOUNCE_RESPONSE_HEADER_LEN..];
            Ok(Response::Announce {
                transaction_id: tid,
                interval: u32_at(b, 8),
                leechers: u32_at(b, 12),
                seeders: u32_at(b, 16),
                peers: if ipv6 {
                    parse_compact_v6(body)
                } else {
                    parse_compact_v4(body)
                },
            })
        }
        ACTION_SCRAPE => Ok(Response::Scrape {
            transaction_id: tid,
            entries: b[8..]
                .chunks_exact(12)
                .map(|c| ScrapeCounts {
                    seeders: u32_at(c, 0),
                    completed: u32_at(c, 4),
                    leechers: u32_at(c, 8),
                })
                .collect(),
        }),
        ACTION_ERROR => Ok(Response::Error {
            transaction_id: tid,
            message: String::from_utf8_lossy(&b[8..]).into_owned(),
        }),
        a => Err(UdpError::UnknownAction(a)),
    }
}
