//! The 68-byte BitTorrent handshake (BEP 3) and its reserved bits.
//!
//! Layout: `<19><"BitTorrent protocol"><8 reserved bytes><20-byte
//! info-hash><20-byte peer id>`.

use bytes::{Buf, BufMut, BytesMut};

use crate::error::HandshakeError;
use crate::peer_id::PeerId;

/// The protocol string the handshake starts with (after its length byte).
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// The 8 reserved bytes of the handshake, which advertise extensions.
///
/// Bits this crate has no name for are kept as received, so a handshake
/// round-trips exactly; [`Reserved::default`] has every bit clear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    /// Byte and mask of the extension protocol bit (BEP 10).
    const EXTENSION_PROTOCOL: (usize, u8) = (5, 0x10);
    /// Byte and mask of the fast extension bit (BEP 6).
    const FAST: (usize, u8) = (7, 0x04);
    /// Byte and mask of the DHT bit (BEP 5).
    const DHT: (usize, u8) = (7, 0x01);
    /// Byte and mask of the BitTorrent v2 bit (BEP 52): the peer speaks
    /// the v2 protocol (hash request, hashes, hash reject).
    const V2: (usize, u8) = (7, 0x10);

    fn get(&self, (byte, mask): (usize, u8)) -> bool {
        self.0[byte] & mask != 0
    }

    fn set(mut self, (byte, mask): (usize, u8), on: bool) -> Self {
        if on {
            self.0[byte] |= mask;
        } else {
            self.0[byte] &= !mask;
        }
        self
    }

    /// Whether the extension protocol (BEP 10) is advertised.
    pub fn supports_extension_protocol(&self) -> bool {
        self.get(Self::EXTENSION_PROTOCOL)
    }

    /// Whether the fast extension (BEP 6) is advertised.
    pub fn supports_fast(&self) -> bool {
        self.get(Self::FAST)
    }

    /// Whether DHT (BEP 5) is advertised.
    pub fn supports_dht(&self) -> bool {
        self.get(Self::DHT)
    }

    /// This set with the extension protocol bit set or cleared.
    #[must_use]
    pub fn with_extension_protocol(self, on: bool) -> Self {
        self.set(Self::EXTENSION_PROTOCOL, on)
    }

    /// This set with the fast extension bit set or cleared.
    #[must_use]
    pub fn with_fast(self, on: bool) -> Self {
        self.set(Self::FAST, on)
    }

    /// This set with the DHT bit set or cleared.
    #[must_use]
    pub fn with_dht(self, on: bool) -> Self {
        self.set(Self::DHT, on)
    }

    /// Whether BitTorrent v2 (BEP 52) is advertised.
    pub fn supports_v2(&self) -> bool {
        self.get(Self::V2)
    }

    /// This set with the v2 bit (BEP 52) set or cleared.
    #[must_use]
    pub fn with_v2(self, on: bool) -> Self {
        self.set(Self::V2, on)
    }
}

/// The first 48 bytes of a handshake: everything up to the peer id.
///
/// An incoming connection for a client serving several torrents learns the
/// info-hash from these, and can answer before the peer id arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandshakePrefix {
    /// The extension bits.
    pub reserved: Reserved,
    /// The torrent's info-hash.
    pub info_hash: [u8; 20],
}

impl HandshakePrefix {
    /// Encoded length: 1 + 19 + 8 + 20.
    pub const LEN: usize = 48;

    /// Parse the first 48 bytes of `buf` (more may follow and is ignored).
    ///
    /// `Ok(None)` means more bytes are needed; a wrong protocol string is
    /// reported as soon as the bytes that show it have arrived.
    pub fn parse(buf: &[u8]) -> Result<Option<HandshakePrefix>, HandshakeError> {
        check_protocol(buf)?;
        if buf.len() < Self::LEN {
            return Ok(None);
        }
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(&buf[20..28]);
        let mut info_hash = [0u8; 20];
        info_hash.copy_from_slice(&buf[28..48]);
        Ok(Some(HandshakePrefix {
            reserved: Reserved(reserved),
            info_hash,
        }))
    }

    /// The full handshake, once the peer id is known.
    pub fn with_peer_id(self, peer_id: PeerId) -> Handshake {
        Handshake {
            reserved: self.reserved,
            info_hash: self.info_hash,
            peer_id,
        }
    }
}

/// A complete handshake.
///
/// Build one with [`Handshake::new`] and the `with_*` methods, which set
/// only the extension bits asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// The extension bits.
    pub reserved: Reserved,
    /// The torrent's info-hash.
    pub info_hash: [u8; 20],
    /// The sender's peer id.
    pub peer_id: PeerId,
}

impl Handshake {
    /// Encoded length: 1 + 19 + 8 + 20 + 20.
    pub const LEN: usize = 68;

