//! Peer-wire messages and their encoding.
//!
//! Every message after the handshake is framed as a 4-byte big-endian
//! length followed by that many bytes: a 1-byte message id and its payload.
//! A length of zero is a keep-alive.

use bytes::{BufMut, Bytes, BytesMut};

/// Message ids (BEP 3, BEP 5, BEP 6, BEP 10).
pub mod id {
    /// `choke` (BEP 3).
    pub const CHOKE: u8 = 0;
    /// `unchoke` (BEP 3).
    pub const UNCHOKE: u8 = 1;
    /// `interested` (BEP 3).
    pub const INTERESTED: u8 = 2;
    /// `not interested` (BEP 3).
    pub const NOT_INTERESTED: u8 = 3;
    /// `have` (BEP 3).
    pub const HAVE: u8 = 4;
    /// `bitfield` (BEP 3).
    pub const BITFIELD: u8 = 5;
    /// `request` (BEP 3).
    pub const REQUEST: u8 = 6;
    /// `piece` (BEP 3).
    pub const PIECE: u8 = 7;
    /// `cancel` (BEP 3).
    pub const CANCEL: u8 = 8;
    /// `port` (BEP 5).
    pub const PORT: u8 = 9;
    /// `suggest piece` (BEP 6).
    pub const SUGGEST_PIECE: u8 = 0x0d;
    /// `have all` (BEP 6).
    pub const HAVE_ALL: u8 = 0x0e;
    /// `have none` (BEP 6).
    pub const HAVE_NONE: u8 = 0x0f;
    /// `reject request` (BEP 6).
    pub const REJECT_REQUEST: u8 = 0x10;
    /// `allowed fast` (BEP 6).
    pub const ALLOWED_FAST: u8 = 0x11;
    /// `extended` (BEP 10).
    pub const EXTENDED: u8 = 20;
}

/// Size of the length prefix in front of every message.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Bytes of a `piece` frame before its data: length prefix, id, index, begin.
pub const PIECE_HEADER_LEN: usize = LENGTH_PREFIX_LEN + 1 + 4 + 4;

/// One peer-wire message.
///
/// Payload-carrying variants hold [`Bytes`] that the decoder slices out of
/// its input without copying.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// An empty frame that keeps the connection open.
    KeepAlive,
    /// The sender will not serve our requests.
    Choke,
    /// The sender will serve our requests.
    Unchoke,
    /// The sender wants pieces we have.
    Interested,
    /// The sender wants nothing we have.
    NotInterested,
    /// The sender now has a piece.
    Have {
        /// Piece index.
        piece: u32,
    },
    /// Which pieces the sender has, high bit of the first byte = piece 0.
    /// The decoder has checked its size and spare bits when the piece count
    /// is known; interpreting it is up to the caller.
    Bitfield(Bytes),
    /// Ask for a block.
    Request {
        /// Piece index.
        index: u32,
        /// Byte offset within the piece.
        begin: u32,
        /// Block length.
        length: u32,
    },
    /// A block of data.
    Piece {
        /// Piece index.
        index: u32,
        /// Byte offset within the piece.
        begin: u32,
        /// The block.
        data: Bytes,
    },
    /// Withdraw a request.
    Cancel {
        /// Piece index.
        index: u32,
        /// Byte offset within the piece.
        begin: u32,
        /// Block length.
        length: u32,
    },
    /// The sender's DHT port (BEP 5).
    Port(u16),
    /// The sender suggests we download this piece (BEP 6).
    SuggestPiece {
        /// Piece index.
        piece: u32,
    },
    /// The sender has every piece (BEP 6).
    HaveAll,
    /// The sender has no piece (BEP 6).
    HaveNone,
    /// The sender will not serve a request (BEP 6).
    RejectRequest {
        /// Piece index.
        index: u32,
        /// Byte offset within the piece.
        begin: u32,
        /// Block length.
        length: u32,
    },
    /// We may request this piece even while choked (BEP 6).
    AllowedFast {
        /// Piece index.
        piece: u32,
    },
    /// An extension-protocol message (BEP 10); `id` 0 is the extension
    /// handshake, others are the ids we assigned in ours.
    Extended {
        /// Extended message id.
        id: u8,
        /// The rest of the message.
        payload: Bytes,
    },
    /// A message id this crate does not know. Not an error: the decoder
    /// returns it so the caller can skip (or log) it.
    ///
    /// Encoding one with a known `id` produces that known message instead,
    /// so build these only to relay what was decoded.
    Unknown {
        /// The message id.
        id: u8,
        /// Its payload, unparsed.
        payload: Bytes,
    },
}

