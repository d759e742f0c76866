//! The uTP packet format (BEP 29): a 20-byte header, an extension chain
//! (only the selective-ack extension is understood; others are skipped), and
//! the payload.
//!
//! ```text
//! 0       4       8               16              24              32
//! +-------+-------+---------------+---------------+---------------+
//! | type  | ver   | extension     | connection_id                 |
//! +-------+-------+---------------+---------------+---------------+
//! | timestamp_microseconds                                        |
//! | timestamp_difference_microseconds                             |
//! | wnd_size                                                      |
//! | seq_nr                        | ack_nr                        |
//! +---------------+---------------+---------------+---------------+
//! ```
//!
//! Parsing is strict and bounded: every length is checked against the
//! datagram before it is used, and malformed input is an error.

use thiserror::Error;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 20;
/// The only protocol version (low nibble of the first byte).
pub const VERSION: u8 = 1;
/// Extension type of the selective-ack extension.
pub const EXT_SELECTIVE_ACK: u8 = 1;
/// Extension type of Shoal's datagram-size extension: a 4-byte big-endian
/// count, the largest datagram the sender accepts. Peers that do not know
/// it skip it (BEP 29 requires unknown extensions to be skipped); two Shoal
/// peers use it to agree on packets larger than the 1500-byte buffers
/// other implementations receive into.
pub const EXT_MAX_DATAGRAM: u8 = 0x53;
/// Most extensions accepted in one packet before it is rejected.
pub const MAX_EXTENSIONS: usize = 16;
/// Largest selective-ack bitmask this crate sends, in bytes (256 packets).
pub const MAX_SACK_BYTES: usize = 32;

/// The packet type (high nibble of the first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Regular data (`ST_DATA`).
    Data = 0,
    /// Finalize: the last packet of the sender's stream (`ST_FIN`).
    Fin = 1,
    /// Acknowledgement only, carries no data (`ST_STATE`).
    State = 2,
    /// Forcibly terminate the connection (`ST_RESET`).
    Reset = 3,
    /// Open a connection (`ST_SYN`).
    Syn = 4,
}

impl PacketType {
    /// The type for a 4-bit code, if valid.
    pub fn from_code(code: u8) -> Option<PacketType> {
        Some(match code {
            0 => PacketType::Data,
            1 => PacketType::Fin,
            2 => PacketType::State,
            3 => PacketType::Reset,
            4 => PacketType::Syn,
            _ => return None,
        })
    }

    /// True for types that consume a sequence number (SYN, DATA, FIN).
    pub fn is_sequenced(self) -> bool {
        matches!(self, PacketType::Data | PacketType::Fin | PacketType::Syn)
    }
}

/// Why a datagram is not a valid uTP packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    /// Shorter than the 20-byte header.
    #[error("datagram of {0} bytes is shorter than the uTP header")]
    TooShort(usize),
    /// The version nibble is not 1.
    #[error("unsupported uTP version {0}")]
    BadVersion(u8),
    /// The type nibble is not one of the five packet types.
    #[error("unknown uTP packet type {0}")]
    BadType(u8),
    /// An extension header or body runs past the end of the datagram.
    #[error("uTP extension runs past the end of the datagram")]
    TruncatedExtension,
    /// A selective-ack extension with an empty bitmask.
    #[error("empty selective-ack bitmask")]
    EmptySack,
    /// More chained extensions than [`MAX_EXTENSIONS`].
    #[error("more than {MAX_EXTENSIONS} uTP extensions")]
    TooManyExtensions,
}

/// The fixed 20-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Packet type.
    pub ty: PacketType,
    /// Connection id (the receiver's id for this connection).
    pub conn_id: u16,
    /// Sender's clock when sending, in microseconds (wraps).
    pub timestamp_us: u32,
    /// Sender's latest one-way delay measurement of packets from the
    /// receiver: the sender's receive time minus the receiver's timestamp.
    pub timestamp_diff_us: u32,
    /// Bytes the sender can still receive (its free receive buffer).
    pub wnd_size: u32,
    /// Sequence number of this packet (the next one for `ST_STATE`).
    pub seq_nr: u16,
    /// Last sequence number the sender received in order.
    pub ack_nr: u16,
}

/// A parsed packet borrowing its payload (and selective-ack bitmask) from
/// the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The fixed header.
    pub header: Header,
    /// The selective-ack bitmask, if the packet has one: bit `i` (LSB first
    /// within each byte) set means packet `ack_nr + 2 + i` was received.
    pub sack: Option<&'a [u8]>,
    /// The sender's [`EXT_MAX_DATAGRAM`] announcement, if any.
    pub max_datagram: Option<u32>,
    /// Payload after the extensions.
    pub payload: &'a [u8],
}