    /// A handshake with no extension bits set.
    pub fn new(info_hash: [u8; 20], peer_id: PeerId) -> Handshake {
        Handshake {
            reserved: Reserved::default(),
            info_hash,
            peer_id,
        }
    }

    /// Advertise (or not) the extension protocol (BEP 10).
    #[must_use]
    pub fn with_extension_protocol(mut self, on: bool) -> Self {
        self.reserved = self.reserved.with_extension_protocol(on);
        self
    }

    /// Advertise (or not) the fast extension (BEP 6).
    #[must_use]
    pub fn with_fast(mut self, on: bool) -> Self {
        self.reserved = self.reserved.with_fast(on);
        self
    }

    /// Advertise (or not) DHT (BEP 5).
    #[must_use]
    pub fn with_dht(mut self, on: bool) -> Self {
        self.reserved = self.reserved.with_dht(on);
        self
    }

    /// Advertise (or not) BitTorrent v2 (BEP 52).
    #[must_use]
    pub fn with_v2(mut self, on: bool) -> Self {
        self.reserved = self.reserved.with_v2(on);
        self
    }

    /// Whether BitTorrent v2 (BEP 52) is advertised.
    pub fn supports_v2(&self) -> bool {
        self.reserved.supports_v2()
    }

    /// Whether the extension protocol (BEP 10) is advertised.
    pub fn supports_extension_protocol(&self) -> bool {
        self.reserved.supports_extension_protocol()
    }

    /// Whether the fast extension (BEP 6) is advertised.
    pub fn supports_fast(&self) -> bool {
        self.reserved.supports_fast()
    }

    /// Whether DHT (BEP 5) is advertised.
    pub fn supports_dht(&self) -> bool {
        self.reserved.supports_dht()
    }

    /// The 48-byte prefix (everything but the peer id).
    pub fn prefix(&self) -> HandshakePrefix {
        HandshakePrefix {
            reserved: self.reserved,
            info_hash: self.info_hash,
        }
    }

    /// Append the 68 encoded bytes to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(Self::LEN);
        out.put_u8(PROTOCOL.len() as u8);
        out.put_slice(PROTOCOL);
        out.put_slice(&self.reserved.0);
        out.put_slice(&self.info_hash);
        out.put_slice(&self.peer_id.0);
    }

    /// The 68 encoded bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0] = PROTOCOL.len() as u8;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved.0);
        out[28..48].copy_from_slice(&self.info_hash);
        out[48..68].copy_from_slice(&self.peer_id.0);
        out
    }

    /// Parse a handshake from the start of `buf` without consuming it (more
    /// bytes may follow and are ignored).
    ///
    /// `Ok(None)` means more bytes are needed; a wrong protocol string is
    /// reported as soon as the bytes that show it have arrived.
    pub fn parse(buf: &[u8]) -> Result<Option<Handshake>, HandshakeError> {
        let Some(prefix) = HandshakePrefix::parse(buf)? else {
            return Ok(None);
        };
        if buf.len() < Self::LEN {
            return Ok(None);
        }
        let mut peer_id = [0u8; 20];
        peer_id.copy_from_slice(&buf[48..68]);
        Ok(Some(prefix.with_peer_id(PeerId(peer_id))))
    }

    /// Parse a handshake from the start of `buf` and, when complete, remove
    /// its 68 bytes, leaving whatever follows (the first messages) in `buf`.
    pub fn decode(buf: &mut BytesMut) -> Result<Option<Handshake>, HandshakeError> {
        let parsed = Self::parse(buf)?;
        if parsed.is_some() {
            buf.advance(Self::LEN);
        }
        Ok(parsed)
    }
}