/// A frame's length-prefix value for a payload of `payload_len` bytes after
/// the id byte.
///
/// # Panics
///
/// If the frame would not fit the 32-bit length prefix, i.e. the caller
/// tried to send more than 4 GiB in one message; nothing decoded from the
/// network comes near that.
fn frame_len(payload_len: usize) -> u32 {
    match u32::try_from(payload_len)
        .ok()
        .and_then(|n| n.checked_add(1))
    {
        Some(n) => n,
        None => panic!("message payload of {payload_len} bytes does not fit a frame"),
    }
}

/// Append the 13-byte header of a `piece` message whose block is `len`
/// bytes long: length prefix, id, index and begin.
///
/// The block itself is not written, so the caller can send it from its own
/// buffer (for example with a vectored write) without copying it here.
/// Together the two are exactly `Message::Piece { index, begin, data }`.
///
/// # Panics
///
/// If `len` is over `u32::MAX - 9` (no frame can carry it).
pub fn encode_piece_header(index: u32, begin: u32, len: u32, out: &mut BytesMut) {
    let Some(prefix) = len.checked_add(9) else {
        panic!("piece block of {len} bytes does not fit a frame");
    };
    out.reserve(PIECE_HEADER_LEN);
    out.put_u32(prefix);
    out.put_u8(id::PIECE);
    out.put_u32(index);
    out.put_u32(begin);
}

impl Message {
    /// The message id, or `None` for a keep-alive (which has none).
    pub fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => id::CHOKE,
            Message::Unchoke => id::UNCHOKE,
            Message::Interested => id::INTERESTED,
            Message::NotInterested => id::NOT_INTERESTED,
            Message::Have { .. } => id::HAVE,
            Message::Bitfield(_) => id::BITFIELD,
            Message::Request { .. } => id::REQUEST,
            Message::Piece { .. } => id::PIECE,
            Message::Cancel { .. } => id::CANCEL,
            Message::Port(_) => id::PORT,
            Message::SuggestPiece { .. } => id::SUGGEST_PIECE,
            Message::HaveAll => id::HAVE_ALL,
            Message::HaveNone => id::HAVE_NONE,
            Message::RejectRequest { .. } => id::REJECT_REQUEST,
            Message::AllowedFast { .. } => id::ALLOWED_FAST,
            Message::Extended { .. } => id::EXTENDED,
            Message::Unknown { id, .. } => *id,
        })
    }

    /// A short name for logs and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Message::KeepAlive => "keep-alive",
            Message::Unknown { .. } => "unknown",
            _ => self.id().map(name_of).unwrap_or("unknown"),
        }
    }

    /// Bytes after the id byte.
    fn payload_len(&self) -> usize {
        match self {
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => 0,
            Message::Have { .. } | Message::SuggestPiece { .. } | Message::AllowedFast { .. } => 4,
            Message::Port(_) => 2,
            Message::Request { .. } | Message::Cancel { .. } | Message::RejectRequest { .. } => 12,
            Message::Bitfield(b) => b.len(),
            Message::Piece { data, .. } => 8 + data.len(),
            Message::Extended { payload, .. } => 1 + payload.len(),
            Message::Unknown { payload, .. } => payload.len(),
        }
    }

    /// Total encoded size, length prefix included.
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::KeepAlive => LENGTH_PREFIX_LEN,
            _ => LENGTH_PREFIX_LEN + 1 + self.payload_len(),
        }
    }

    /// Append the framed message to `out`.
    ///
    /// # Panics
    ///
    /// If a payload is 4 GiB or more (no frame can carry it).
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        let Some(msg_id) = self.id() else {
            out.put_u32(0);
            return;
        };
        if let Message::Piece { index, begin, data } = self {
            let Ok(len) = u32::try_from(data.len()) else {
                panic!("piece block of {} bytes does not fit a frame", data.len());
            };
            encode_piece_header(*index, *begin, len, out);
            out.put_slice(data);
            return;
        }
        out.put_u32(frame_len(self.payload_len()));
        out.put_u8(msg_id);
        match self {
            Message::Have { piece }
            | Message::SuggestPiece { piece }
            | Message::AllowedFast { piece } => out.put_u32(*piece),
            Message::Request {
                index,
                begin,
                length,
            }
            | Message::Cancel {
                index,
                begin,
                length,
            }
            | Message::RejectRequest {
                index,
                begin,
                length,
            } => {
                out.put_u32(*index);
                out.put_u32(*begin);
                out.put_u32(*length);
            }
            Message::Port(port) => out.put_u16(*port),
            Message::Bitfield(bits) => out.put_slice(bits),
            Message::Extended { id, payload } => {
                out.put_u8(*id);
                out.put_slice(payload);
            }
            Message::Unknown { payload, .. } => out.put_slice(payload),
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone
            | Message::Piece { .. } => {}
        }
    }

    /// The framed message in a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out.freeze()
    }
}

