//! Peer ids: generating ours, and naming the client behind someone else's.

use std::fmt;

use rand::distributions::Alphanumeric;
use rand::Rng;

/// A 20-byte peer id, as carried in the handshake and tracker requests.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

/// The Azureus-style prefix of Shoal's own peer ids: client code `SH`,
/// version 0.1.0.0.
pub const SHOAL_PREFIX: &[u8; 8] = b"-SH0100-";

impl PeerId {
    /// A fresh Shoal peer id: [`SHOAL_PREFIX`] followed by 12 random ASCII
    /// alphanumeric characters, from the thread-local random generator.
    pub fn generate() -> PeerId {
        PeerId::generate_with(&mut rand::thread_rng())
    }

    /// Like [`PeerId::generate`], drawing the random part from `rng`
    /// (useful for reproducible tests).
    pub fn generate_with<R: Rng + ?Sized>(rng: &mut R) -> PeerId {
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(SHOAL_PREFIX);
        for b in &mut id[8..] {
            *b = rng.sample(Alphanumeric);
        }
        PeerId(id)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// A human-readable client name and version for display, when the id
    /// follows a convention this crate recognises: Azureus style
    /// (`-TR3000-` → `"Transmission 3.00"`, `-qB4250-` → `"qBittorrent 4.2.5"`),
    /// aria2 (`A2-1-34-0-` → `"aria2 1.34.0"`) or Mainline (`M7-4-0--` →
    /// `"BitTorrent 7.4.0"`). `None` for anything else, including
    /// Azureus-style ids with a client code not in the table.
    pub fn client_name(&self) -> Option<String> {
        azureus_name(&self.0)
            .or_else(|| aria2_name(&self.0))
            .or_else(|| mainline_name(&self.0))
    }
}

impl From<[u8; 20]> for PeerId {
    fn from(bytes: [u8; 20]) -> Self {
        PeerId(bytes)
    }
}

impl AsRef<[u8]> for PeerId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Printable ASCII as is, other bytes as `\xNN` escapes.
impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId(\"{}\")", self.0.escape_ascii())
    }
}

/// Two-letter Azureus-style client codes we put a name to.
const AZUREUS_CLIENTS: &[(&[u8; 2], &str)] = &[
    (b"AZ", "Vuze"),
    (b"BC", "BitComet"),
    (b"BI", "BiglyBT"),
    (b"BT", "BitTorrent"),
    (b"DE", "Deluge"),
    (b"FD", "Free Download Manager"),
    (b"KT", "KTorrent"),
    (b"LT", "libtorrent"),
    (b"lt", "libtorrent (rakshasa)"),
    (b"PI", "PicoTorrent"),
    (b"qB", "qBittorrent"),
    (b"SH", "Shoal"),
    (b"TR", "Transmission"),
    (b"UM", "µTorrent Mac"),
    (b"UT", "µTorrent"),
    (b"WW", "WebTorrent"),
];

/// A version character as a number: `0-9`, then `A-Z` / `a-z` for 10–35.
fn version_digit(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 10),
        _ => None,
    }
}

/// `-XXabcd-`: client code `XX`, version characters `abcd`.
fn azureus_name(id: &[u8; 20]) -> Option<String> {
    if id[0] != b'-' || id[7] != b'-' {
        return None;
    }
    let code = [id[1], id[2]];
    let name = AZUREUS_CLIENTS
        .iter()
        .find(|(c, _)| **c == code)
        .map(|(_, n)| *n)?;
    let v = &id[3..7];
    let version = if code == *b"TR" {
        transmission_version(v)
    } else {
        generic_version(v)
    };
    Some(match version {
        Some(version) => format!("{name} {version}"),
        None => name.to_owned(),
    })
}

/// Transmission: major digit, two minor digits, then `0` for a release,
/// `Z`/`X` for a development build or `B` for a beta (`3000` → `3.00`).
fn transmission_version(v: &[u8]) -> Option<String> {
    if !v[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let base = format!("{}.{}{}", v[0] as char, v[1] as char, v[2] as char);
    match v[3] {
        b'0' => Some(base),
        b'Z' | b'X' => Some(format!("{base}+")),
        b'B' => Some(format!("{base} beta")),
        _ => None,
    }
}

/// The common scheme: three components from `0-9A-Za-z`, and the fourth
/// appended only when it is a non-zero digit (others use it as a tag).
fn generic_version(v: &[u8]) -> Option<String> {
    let a = version_digit(v[0])?;
    let b = version_digit(v[1])?;
    let c = version_digit(v[2])?;
    match v[3] {
        b'1'..=b'9' => Some(format!("{a}.{b}.{c}.{}", v[3] as char)),
        _ => Some(format!("{a}.{b}.{c}")),
    }
}

/// Leading decimal numbers separated by single dashes, e.g. `1-34-0-`.
fn dashed_numbers(rest: &[u8], count: usize) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(count);
    let mut parts = rest.split(|&b| b == b'-');
    for _ in 0..count {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 4 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        out.push(n);
    }
    Some(out)
}