/// Check whatever part of `<19>"BitTorrent protocol"` has arrived.
fn check_protocol(buf: &[u8]) -> Result<(), HandshakeError> {
    if let Some(&len) = buf.first() {
        if usize::from(len) != PROTOCOL.len() {
            return Err(HandshakeError::BadProtocolLength(len));
        }
    }
    let got = buf.get(1..).unwrap_or_default();
    let n = got.len().min(PROTOCOL.len());
    if got[..n] != PROTOCOL[..n] {
        return Err(HandshakeError::BadProtocolString);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake::new([0xaa; 20], PeerId(*b"-SH0100-abcdefghijkl"))
    }

    #[test]
    fn v2_bit_is_byte_7_mask_0x10() {
        let hs = sample().with_v2(true).with_fast(true);
        assert!(hs.supports_v2());
        assert_eq!(hs.to_bytes()[27], 0x14);
        let back = Handshake::parse(&hs.to_bytes()).unwrap().unwrap();
        assert!(back.supports_v2() && back.supports_fast());
        assert!(!sample().supports_v2());
    }

    #[test]
    fn encodes_to_68_bytes_with_layout() {
        let hs = sample().with_fast(true);
        let b = hs.to_bytes();
        assert_eq!(b.len(), 68);
        assert_eq!(b[0], 19);
        assert_eq!(&b[1..20], b"BitTorrent protocol");
        assert_eq!(&b[20..28], &[0, 0, 0, 0, 0, 0, 0, 0x04]);
        assert_eq!(&b[28..48], &[0xaa; 20]);
        assert_eq!(&b[48..68], b"-SH0100-abcdefghijkl");
        let mut out = BytesMut::new();
        hs.encode(&mut out);
        assert_eq!(&out[..], &b[..]);
    }

    #[test]
    fn round_trip() {
        let hs = sample()
            .with_extension_protocol(true)
            .with_fast(true)
            .with_dht(true);
        assert_eq!(Handshake::parse(&hs.to_bytes()), Ok(Some(hs)));
    }

    #[test]
    fn builder_sets_only_requested_bits() {
        assert_eq!(sample().reserved.0, [0; 8]);
        assert_eq!(
            sample().with_extension_protocol(true).reserved.0,
            [0, 0, 0, 0, 0, 0x10, 0, 0]
        );
        assert_eq!(
            sample().with_fast(true).reserved.0,
            [0, 0, 0, 0, 0, 0, 0, 0x04]
        );
        assert_eq!(
            sample().with_dht(true).reserved.0,
            [0, 0, 0, 0, 0, 0, 0, 0x01]
        );
        let all = sample()
            .with_extension_protocol(true)
            .with_fast(true)
            .with_dht(true);
        assert_eq!(all.reserved.0, [0, 0, 0, 0, 0, 0x10, 0, 0x05]);
        assert_eq!(
            all.with_fast(false).reserved.0,
            [0, 0, 0, 0, 0, 0x10, 0, 0x01]
        );
    }

    #[test]
    fn reserved_bit_queries() {
        let mut b = sample().to_bytes();
        b[25] = 0x10;
        b[27] = 0x05;
        let hs = Handshake::parse(&b).unwrap().unwrap();
        assert!(hs.supports_extension_protocol());
        assert!(hs.supports_fast());
        assert!(hs.supports_dht());
        b[25] = 0xef;
        b[27] = 0xfa;
        let hs = Handshake::parse(&b).unwrap().unwrap();
        assert!(!hs.supports_extension_protocol());
        assert!(!hs.supports_fast());
        assert!(!hs.supports_dht());
        // Unknown bits are preserved.
        assert_eq!(hs.to_bytes(), b);
    }

    #[test]
    fn partial_buffers_need_more() {
        let b = sample().to_bytes();
        for n in 0..68 {
            assert_eq!(Handshake::parse(&b[..n]), Ok(None), "prefix of {n}");
        }
        for n in 0..48 {
            assert_eq!(HandshakePrefix::parse(&b[..n]), Ok(None), "prefix of {n}");
        }
    }

    #[test]
    fn prefix_from_48_bytes() {
        let hs = sample().with_dht(true);
        let b = hs.to_bytes();
        let p = HandshakePrefix::parse(&b[..48]).unwrap().unwrap();
        assert_eq!(p, hs.prefix());
        assert_eq!(p.info_hash, [0xaa; 20]);
        assert!(p.reserved.supports_dht());
        assert_eq!(p.with_peer_id(hs.peer_id), hs);
    }

    #[test]
    fn wrong_protocol_length() {
        let mut b = sample().to_bytes();
        b[0] = 18;
        assert_eq!(
            Handshake::parse(&b),
            Err(HandshakeError::BadProtocolLength(18))
        );
        // Detected from the first byte alone.
        assert_eq!(
            Handshake::parse(&b[..1]),
            Err(HandshakeError::BadProtocolLength(18))
        );
    }

    #[test]
    fn wrong_protocol_string_detected_early() {
        let mut b = sample().to_bytes();
        b[5] = b'X';
        assert_eq!(Handshake::parse(&b), Err(HandshakeError::BadProtocolString));
        assert_eq!(
            HandshakePrefix::parse(&b[..6]),
            Err(HandshakeError::BadProtocolString)
        );
        // Before the wrong byte arrives, it is still just incomplete.
        assert_eq!(HandshakePrefix::parse(&b[..5]), Ok(None));
        // A plain HTTP request is rejected at once.
        assert_eq!(
            Handshake::parse(b"GET / HTTP/1.1\r\n"),
            Err(HandshakeError::BadProtocolLength(b'G'))
        );
    }

    #[test]
    fn decode_consumes_only_the_handshake() {
        let hs = sample();
        let mut buf = BytesMut::new();
        hs.encode(&mut buf);
        buf.extend_from_slice(&[0, 0, 0, 1, 2]);
        assert_eq!(Handshake::decode(&mut buf), Ok(Some(hs)));
        assert_eq!(&buf[..], &[0, 0, 0, 1, 2]);

        let mut partial = BytesMut::from(&hs.to_bytes()[..60]);
        assert_eq!(Handshake::decode(&mut partial), Ok(None));
        assert_eq!(partial.len(), 60);
    }
}