/// The name of a known message id, `"unknown"` otherwise.
pub fn name_of(msg_id: u8) -> &'static str {
    match msg_id {
        id::CHOKE => "choke",
        id::UNCHOKE => "unchoke",
        id::INTERESTED => "interested",
        id::NOT_INTERESTED => "not interested",
        id::HAVE => "have",
        id::BITFIELD => "bitfield",
        id::REQUEST => "request",
        id::PIECE => "piece",
        id::CANCEL => "cancel",
        id::PORT => "port",
        id::SUGGEST_PIECE => "suggest piece",
        id::HAVE_ALL => "have all",
        id::HAVE_NONE => "have none",
        id::REJECT_REQUEST => "reject request",
        id::ALLOWED_FAST => "allowed fast",
        id::EXTENDED => "extended",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(m: &Message) -> Vec<u8> {
        let mut out = BytesMut::new();
        m.encode(&mut out);
        assert_eq!(out.len(), m.encoded_len(), "encoded_len of {m:?}");
        out.to_vec()
    }

    #[test]
    fn exact_encodings() {
        let cases: Vec<(Message, Vec<u8>)> = vec![
            (Message::KeepAlive, vec![0, 0, 0, 0]),
            (Message::Choke, vec![0, 0, 0, 1, 0]),
            (Message::Unchoke, vec![0, 0, 0, 1, 1]),
            (Message::Interested, vec![0, 0, 0, 1, 2]),
            (Message::NotInterested, vec![0, 0, 0, 1, 3]),
            (
                Message::Have { piece: 0x01020304 },
                vec![0, 0, 0, 5, 4, 1, 2, 3, 4],
            ),
            (
                Message::Bitfield(Bytes::from_static(&[0xff, 0x80])),
                vec![0, 0, 0, 3, 5, 0xff, 0x80],
            ),
            (
                Message::Request {
                    index: 1,
                    begin: 0x4000,
                    length: 0x4000,
                },
                vec![0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0],
            ),
            (
                Message::Piece {
                    index: 2,
                    begin: 3,
                    data: Bytes::from_static(b"abc"),
                },
                vec![0, 0, 0, 12, 7, 0, 0, 0, 2, 0, 0, 0, 3, b'a', b'b', b'c'],
            ),
            (
                Message::Cancel {
                    index: 1,
                    begin: 2,
                    length: 3,
                },
                vec![0, 0, 0, 13, 8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3],
            ),
            (Message::Port(6881), vec![0, 0, 0, 3, 9, 0x1a, 0xe1]),
            (
                Message::SuggestPiece { piece: 9 },
                vec![0, 0, 0, 5, 13, 0, 0, 0, 9],
            ),
            (Message::HaveAll, vec![0, 0, 0, 1, 14]),
            (Message::HaveNone, vec![0, 0, 0, 1, 15]),
            (
                Message::RejectRequest {
                    index: 1,
                    begin: 2,
                    length: 3,
                },
                vec![0, 0, 0, 13, 16, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3],
            ),
            (
                Message::AllowedFast { piece: 7 },
                vec![0, 0, 0, 5, 17, 0, 0, 0, 7],
            ),
            (
                Message::Extended {
                    id: 3,
                    payload: Bytes::from_static(b"de"),
                },
                vec![0, 0, 0, 4, 20, 3, b'd', b'e'],
            ),
            (
                Message::Unknown {
                    id: 200,
                    payload: Bytes::from_static(b"x"),
                },
                vec![0, 0, 0, 2, 200, b'x'],
            ),
        ];
        for (m, bytes) in cases {
            assert_eq!(enc(&m), bytes, "{m:?}");
            assert_eq!(&m.to_bytes()[..], &bytes[..]);
        }
    }

    #[test]
    fn piece_header_plus_data_equals_piece_message() {
        let data = Bytes::from(vec![7u8; 16384]);
        let mut header = BytesMut::new();
        encode_piece_header(5, 16384, data.len() as u32, &mut header);
        assert_eq!(header.len(), PIECE_HEADER_LEN);
        header.extend_from_slice(&data);
        let m = Message::Piece {
            index: 5,
            begin: 16384,
            data,
        };
        assert_eq!(&header[..], &enc(&m)[..]);
    }

    #[test]
    fn ids_and_names() {
        assert_eq!(Message::KeepAlive.id(), None);
        assert_eq!(Message::KeepAlive.name(), "keep-alive");
        assert_eq!(Message::HaveAll.id(), Some(14));
        assert_eq!(Message::HaveAll.name(), "have all");
        assert_eq!(
            Message::Unknown {
                id: 4,
                payload: Bytes::new()
            }
            .name(),
            "unknown"
        );
        assert_eq!(name_of(99), "unknown");
    }
}