/// True if `datagram` looks like uTP (long enough, version 1, a known type):
/// what a socket shared with the DHT uses to route datagrams. KRPC messages
/// start with `d` (0x64), whose low nibble is 4, so they never match.
pub fn looks_like_utp(datagram: &[u8]) -> bool {
    match datagram.first() {
        Some(&b) => {
            datagram.len() >= HEADER_LEN
                && b & 0x0f == VERSION
                && PacketType::from_code(b >> 4).is_some()
        }
        None => false,
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Packet<'a> {
    /// Parse one datagram. The first selective-ack extension is kept; any
    /// other extension (including a second selective ack) is skipped.
    pub fn parse(data: &'a [u8]) -> Result<Packet<'a>, PacketError> {
        if data.len() < HEADER_LEN {
            return Err(PacketError::TooShort(data.len()));
        }
        let version = data[0] & 0x0f;
        if version != VERSION {
            return Err(PacketError::BadVersion(version));
        }
        let code = data[0] >> 4;
        let ty = PacketType::from_code(code).ok_or(PacketError::BadType(code))?;
        let header = Header {
            ty,
            conn_id: be16(data, 2),
            timestamp_us: be32(data, 4),
            timestamp_diff_us: be32(data, 8),
            wnd_size: be32(data, 12),
            seq_nr: be16(data, 16),
            ack_nr: be16(data, 18),
        };
        let mut next_ext = data[1];
        let mut at = HEADER_LEN;
        let mut sack = None;
        let mut max_datagram = None;
        let mut count = 0;
        while next_ext != 0 {
            count += 1;
            if count > MAX_EXTENSIONS {
                return Err(PacketError::TooManyExtensions);
            }
            if data.len() < at + 2 {
                return Err(PacketError::TruncatedExtension);
            }
            let this_ext = next_ext;
            next_ext = data[at];
            let len = usize::from(data[at + 1]);
            at += 2;
            if data.len() < at + len {
                return Err(PacketError::TruncatedExtension);
            }
            if this_ext == EXT_SELECTIVE_ACK && sack.is_none() {
                if len == 0 {
                    return Err(PacketError::EmptySack);
                }
                sack = Some(&data[at..at + len]);
            } else if this_ext == EXT_MAX_DATAGRAM && len == 4 && max_datagram.is_none() {
                max_datagram = Some(be32(data, at));
            }
            at += len;
        }
        Ok(Packet {
            header,
            sack,
            max_datagram,
            payload: &data[at..],
        })
    }

    /// Encoded length of this packet.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + self.sack.map_or(0, |s| 2 + s.len().min(255))
            + self.max_datagram.map_or(0, |_| 6)
            + self.payload.len()
    }

    /// Append the encoded packet to `out`. A selective-ack bitmask longer
    /// than 255 bytes is truncated (the length field is one byte).
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_with(
            &self.header,
            self.sack,
            self.max_datagram,
            self.payload,
            out,
        );
    }

    /// The encoded packet as a new buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }
}

/// Append a packet built from its parts to `out` (the allocation-free path
/// the connection uses).
pub fn encode_parts(h: &Header, sack: Option<&[u8]>, payload: &[u8], out: &mut Vec<u8>) {
    encode_with(h, sack, None, payload, out);
}

