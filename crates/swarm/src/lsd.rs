//! Local service discovery (BEP 14): the `BT-SEARCH` message multicast on
//! the local network, and when each torrent is due to be announced.
//!
//! Sans-I/O: [`LsdMessage`] encodes and parses datagrams, [`LsdSchedule`]
//! says which info-hashes to announce at `now`. The engine's driver owns
//! the multicast socket.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, Instant};

use thiserror::Error;

/// BEP 14's IPv4 multicast group and port.
pub const LSD_V4: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 192, 152, 143), 6771);
/// BEP 14's IPv6 multicast group and port.
pub const LSD_V6: SocketAddrV6 = SocketAddrV6::new(
    Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f),
    6771,
    0,
    0,
);

/// Largest datagram read or written.
pub const MAX_DATAGRAM: usize = 1400;
/// Most info-hashes in one message (more are ignored when parsing, and
/// split over several messages when encoding).
pub const MAX_INFO_HASHES: usize = 16;

/// Why a datagram is not an LSD announce.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LsdError {
    /// Larger than [`MAX_DATAGRAM`].
    #[error("datagram too large ({0} bytes)")]
    TooLarge(usize),
    /// Not a `BT-SEARCH * HTTP/1.1` request.
    #[error("not a BT-SEARCH request")]
    NotSearch,
    /// No valid `Port` header.
    #[error("missing or invalid Port header")]
    BadPort,
    /// No valid `Infohash` header.
    #[error("no valid Infohash header")]
    NoInfoHash,
}

/// A `BT-SEARCH` announce: a peer at `port` (on the datagram's source
/// address) has these torrents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsdMessage {
    /// The sender's BitTorrent listen port.
    pub port: u16,
    /// The torrents it announces (at most [`MAX_INFO_HASHES`]).
    pub info_hashes: Vec<[u8; 20]>,
    /// A token that lets the sender recognise its own announces.
    pub cookie: Option<String>,
}

impl LsdMessage {
    /// The datagram, with `Host` naming the group it is sent to.
    pub fn encode(&self, group: SocketAddr) -> Vec<u8> {
        let host = match group {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        let mut s = format!(
            "BT-SEARCH * HTTP/1.1\r\nHost: {host}\r\nPort: {}\r\n",
            self.port
        );
        for ih in self.info_hashes.iter().take(MAX_INFO_HASHES) {
            s.push_str("Infohash: ");
            for b in ih {
                let _ = write!(s, "{b:02x}");
            }
            s.push_str("\r\n");
        }
        if let Some(c) = &self.cookie {
            let _ = write!(s, "cookie: {c}\r\n");
        }
        s.push_str("\r\n\r\n");
        s.into_bytes()
    }

    /// Parse a datagram. Header names are case-insensitive; unknown
    /// headers and malformed info-hashes are skipped.
    pub fn parse(data: &[u8]) -> Result<LsdMessage, LsdError> {
        if data.len() > MAX_DATAGRAM {
            return Err(LsdError::TooLarge(data.len()));
        }
        let text = String::from_utf8_lossy(data);
        let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
        let first = lines.next().unwrap_or_default().trim();
        if !first.starts_with("BT-SEARCH * HTTP/1.") {
            return Err(LsdError::NotSearch);
        }
        let mut port = None;
        let mut info_hashes = Vec::new();
        let mut cookie = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "port" => port = value.parse::<u16>().ok().filter(|&p| p != 0),
                "infohash" if info_hashes.len() < MAX_INFO_HASHES => {
                    if let Some(ih) = parse_hex20(value) {
                        if !info_hashes.contains(&ih) {
                            info_hashes.push(ih);
                        }
                    }
                }
                "cookie" if value.len() <= 64 => cookie = Some(value.to_owned()),
                _ => {}
            }
        }
        let port = port.ok_or(LsdError::BadPort)?;
        if info_hashes.is_empty() {
            return Err(LsdError::NoInfoHash);
        }
        Ok(LsdMessage {
            port,
            info_hashes,
            cookie,
        })
    }
}

