//! HTTP and UDP tracker protocol types and codecs, shared by the tracker
//! server (`shoal-tracker`) and the tracker client (`shoal-tracker-client`).
//!
//! Everything here is sans-I/O: functions take bytes and return values (or
//! append bytes to a caller's buffer), so both sides and the fuzz targets use
//! exactly the same code.
//!
//! - [`http`]: announce/scrape query strings (building them, and parsing them
//!   with raw-byte URL decoding), and the bencoded responses (compact BEP 23
//!   peers, the dictionary form, `peers6` of BEP 7, `failure reason`,
//!   `warning message`, `interval`, `min interval`, counts, `tracker id`),
//!   and the BEP 48 scrape response.
//! - [`udp`]: the BEP 15 packets (connect, announce, scrape, error) in both
//!   directions, with the IPv4 and IPv6 announce response forms.
//! - [`urlenc`]: percent-encoding of raw bytes.

#![warn(missing_docs)]

pub mod http;
pub mod udp;
pub mod urlenc;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A 20-byte SHA-1 info-hash.
pub type InfoHash = [u8; 20];

/// A 20-byte peer id.
pub type PeerId = [u8; 20];

/// The `event` of an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Event {
    /// A regular re-announce (no event).
    #[default]
    None,
    /// The download finished.
    Completed,
    /// The client started the torrent.
    Started,
    /// The client stopped the torrent.
    Stopped,
}

impl Event {
    /// The name used in HTTP query strings (`""` for [`Event::None`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::None => "",
            Event::Completed => "completed",
            Event::Started => "started",
            Event::Stopped => "stopped",
        }
    }

    /// The BEP 15 number (0 none, 1 completed, 2 started, 3 stopped).
    pub fn to_udp(self) -> u32 {
        match self {
            Event::None => 0,
            Event::Completed => 1,
            Event::Started => 2,
            Event::Stopped => 3,
        }
    }

    /// From the BEP 15 number; unknown numbers are read as [`Event::None`].
    pub fn from_udp(n: u32) -> Event {
        match n {
            1 => Event::Completed,
            2 => Event::Started,
            3 => Event::Stopped,
            _ => Event::None,
        }
    }
}

/// Append the 6-byte compact form (BEP 23) of an IPv4 peer.
pub fn write_compact_v4(out: &mut Vec<u8>, ip: Ipv4Addr, port: u16) {
    out.extend_from_slice(&ip.octets());
    out.extend_from_slice(&port.to_be_bytes());
}

/// Append the 18-byte compact form (BEP 7) of an IPv6 peer.
pub fn write_compact_v6(out: &mut Vec<u8>, ip: Ipv6Addr, port: u16) {
    out.extend_from_slice(&ip.octets());
    out.extend_from_slice(&port.to_be_bytes());
}

/// Read a list of 6-byte compact IPv4 peers; a trailing partial entry is
/// ignored. Port-0 entries are skipped (nobody can connect to them).
pub fn parse_compact_v4(bytes: &[u8]) -> Vec<SocketAddr> {
    bytes
        .chunks_exact(6)
        .filter_map(|c| {
            let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
            let port = u16::from_be_bytes([c[4], c[5]]);
            (port != 0).then_some(SocketAddr::new(IpAddr::V4(ip), port))
        })
        .collect()
}

/// Read a list of 18-byte compact IPv6 peers; a trailing partial entry is
/// ignored. Port-0 entries are skipped.
pub fn parse_compact_v6(bytes: &[u8]) -> Vec<SocketAddr> {
    bytes
        .chunks_exact(18)
        .filter_map(|c| {
            let mut o = [0u8; 16];
            o.copy_from_slice(&c[..16]);
            let port = u16::from_be_bytes([c[16], c[17]]);
            (port != 0).then_some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port))
        })
        .collect()
}
