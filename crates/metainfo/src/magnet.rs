//! Magnet URIs (BEP 9): `magnet:?xt=urn:btih:<hash>&dn=<name>&tr=<url>&x.pe=<host:port>`,
//! and BEP 52's `xt=urn:btmh:1220<sha256 hex>` for v2 (a hybrid torrent's
//! magnet carries both `xt`s).

use crate::torrent::{InfoHash, InfoHashV2};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::fmt;

/// Characters escaped in magnet values (everything but unreserved ones).
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Longest magnet URI accepted.
const MAX_MAGNET_LEN: usize = 64 * 1024;

/// Why a magnet link was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    /// It does not start with `magnet:?`.
    #[error("not a magnet link (expected 'magnet:?...')")]
    NotMagnet,
    /// No `xt=urn:btih:` or `xt=urn:btmh:` parameter.
    #[error("magnet link has no 'xt=urn:btih:' or 'xt=urn:btmh:' info-hash")]
    NoInfoHash,
    /// A `urn:btmh:` that is not a SHA-256 multihash (`1220` + 64 hex).
    #[error("invalid v2 info-hash '{0}' (expected '1220' and 64 hex digits)")]
    BadInfoHashV2(String),
    /// The info-hash is neither 40 hex nor 32 base32 characters.
    #[error("invalid info-hash '{0}' (expected 40 hex or 32 base32 characters)")]
    BadInfoHash(String),
    /// A parameter value is badly percent-encoded or not UTF-8.
    #[error("badly encoded value for '{0}'")]
    BadEncoding(String),
    /// Two different v1 info-hashes.
    #[error("magnet link names two different info-hashes")]
    ConflictingHashes,
    /// Absurdly long input.
    #[error("magnet link too long")]
    TooLong,
}

/// A parsed magnet link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// The swarm's 20-byte info-hash: the v1 hash (`btih`), or for a
    /// v2-only link the v2 hash truncated to 20 bytes.
    pub info_hash: InfoHash,
    /// The v2 info-hash (`btmh`), if the link has one.
    pub info_hash_v2: Option<InfoHashV2>,
    /// `dn`: a display name.
    pub display_name: Option<String>,
    /// `tr`: tracker URLs, in order.
    pub trackers: Vec<String>,
    /// `x.pe`: peer addresses (`host:port`).
    pub peers: Vec<String>,
}

fn decode_value(key: &str, v: &str) -> Result<String, MagnetError> {
    let v = v.replace('+', " ");
    percent_decode_str(&v)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| MagnetError::BadEncoding(key.to_string()))
}

fn parse_btmh(s: &str) -> Result<InfoHashV2, MagnetError> {
    let bad = || MagnetError::BadInfoHashV2(s.chars().take(80).collect());
    let hex = s
        .get(..4)
        .filter(|p| *p == "1220")
        .map(|_| &s[4..])
        .ok_or_else(bad)?;
    if hex.len() != 64 {
        return Err(bad());
    }
    InfoHashV2::from_hex(hex).ok_or_else(bad)
}

fn parse_btih(s: &str) -> Result<InfoHash, MagnetError> {
    let bad = || MagnetError::BadInfoHash(s.chars().take(64).collect());
    match s.len() {
        40 => InfoHash::from_hex(s).ok_or_else(bad),
        32 => {
            let upper = s.to_ascii_uppercase();
            let bytes = data_encoding::BASE32_NOPAD
                .decode(upper.as_bytes())
                .map_err(|_| bad())?;
            let arr: [u8; 20] = bytes.try_into().map_err(|_| bad())?;
            Ok(InfoHash(arr))
        }
        _ => Err(bad()),
    }
}