fn parse_hex20(s: &str) -> Option<[u8; 20]> {
    let b = s.as_bytes();
    if b.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        let hi = (b[2 * i] as char).to_digit(16)?;
        let lo = (b[2 * i + 1] as char).to_digit(16)?;
        *o = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// When each torrent is announced: at once when added, then every
/// [`LsdSchedule::INTERVAL`]; never twice within
/// [`LsdSchedule::MIN_GAP`] (BEP 14's "at most once a minute").
#[derive(Debug, Default, Clone)]
pub struct LsdSchedule {
    /// Info-hash → when it is due and when it was last announced.
    torrents: BTreeMap<[u8; 20], (Instant, Option<Instant>)>,
}

impl LsdSchedule {
    /// Between two regular announces of a torrent (BEP 14: 5 minutes).
    pub const INTERVAL: Duration = Duration::from_secs(5 * 60);
    /// Least time between two announces of a torrent.
    pub const MIN_GAP: Duration = Duration::from_secs(60);

    /// Keep the set of torrents to `current`: new ones are due now,
    /// departed ones are forgotten.
    pub fn sync(&mut self, current: &[[u8; 20]], now: Instant) {
        self.torrents.retain(|ih, _| current.contains(ih));
        for ih in current {
            self.torrents.entry(*ih).or_insert((now, None));
        }
    }

    /// Announce `ih` again soon (e.g. it still has no peers), within the
    /// [`Self::MIN_GAP`] bound.
    pub fn hurry(&mut self, ih: &[u8; 20], now: Instant) {
        if let Some((due, last)) = self.torrents.get_mut(ih) {
            let earliest = last.map_or(now, |l| l + Self::MIN_GAP);
            *due = (*due).min(earliest.max(now));
        }
    }

    /// The info-hashes to announce now; they are marked announced.
    pub fn due(&mut self, now: Instant) -> Vec<[u8; 20]> {
        let mut out = Vec::new();
        for (ih, (due, last)) in self.torrents.iter_mut() {
            if *due <= now && last.is_none_or(|l| now.saturating_duration_since(l) >= Self::MIN_GAP)
            {
                out.push(*ih);
                *last = Some(now);
                *due = now + Self::INTERVAL;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_libtorrent_style() {
        let msg = LsdMessage {
            port: 6881,
            info_hashes: vec![[0xab; 20], [0x01; 20]],
            cookie: Some("5a3f".into()),
        };
        let bytes = msg.encode(SocketAddr::V4(LSD_V4));
        assert!(bytes.starts_with(b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\n"));
        assert_eq!(LsdMessage::parse(&bytes), Ok(msg.clone()));
        let lt = b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\nInfohash: ABABABABABABABABABABABABABABABABABABABAB\r\ncookie: 1f\r\n\r\n\r\n";
        let m = LsdMessage::parse(lt).unwrap();
        assert_eq!((m.port, m.info_hashes[0]), (51413, [0xab; 20]));
        let v6 = msg.encode(SocketAddr::V6(LSD_V6));
        assert!(v6.starts_with(b"BT-SEARCH * HTTP/1.1\r\nHost: [ff15::efc0:988f]:6771\r\n"));
    }

    #[test]
    fn rejects_junk_and_bounds_lists() {
        assert_eq!(
            LsdMessage::parse(b"GET / HTTP/1.1\r\n"),
            Err(LsdError::NotSearch)
        );
        assert_eq!(
            LsdMessage::parse(b"BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: 00\r\n"),
            Err(LsdError::BadPort)
        );
        assert_eq!(
            LsdMessage::parse(b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: zz\r\n"),
            Err(LsdError::NoInfoHash)
        );
        assert_eq!(
            LsdMessage::parse(&[b'x'; 2000]),
            Err(LsdError::TooLarge(2000))
        );
        let mut many = String::from("BT-SEARCH * HTTP/1.1\r\nPort: 9\r\n");
        for i in 0..25u8 {
            many.push_str(&format!("Infohash: {}\r\n", hex20(i)));
        }
        let m = LsdMessage::parse(many.as_bytes()).unwrap();
        assert_eq!(m.info_hashes.len(), MAX_INFO_HASHES);
    }

    fn hex20(b: u8) -> String {
        format!("{b:02x}").repeat(20)
    }

    #[test]
    fn each_torrent_every_five_minutes_and_never_twice_a_minute() {
        let t0 = Instant::now();
        let mut s = LsdSchedule::default();
        s.sync(&[[1; 20], [2; 20]], t0);
        assert_eq!(s.due(t0).len(), 2);
        assert!(s.due(t0 + Duration::from_secs(10)).is_empty());
        s.hurry(&[1; 20], t0 + Duration::from_secs(10));
        assert!(s.due(t0 + Duration::from_secs(30)).is_empty());
        assert_eq!(s.due(t0 + Duration::from_secs(60)), vec![[1; 20]]);
        assert_eq!(s.due(t0 + LsdSchedule::INTERVAL), vec![[2; 20]]);
        s.sync(&[[2; 20]], t0);
        assert!(s.due(t0 + LsdSchedule::INTERVAL * 3).len() == 1);
    }
}