/// aria2: `A2-<major>-<minor>-<patch>-...`.
fn aria2_name(id: &[u8; 20]) -> Option<String> {
    let rest = id.strip_prefix(b"A2-")?;
    let v = dashed_numbers(rest, 3)?;
    Some(format!("aria2 {}.{}.{}", v[0], v[1], v[2]))
}

/// Mainline: `M<major>-<minor>-<patch>-...`.
fn mainline_name(id: &[u8; 20]) -> Option<String> {
    let rest = id.strip_prefix(b"M")?;
    let v = dashed_numbers(rest, 3)?;
    Some(format!("BitTorrent {}.{}.{}", v[0], v[1], v[2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn id(prefix: &[u8]) -> PeerId {
        let mut b = [b'x'; 20];
        b[..prefix.len()].copy_from_slice(prefix);
        PeerId(b)
    }

    #[test]
    fn generated_ids_have_prefix_and_alphanumeric_tail() {
        let a = PeerId::generate();
        let b = PeerId::generate();
        assert_eq!(&a.0[..8], SHOAL_PREFIX);
        assert!(a.0[8..].iter().all(u8::is_ascii_alphanumeric));
        assert_ne!(a, b, "two random ids should differ");
    }

    #[test]
    fn generate_with_seeded_rng_is_reproducible() {
        let a = PeerId::generate_with(&mut StdRng::seed_from_u64(7));
        let b = PeerId::generate_with(&mut StdRng::seed_from_u64(7));
        assert_eq!(a, b);
    }

    #[test]
    fn own_id_is_named_shoal() {
        assert_eq!(
            PeerId::generate().client_name().as_deref(),
            Some("Shoal 0.1.0")
        );
    }

    #[test]
    fn client_names() {
        let cases: &[(&[u8], &str)] = &[
            (b"-TR3000-", "Transmission 3.00"),
            (b"-TR294Z-", "Transmission 2.94+"),
            (b"-TR410B-", "Transmission 4.10 beta"),
            (b"-qB4250-", "qBittorrent 4.2.5"),
            (b"-LT2070-", "libtorrent 2.0.7"),
            (b"-LT12A0-", "libtorrent 1.2.10"),
            (b"-lt0D80-", "libtorrent (rakshasa) 0.13.8"),
            (b"-DE13F0-", "Deluge 1.3.15"),
            (b"-AZ5770-", "Vuze 5.7.7"),
            (b"-UT3550-", "µTorrent 3.5.5"),
            (b"-BC0152-", "BitComet 0.1.5.2"),
            (b"A2-1-34-0-", "aria2 1.34.0"),
            (b"M7-4-0--", "BitTorrent 7.4.0"),
            (b"-SH0100-", "Shoal 0.1.0"),
        ];
        for (prefix, name) in cases {
            assert_eq!(
                id(prefix).client_name().as_deref(),
                Some(*name),
                "{}",
                prefix.escape_ascii()
            );
        }
    }

    #[test]
    fn unrecognised_ids_have_no_name() {
        assert_eq!(id(b"-ZZ1000-").client_name(), None);
        assert_eq!(id(b"xxxxxxxx").client_name(), None);
        assert_eq!(id(b"A2-x-1-2-").client_name(), None);
        assert_eq!(PeerId([0; 20]).client_name(), None);
        assert_eq!(PeerId([0xff; 20]).client_name(), None);
    }

    #[test]
    fn known_code_with_odd_version_still_named() {
        assert_eq!(
            id(b"-TR?!?!-").client_name().as_deref(),
            Some("Transmission")
        );
    }

    #[test]
    fn display_escapes_binary() {
        let mut b = *b"-SH0100-abcdefghijkl";
        b[19] = 0;
        assert_eq!(PeerId(b).to_string(), "-SH0100-abcdefghijk\\x00");
    }
}