impl Magnet {
    /// Parse a magnet URI.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        if uri.len() > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLong);
        }
        let query = uri
            .strip_prefix("magnet:?")
            .or_else(|| {
                uri.get(..8)
                    .filter(|p| p.eq_ignore_ascii_case("magnet:?"))
                    .map(|_| &uri[8..])
            })
            .ok_or(MagnetError::NotMagnet)?;
        let mut info_hash = None;
        let mut info_hash_v2: Option<InfoHashV2> = None;
        let mut display_name = None;
        let mut trackers = Vec::new();
        let mut peers = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            // Numbered forms such as xt.1 / tr.2 are accepted.
            let base = key.split('.').next().unwrap_or(key);
            match (base, key) {
                ("xt", _) => {
                    let v = decode_value(key, value)?;
                    if let Some(h) = v
                        .get(..9)
                        .filter(|p| p.eq_ignore_ascii_case("urn:btih:"))
                        .map(|_| &v[9..])
                    {
                        let h = parse_btih(h)?;
                        if info_hash.is_some_and(|prev| prev != h) {
                            return Err(MagnetError::ConflictingHashes);
                        }
                        info_hash = Some(h);
                    } else if let Some(h) = v
                        .get(..9)
                        .filter(|p| p.eq_ignore_ascii_case("urn:btmh:"))
                        .map(|_| &v[9..])
                    {
                        let h = parse_btmh(h)?;
                        if info_hash_v2.is_some_and(|prev| prev != h) {
                            return Err(MagnetError::ConflictingHashes);
                        }
                        info_hash_v2 = Some(h);
                    }
                }
                ("dn", _) => display_name = Some(decode_value(key, value)?),
                ("tr", _) => {
                    let t = decode_value(key, value)?;
                    if !t.is_empty() && !trackers.contains(&t) {
                        trackers.push(t);
                    }
                }
                (_, "x.pe") => peers.push(decode_value(key, value)?),
                _ => {}
            }
        }
        let info_hash = info_hash
            .or_else(|| info_hash_v2.map(|h| h.truncated()))
            .ok_or(MagnetError::NoInfoHash)?;
        Ok(Magnet {
            info_hash,
            info_hash_v2,
            display_name,
            trackers,
            peers,
        })
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A v2-only link has no btih: its info_hash is the truncated v2 hash.
        let v2_only = self
            .info_hash_v2
            .is_some_and(|h| h.truncated() == self.info_hash);
        let mut sep = "?";
        f.write_str("magnet:")?;
        if !v2_only {
            write!(f, "?xt=urn:btih:{}", self.info_hash.to_hex())?;
            sep = "&";
        }
        if let Some(h) = &self.info_hash_v2 {
            write!(f, "{sep}xt=urn:btmh:1220{}", h.to_hex())?;
        }
        if let Some(dn) = &self.display_name {
            write!(f, "&dn={}", utf8_percent_encode(dn, VALUE))?;
        }
        for tr in &self.trackers {
            write!(f, "&tr={}", utf8_percent_encode(tr, VALUE))?;
        }
        for pe in &self.peers {
            write!(f, "&x.pe={}", utf8_percent_encode(pe, VALUE))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn parses_hex_and_base32() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&dn=Some+Name%21&tr=udp%3A%2F%2Ft.example%3A80&x.pe=127.0.0.1:6881"
        ))
        .unwrap();
        assert_eq!(m.info_hash.to_hex(), HEX);
        assert_eq!(m.display_name.as_deref(), Some("Some Name!"));
        assert_eq!(m.trackers, vec!["udp://t.example:80"]);
        assert_eq!(m.peers, vec!["127.0.0.1:6881"]);
        let b32 = data_encoding::BASE32_NOPAD.encode(&m.info_hash.0);
        assert_eq!(b32.len(), 32);
        let m2 = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", b32.to_lowercase())).unwrap();
        assert_eq!(m2.info_hash, m.info_hash);
    }

    #[test]
    fn round_trip() {
        let m = Magnet {
            info_hash: InfoHash::from_hex(HEX).unwrap(),
            info_hash_v2: None,
            display_name: Some("naïve & odd=name".into()),
            trackers: vec!["http://127.0.0.1:6969/announce?x=1&y=2".into()],
            peers: vec!["[::1]:6881".into()],
        };
        assert_eq!(Magnet::parse(&m.to_string()).unwrap(), m);
    }

    #[test]
    fn v2_and_hybrid_links() {
        let v2 = InfoHashV2::of(b"x");
        let only = format!("magnet:?xt=urn:btmh:1220{}&dn=n", v2.to_hex());
        let m = Magnet::parse(&only).unwrap();
        assert_eq!(m.info_hash_v2, Some(v2));
        assert_eq!(m.info_hash, v2.truncated());
        assert_eq!(m.to_string(), only);
        let both = format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:1220{}", v2.to_hex());
        let m = Magnet::parse(&both).unwrap();
        assert_eq!(m.info_hash.to_hex(), HEX);
        assert_eq!(m.info_hash_v2, Some(v2));
        assert_eq!(m.to_string(), both);
        assert_eq!(Magnet::parse(&m.to_string()).unwrap(), m);
        for bad in ["1220abc", "1120", &format!("1114{}", v2.to_hex())] {
            assert!(matches!(
                Magnet::parse(&format!("magnet:?xt=urn:btmh:{bad}")),
                Err(MagnetError::BadInfoHashV2(_))
            ));
        }
    }

    #[test]
    fn rejects_bad_links() {
        assert_eq!(Magnet::parse("http://x"), Err(MagnetError::NotMagnet));
        assert_eq!(Magnet::parse("magnet:?dn=x"), Err(MagnetError::NoInfoHash));
        assert!(matches!(
            Magnet::parse("magnet:?xt=urn:btih:abc"),
            Err(MagnetError::BadInfoHash(_))
        ));
        assert!(matches!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{}", "z".repeat(40))),
            Err(MagnetError::BadInfoHash(_))
        ));
        assert!(matches!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=%ff")),
            Err(MagnetError::BadEncoding(_))
        ));
        assert_eq!(
            Magnet::parse(&"magnet:?".repeat(10_000)),
            Err(MagnetError::TooLong)
        );
    }
}
