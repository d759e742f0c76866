//! The BEP 10 extension handshake: the bencoded dictionary carried by the
//! extended message with id 0.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use shoal_bencode::{Dict, OwnedValue, Value};

use crate::error::ExtensionError;
use crate::message::Message;

/// The extended message id of the extension handshake.
pub const EXTENSION_HANDSHAKE_ID: u8 = 0;

/// Keys this type reads into fields; everything else goes to
/// [`ExtensionHandshake::other`].
const KNOWN_KEYS: &[&[u8]] = &[
    b"m",
    b"v",
    b"p",
    b"reqq",
    b"metadata_size",
    b"yourip",
    b"ipv4",
    b"ipv6",
];

/// A BEP 10 extension handshake.
///
/// Parsing is tolerant of what other clients get wrong: a field of the
/// wrong type or out of range reads as absent (an `m` entry likewise is
/// skipped) rather than failing the whole handshake. Only a payload that
/// is not a bencoded dictionary is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionHandshake {
    /// `m`: extension name → the id the sender wants to receive it under.
    /// Id 0 means the sender disables that extension (in a later
    /// handshake); such entries are kept so the caller can see it.
    pub m: BTreeMap<String, u8>,
    /// `v`: client name and version (invalid UTF-8 replaced).
    pub v: Option<String>,
    /// `p`: the sender's listen port.
    pub p: Option<u16>,
    /// `reqq`: how many outstanding requests the sender will queue.
    pub reqq: Option<u32>,
    /// `metadata_size`: size of the info dictionary in bytes (BEP 9).
    pub metadata_size: Option<u64>,
    /// `yourip`: our address as the sender sees it (4 or 16 bytes).
    pub yourip: Option<IpAddr>,
    /// `ipv4`: the sender's IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// `ipv6`: the sender's IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Every other key, as received (e.g. `upload_only`, `e`). When
    /// encoding, a key here that is also a field above is ignored.
    pub other: BTreeMap<Vec<u8>, OwnedValue>,
}

impl ExtensionHandshake {
    /// Parse the payload of an extended message with id 0.
    pub fn parse(payload: &[u8]) -> Result<ExtensionHandshake, ExtensionError> {
        let value = shoal_bencode::decode(payload)?;
        let Value::Dict(dict) = &value else {
            return Err(ExtensionError::NotADictionary(value.type_name()));
        };
        let mut hs = ExtensionHandshake {
            m: dict.get_dict(b"m").map(parse_m).unwrap_or_default(),
            v: dict
                .get_bytes(b"v")
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            p: int_in::<u16>(dict, b"p").filter(|&p| p != 0),
            reqq: int_in::<u32>(dict, b"reqq").filter(|&n| n != 0),
            metadata_size: int_in::<u64>(dict, b"metadata_size"),
            yourip: dict.get_bytes(b"yourip").and_then(ip_from_bytes),
            ipv4: dict
                .get_bytes(b"ipv4")
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(Ipv4Addr::from),
            ipv6: dict
                .get_bytes(b"ipv6")
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(Ipv6Addr::from),
            other: BTreeMap::new(),
        };
        for (key, value) in dict.entries() {
            if !KNOWN_KEYS.contains(key) {
                hs.other
                    .entry(key.to_vec())
                    .or_insert_with(|| value.to_owned_value());
            }
        }
        Ok(hs)
    }