/// [`encode_parts`] with an optional [`EXT_MAX_DATAGRAM`] announcement.
pub fn encode_with(
    h: &Header,
    sack: Option<&[u8]>,
    max_datagram: Option<u32>,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    let sack = sack
        .map(|s| &s[..s.len().min(255)])
        .filter(|s| !s.is_empty());
    out.reserve(HEADER_LEN + sack.map_or(0, |s| 2 + s.len()) + 6 + payload.len());
    out.push(((h.ty as u8) << 4) | VERSION);
    out.push(match (sack, max_datagram) {
        (Some(_), _) => EXT_SELECTIVE_ACK,
        (None, Some(_)) => EXT_MAX_DATAGRAM,
        (None, None) => 0,
    });
    out.extend_from_slice(&h.conn_id.to_be_bytes());
    out.extend_from_slice(&h.timestamp_us.to_be_bytes());
    out.extend_from_slice(&h.timestamp_diff_us.to_be_bytes());
    out.extend_from_slice(&h.wnd_size.to_be_bytes());
    out.extend_from_slice(&h.seq_nr.to_be_bytes());
    out.extend_from_slice(&h.ack_nr.to_be_bytes());
    if let Some(s) = sack {
        out.push(if max_datagram.is_some() {
            EXT_MAX_DATAGRAM
        } else {
            0
        });
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    }
    if let Some(m) = max_datagram {
        out.push(0);
        out.push(4);
        out.extend_from_slice(&m.to_be_bytes());
    }
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ty: PacketType) -> Header {
        Header {
            ty,
            conn_id: 0x1234,
            timestamp_us: 0xdead_beef,
            timestamp_diff_us: 77,
            wnd_size: 1 << 20,
            seq_nr: 65535,
            ack_nr: 3,
        }
    }

    #[test]
    fn roundtrip_with_sack_and_payload() {
        let sack = [0b101u8, 0, 0, 0x80];
        let p = Packet {
            header: header(PacketType::Data),
            sack: Some(&sack),
            max_datagram: None,
            payload: b"hello",
        };
        let bytes = p.to_vec();
        assert_eq!(bytes.len(), 20 + 6 + 5);
        assert_eq!(bytes[0], 0x01);
        assert_eq!(bytes[1], 1);
        assert_eq!(Packet::parse(&bytes).unwrap(), p);
        assert!(looks_like_utp(&bytes));
    }

    #[test]
    fn known_bytes_decode() {
        // ST_SYN, no extension, conn id 0x0102, seq 0x0a0b, ack 0.
        let mut b = vec![0x41, 0, 1, 2];
        b.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 0, 0, 0x10, 0, 0, 0x0a, 0x0b, 0, 0]);
        let p = Packet::parse(&b).unwrap();
        assert_eq!(p.header.ty, PacketType::Syn);
        assert_eq!(p.header.conn_id, 0x0102);
        assert_eq!(p.header.timestamp_us, 5);
        assert_eq!(p.header.wnd_size, 0x0010_0000);
        assert_eq!(p.header.seq_nr, 0x0a0b);
        assert!(p.payload.is_empty() && p.sack.is_none());
    }

    #[test]
    fn unknown_extension_is_skipped() {
        let mut b = Packet {
            header: header(PacketType::State),
            sack: None,
            max_datagram: None,
            payload: &[],
        }
        .to_vec();
        // Chain: ext 7 (3 bytes) -> sack (4 bytes) -> end, then payload "x".
        b[1] = 7;
        b.extend_from_slice(&[1, 3, 9, 9, 9, 0, 4, 1, 2, 3, 4, b'x']);
        let p = Packet::parse(&b).unwrap();
        assert_eq!(p.sack, Some(&[1u8, 2, 3, 4][..]));
        assert_eq!(p.payload, b"x");
    }

    #[test]
    fn malformed_is_an_error() {
        assert_eq!(Packet::parse(&[0x01; 19]), Err(PacketError::TooShort(19)));
        let mut b = vec![0u8; 20];
        b[0] = 0x02;
        assert_eq!(Packet::parse(&b), Err(PacketError::BadVersion(2)));
        b[0] = 0x51;
        assert_eq!(Packet::parse(&b), Err(PacketError::BadType(5)));
        b[0] = 0x21;
        b[1] = 1;
        assert_eq!(Packet::parse(&b), Err(PacketError::TruncatedExtension));
        b.extend_from_slice(&[0, 8, 1]);
        assert_eq!(Packet::parse(&b), Err(PacketError::TruncatedExtension));
        let mut b = vec![0x21, 1];
        b.extend_from_slice(&[0; 18]);
        b.extend_from_slice(&[0, 0]);
        assert_eq!(Packet::parse(&b), Err(PacketError::EmptySack));
        // A long chain of empty unknown extensions.
        let mut b = vec![0x21, 9];
        b.extend_from_slice(&[0; 18]);
        for _ in 0..40 {
            b.extend_from_slice(&[9, 0]);
        }
        assert_eq!(Packet::parse(&b), Err(PacketError::TooManyExtensions));
    }

    #[test]
    fn max_datagram_extension_roundtrips_beside_a_sack() {
        let sack = [1u8, 0, 0, 0];
        for (sack, max) in [
            (None, Some(16384)),
            (Some(&sack[..]), Some(9000)),
            (Some(&sack[..]), None),
        ] {
            let p = Packet {
                header: header(PacketType::State),
                sack,
                max_datagram: max,
                payload: b"zz",
            };
            let bytes = p.to_vec();
            assert_eq!(bytes.len(), p.encoded_len());
            assert_eq!(Packet::parse(&bytes).unwrap(), p);
        }
        // A wrong length is skipped, not an error.
        let mut b = Packet {
            header: header(PacketType::State),
            sack: None,
            max_datagram: None,
            payload: &[],
        }
        .to_vec();
        b[1] = EXT_MAX_DATAGRAM;
        b.extend_from_slice(&[0, 2, 1, 1]);
        assert_eq!(Packet::parse(&b).unwrap().max_datagram, None);
    }

    #[test]
    fn krpc_is_not_utp() {
        assert!(!looks_like_utp(
            b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
        ));
        assert!(!looks_like_utp(&[]));
        assert!(!looks_like_utp(&[0x41; 10]));
    }
}