    /// The bencoded dictionary (canonical: keys sorted, absent fields
    /// omitted).
    pub fn to_bencode(&self) -> Vec<u8> {
        let mut d: BTreeMap<Vec<u8>, OwnedValue> = self
            .other
            .iter()
            .filter(|(k, _)| !KNOWN_KEYS.contains(&k.as_slice()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let m = self
            .m
            .iter()
            .map(|(name, id)| (name.as_bytes().to_vec(), OwnedValue::Int(i64::from(*id))))
            .collect();
        d.insert(b"m".to_vec(), OwnedValue::Dict(m));
        if let Some(v) = &self.v {
            d.insert(b"v".to_vec(), OwnedValue::bytes(v));
        }
        if let Some(p) = self.p {
            d.insert(b"p".to_vec(), OwnedValue::Int(i64::from(p)));
        }
        if let Some(reqq) = self.reqq {
            d.insert(b"reqq".to_vec(), OwnedValue::Int(i64::from(reqq)));
        }
        if let Some(size) = self.metadata_size {
            // Sizes past i64::MAX cannot be bencoded; nothing real is near.
            let size = i64::try_from(size).unwrap_or(i64::MAX);
            d.insert(b"metadata_size".to_vec(), OwnedValue::Int(size));
        }
        if let Some(ip) = self.yourip {
            let bytes = match ip {
                IpAddr::V4(ip) => ip.octets().to_vec(),
                IpAddr::V6(ip) => ip.octets().to_vec(),
            };
            d.insert(b"yourip".to_vec(), OwnedValue::Bytes(bytes));
        }
        if let Some(ip) = self.ipv4 {
            d.insert(b"ipv4".to_vec(), OwnedValue::bytes(ip.octets()));
        }
        if let Some(ip) = self.ipv6 {
            d.insert(b"ipv6".to_vec(), OwnedValue::bytes(ip.octets()));
        }
        OwnedValue::Dict(d).to_bencode()
    }

    /// The extended message (id 0) carrying this handshake.
    pub fn to_message(&self) -> Message {
        Message::Extended {
            id: EXTENSION_HANDSHAKE_ID,
            payload: Bytes::from(self.to_bencode()),
        }
    }

    /// The id the sender wants extension `name` sent under, or `None` if it
    /// does not support it (absent, or disabled with id 0).
    pub fn extension_id(&self, name: &str) -> Option<u8> {
        self.m.get(name).copied().filter(|&id| id != 0)
    }
}

/// The `m` dictionary: UTF-8 names with integer ids in `0..=255`.
fn parse_m(m: &Dict<'_>) -> BTreeMap<String, u8> {
    let mut out = BTreeMap::new();
    for (name, id) in m.entries() {
        let (Ok(name), Some(id)) = (
            std::str::from_utf8(name),
            id.as_int().and_then(|i| u8::try_from(i).ok()),
        ) else {
            continue;
        };
        out.entry(name.to_owned()).or_insert(id);
    }
    out
}

/// The integer under `key` if it fits `T`.
fn int_in<T: TryFrom<i64>>(dict: &Dict<'_>, key: &[u8]) -> Option<T> {
    dict.get_int(key).and_then(|i| T::try_from(i).ok())
}

/// A compact IPv4 (4 bytes) or IPv6 (16 bytes) address.
fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::from(v4))
    } else {
        <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> ExtensionHandshake {
        let mut hs = ExtensionHandshake {
            v: Some("Shoal 0.1.0".into()),
            p: Some(6881),
            reqq: Some(250),
            metadata_size: Some(31_235),
            yourip: Some(IpAddr::from([192, 0, 2, 7])),
            ipv4: Some(Ipv4Addr::new(198, 51, 100, 1)),
            ipv6: Some("2001:db8::1".parse().unwrap()),
            ..Default::default()
        };
        hs.m.insert("ut_metadata".into(), 3);
        hs.m.insert("ut_pex".into(), 1);
        hs.other.insert(b"upload_only".to_vec(), OwnedValue::Int(1));
        hs
    }

    #[test]
    fn round_trip_all_fields() {
        let hs = full();
        assert_eq!(ExtensionHandshake::parse(&hs.to_bencode()), Ok(hs));
    }

    #[test]
    fn round_trip_minimal() {
        let hs = ExtensionHandshake::default();
        assert_eq!(hs.to_bencode(), b"d1:mdee");
        assert_eq!(ExtensionHandshake::parse(b"d1:mdee"), Ok(hs));
    }

    #[test]
    fn yourip_v6_round_trip() {
        let hs = ExtensionHandshake {
            yourip: Some("2001:db8::7".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(ExtensionHandshake::parse(&hs.to_bencode()), Ok(hs));
    }

    #[test]
    fn encodes_canonically() {
        let mut hs = ExtensionHandshake {
            v: Some("X".into()),
            p: Some(1),
            ..Default::default()
        };
        hs.m.insert("ut_pex".into(), 2);
        hs.m.insert("ut_metadata".into(), 1);
        assert_eq!(
            hs.to_bencode(),
            b"d1:md11:ut_metadatai1e6:ut_pexi2ee1:pi1e1:v1:Xe".to_vec()
        );
    }

    #[test]
    fn parses_a_typical_libtorrent_handshake() {
        let raw: &[u8] = b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei5428e4:reqqi500e11:upload_onlyi0e1:v17:qBittorrent/4.3.96:yourip4:\x7f\x00\x00\x01e";
        let hs = ExtensionHandshake::parse(raw).unwrap();
        assert_eq!(hs.extension_id("ut_metadata"), Some(2));
        assert_eq!(hs.extension_id("ut_pex"), Some(1));
        assert_eq!(hs.extension_id("nope"), None);
        assert_eq!(hs.metadata_size, Some(5428));
        assert_eq!(hs.reqq, Some(500));
        assert_eq!(hs.v.as_deref(), Some("qBittorrent/4.3.9"));
        assert_eq!(hs.yourip, Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(hs.p, None);
        assert_eq!(
            hs.other.get(&b"complete_ago"[..]),
            Some(&OwnedValue::Int(-1))
        );
        assert_eq!(hs.other.get(&b"upload_only"[..]), Some(&OwnedValue::Int(0)));
    }

    #[test]
    fn disabled_extension_is_kept_but_has_no_id() {
        let hs = ExtensionHandshake::parse(b"d1:md6:ut_pexi0eee").unwrap();
        assert_eq!(hs.m.get("ut_pex"), Some(&0));
        assert_eq!(hs.extension_id("ut_pex"), None);
    }

    #[test]
    fn malformed_fields_read_as_absent() {
        let raw: &[u8] = b"d1:md1:ai256e1:bi-1e1:c1:x1:di5ee1:pi70000e4:reqqi-5e13:metadata_size3:abc6:yourip3:abc4:ipv44:abcde";
        let hs = ExtensionHandshake::parse(raw).unwrap();
        assert_eq!(hs.m.len(), 1);
        assert_eq!(hs.extension_id("d"), Some(5));
        assert_eq!(hs.p, None);
        assert_eq!(hs.reqq, None);
        assert_eq!(hs.metadata_size, None);
        assert_eq!(hs.yourip, None);
        assert_eq!(hs.ipv4, Some(Ipv4Addr::new(97, 98, 99, 100)));
        assert!(hs.other.is_empty());
    }

    #[test]
    fn missing_m_is_empty() {
        let hs = ExtensionHandshake::parse(b"d1:v3:abce").unwrap();
        assert!(hs.m.is_empty());
        assert_eq!(hs.v.as_deref(), Some("abc"));
    }

    #[test]
    fn rejects_non_dictionary() {
        assert_eq!(
            ExtensionHandshake::parse(b"li1ee"),
            Err(ExtensionError::NotADictionary("list"))
        );
        assert!(matches!(
            ExtensionHandshake::parse(b"d1:m"),
            Err(ExtensionError::Bencode(_))
        ));
        assert!(matches!(
            ExtensionHandshake::parse(b""),
            Err(ExtensionError::Bencode(_))
        ));
    }

    #[test]
    fn to_message_is_extended_zero() {
        let hs = full();
        let Message::Extended { id, payload } = hs.to_message() else {
            panic!("not extended");
        };
        assert_eq!(id, EXTENSION_HANDSHAKE_ID);
        assert_eq!(ExtensionHandshake::parse(&payload), Ok(hs));
    }

    #[test]
    fn other_cannot_override_known_fields() {
        let mut hs = ExtensionHandshake::default();
        hs.other.insert(b"p".to_vec(), OwnedValue::Int(9));
        assert_eq!(hs.to_bencode(), b"d1:mdee");
    }
}
