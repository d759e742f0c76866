//! The streaming message decoder.
//!
//! The caller reads from its socket into a [`BytesMut`] and calls
//! [`MessageDecoder::decode`] until it returns `Ok(None)`. Each complete
//! frame is split off the buffer and its payload handed out as [`Bytes`]
//! sharing the same allocation; incomplete frames are left in place.
//!
//! Every rule that depends only on a frame's length and id is checked as
//! soon as those 5 bytes have arrived, so a hostile length prefix is
//! rejected before anything is buffered for it.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{LimitsError, WireError};
use crate::handshake::Reserved;
use crate::message::{id, name_of, Message, LENGTH_PREFIX_LEN};

/// Default largest block a `request` may ask for, and a `piece` may carry:
/// 16 KiB, what every real client uses.
pub const DEFAULT_MAX_REQUEST_LEN: u32 = 16 * 1024;

/// The largest value [`Limits::with_max_request_len`] accepts: 128 KiB.
pub const MAX_REQUEST_LEN_CEILING: u32 = 128 * 1024;

/// Default largest length prefix of an `extended` message: 16 KiB + 1 KiB,
/// room for a BEP 9 metadata piece (a small dictionary plus 16 KiB of data).
pub const DEFAULT_MAX_EXTENDED_LEN: u32 = 16 * 1024 + 1024;

/// The largest value [`Limits::with_max_extended_len`] accepts: 16 MiB.
pub const MAX_EXTENDED_LEN_CEILING: u32 = 16 * 1024 * 1024;

/// Default largest bitfield payload accepted while the piece count is not
/// known yet (a magnet link before its metadata): 256 KiB, enough for
/// two million pieces.
pub const DEFAULT_MAX_UNKNOWN_BITFIELD_LEN: u32 = 256 * 1024;

/// The largest value [`Limits::with_max_unknown_bitfield_len`] accepts:
/// 16 MiB.
pub const MAX_UNKNOWN_BITFIELD_LEN_CEILING: u32 = 16 * 1024 * 1024;

/// Size limits enforced by [`MessageDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_request_len: u32,
    max_extended_len: u32,
    max_unknown_bitfield_len: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}

fn in_range(limit: &'static str, value: u32, min: u32, max: u32) -> Result<u32, LimitsError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(LimitsError::OutOfRange {
            limit,
            value,
            min,
            max,
        })
    }
}

impl Limits {
    /// The defaults: [`DEFAULT_MAX_REQUEST_LEN`], [`DEFAULT_MAX_EXTENDED_LEN`]
    /// and [`DEFAULT_MAX_UNKNOWN_BITFIELD_LEN`].
    pub const fn new() -> Limits {
        Limits {
            max_request_len: DEFAULT_MAX_REQUEST_LEN,
            max_extended_len: DEFAULT_MAX_EXTENDED_LEN,
            max_unknown_bitfield_len: DEFAULT_MAX_UNKNOWN_BITFIELD_LEN,
        }
    }

    /// Set the largest block length a `request`, `cancel` or `reject
    /// request` may name and a `piece` may carry; `1..=128 KiB`.
    pub fn with_max_request_len(mut self, len: u32) -> Result<Limits, LimitsError> {
        self.max_request_len = in_range("max_request_len", len, 1, MAX_REQUEST_LEN_CEILING)?;
        Ok(self)
    }

    /// Set the largest length prefix of an `extended` message (id byte,
    /// extended id and payload); `2..=16 MiB`. The general frame limit
    /// applies when it is larger.
    pub fn with_max_extended_len(mut self, len: u32) -> Result<Limits, LimitsError> {
        self.max_extended_len = in_range("max_extended_len", len, 2, MAX_EXTENDED_LEN_CEILING)?;
        Ok(self)
    }

    /// Set the largest bitfield payload accepted while the piece count is
    /// unknown; `0..=16 MiB`. The general frame limit applies when it is
    /// larger.
    pub fn with_max_unknown_bitfield_len(mut self, len: u32) -> Result<Limits, LimitsError> {
        self.max_unknown_bitfield_len = in_range(
            "max_unknown_bitfield_len",
            len,
            0,
            MAX_UNKNOWN_BITFIELD_LEN_CEILING,
        )?;
        Ok(self)
    }

    /// The largest block length accepted.
    pub fn max_request_len(&self) -> u32 {
        self.max_request_len
    }

    /// The largest `extended` length prefix accepted.
    pub fn max_extended_len(&self) -> u32 {
        self.max_extended_len
    }

    /// The largest bitfield payload accepted without a piece count.
    pub fn max_unknown_bitfield_len(&self) -> u32 {
        self.max_unknown_bitfield_len
    }

    /// The general limit on a length prefix: the largest block plus 13
    /// (16397 by default). Bitfield and extended frames may exceed it up to
    /// their own limits.
    pub fn max_frame_len(&self) -> u32 {
        self.max_request_len + 13
    }
}

/// Check a bitfield against a piece count: exactly `ceil(piece_count / 8)`
/// bytes, with the spare bits of the last byte clear.
///
/// The decoder does this itself when it knows the piece count; a caller
/// that received a bitfield before the metadata (BEP 9) calls it once the
/// piece count is known.
pub fn validate_bitfield(bits: &[u8], piece_count: u32) -> Result<(), WireError> {
    let expected = bitfield_len(piece_count);
    if bits.len() != expected {
        return Err(WireError::BitfieldWrongSize {
            expected,
            actual: bits.len(),
            piece_count,
        });
    }
    let spare = expected * 8 - piece_count as usize;
    if let Some(&last) = bits.last() {
        let spare_mask = ((1u16 << spare) - 1) as u8;
        if last & spare_mask != 0 {
            return Err(WireError::BitfieldSpareBits { piece_count });
        }
    }
    Ok(())
}

/// `ceil(piece_count / 8)`.
fn bitfield_len(piece_count: u32) -> usize {
    piece_count.div_ceil(8) as usize
}

/// A streaming, zero-copy peer-wire message decoder for one connection.
///
/// Configured with the torrent's piece count (`None` until the metadata is
/// known), the [`Limits`], and which extensions the connection negotiated.
/// Any error means the peer broke the protocol and should be dropped; the
/// buffer is left as it was.
#[derive(Debug, Clone)]
pub struct MessageDecoder {
    piece_count: Option<u32>,
    limits: Limits,
    fast: bool,
    extended: bool,
}

/// The decoded fields of a 13-byte block message.
struct Block {
    index: u32,
    begin: u32,
    length: u32,
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

impl MessageDecoder {
    /// A decoder with default limits that accepts fast-extension and
    /// extended messages (narrow that with [`MessageDecoder::with_negotiated`]).
    pub fn new(piece_count: Option<u32>) -> MessageDecoder {
        MessageDecoder {
            piece_count,
            limits: Limits::new(),
            fast: true,
            extended: true,
        }
    }

    /// Use these limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Accept BEP 6 messages only if `fast`, and BEP 10 messages only if
    /// `extended`; others are errors.
    #[must_use]
    pub fn with_extensions(mut self, fast: bool, extended: bool) -> Self {
        self.fast = fast;
        self.extended = extended;
        self
    }

    /// Accept exactly the extensions both handshakes advertised.
    #[must_use]
    pub fn with_negotiated(self, ours: &Reserved, theirs: &Reserved) -> Self {
        self.with_extensions(
            ours.supports_fast() && theirs.supports_fast(),
            ours.supports_extension_protocol() && theirs.supports_extension_protocol(),
        )
    }

    /// Set the piece count, once the metadata has arrived. A bitfield
    /// received before should then be checked with [`validate_bitfield`].
    pub fn set_piece_count(&mut self, piece_count: Option<u32>) {
        self.piece_count = piece_count;
    }

    /// The piece count, if known.
    pub fn piece_count(&self) -> Option<u32> {
        self.piece_count
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The largest length prefix any message could have under the current
    /// configuration.
    fn absolute_max_frame_len(&self) -> u32 {
        self.limits
            .max_frame_len()
            .max(self.limits.max_extended_len)
            .max(self.max_bitfield_frame_len())
    }

    fn max_bitfield_frame_len(&self) -> u32 {
        let payload = match self.piece_count {
            Some(n) => n.div_ceil(8),
            None => self.limits.max_unknown_bitfield_len,
        };
        self.limits.max_frame_len().max(payload.saturating_add(1))
    }

    /// Decode the next message from the front of `buf`.
    ///
    /// `Ok(Some(_))` removes that message's frame from `buf`; `Ok(None)`
    /// means the frame is not complete yet (nothing is removed; `buf` may
    /// have capacity reserved for the rest of a validated frame). Unknown
    /// message ids come back as [`Message::Unknown`]. Errors leave `buf`
    /// untouched.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, WireError> {
        if buf.len() < LENGTH_PREFIX_LEN {
            return Ok(None);
        }
        let len = be_u32(buf, 0);
        if len == 0 {
            buf.advance(LENGTH_PREFIX_LEN);
            return Ok(Some(Message::KeepAlive));
        }
        // Checked before looking at the id, so that the error does not
        // depend on whether the id happened to arrive with the prefix.
        let max = self.absolute_max_frame_len();
        if len > max {
            return Err(WireError::FrameTooLong { id: None, len, max });
        }
        let Some(&msg_id) = buf.get(LENGTH_PREFIX_LEN) else {
            return Ok(None);
        };
        self.check_header(msg_id, len)?;
        let total = LENGTH_PREFIX_LEN + len as usize;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let body = &buf[LENGTH_PREFIX_LEN + 1..total];
        let message = match msg_id {
            id::CHOKE => Message::Choke,
            id::UNCHOKE => Message::Unchoke,
            id::INTERESTED => Message::Interested,
            id::NOT_INTERESTED => Message::NotInterested,
            id::HAVE_ALL => Message::HaveAll,
            id::HAVE_NONE => Message::HaveNone,
            id::HAVE => Message::Have {
                piece: self.piece_index(msg_id, be_u32(body, 0))?,
            },
            id::SUGGEST_PIECE => Message::SuggestPiece {
                piece: self.piece_index(msg_id, be_u32(body, 0))?,
            },
            id::ALLOWED_FAST => Message::AllowedFast {
                piece: self.piece_index(msg_id, be_u32(body, 0))?,
            },
            id::PORT => Message::Port(u16::from_be_bytes([body[0], body[1]])),
            id::REQUEST => {
                let Block {
                    index,
                    begin,
                    length,
                } = self.block(msg_id, body)?;
                Message::Request {
                    index,
                    begin,
                    length,
                }
            }
            id::CANCEL => {
                let Block {
                    index,
                    begin,
                    length,
                } = self.block(msg_id, body)?;
                Message::Cancel {
                    index,
                    begin,
                    length,
                }
            }
            id::REJECT_REQUEST => {
                let Block {
                    index,
                    begin,
                    length,
                } = self.block(msg_id, body)?;
                Message::RejectRequest {
                    index,
                    begin,
                    length,
                }
            }
            id::BITFIELD => {
                if let Some(n) = self.piece_count {
                    validate_bitfield(body, n)?;
                }
                return Ok(Some(Message::Bitfield(take_payload(buf, total, 1))));
            }
            id::PIECE => {
                let index = self.piece_index(msg_id, be_u32(body, 0))?;
                let begin = be_u32(body, 4);
                // check_header bounded the data length by max_request_len.
                let length = (body.len() - 8) as u32;
                if begin.checked_add(length).is_none() {
                    return Err(WireError::BlockOverflow {
                        message: name_of(msg_id),
                        begin,
                        length,
                    });
                }
                return Ok(Some(Message::Piece {
                    index,
                    begin,
                    data: take_payload(buf, total, 9),
                }));
            }
            id::EXTENDED => {
                let ext_id = body[0];
                return Ok(Some(Message::Extended {
                    id: ext_id,
                    payload: take_payload(buf, total, 2),
                }));
            }
            _ => {
                return Ok(Some(Message::Unknown {
                    id: msg_id,
                    payload: take_payload(buf, total, 1),
                }))
            }
        };
        // Only fixed-size messages get here; their frame is not needed.
        buf.advance(total);
        Ok(Some(message))
    }

    /// Every rule that depends only on the id and the length prefix.
    fn check_header(&self, msg_id: u8, len: u32) -> Result<(), WireError> {
        let name = name_of(msg_id);
        let exact = |expected: u32| {
            if len == expected {
                Ok(())
            } else {
                Err(WireError::WrongLength {
                    message: name,
                    expected,
                    actual: len,
                })
            }
        };
        let at_least = |min: u32, max: u32| {
            if len > max {
                Err(WireError::FrameTooLong {
                    id: Some(msg_id),
                    len,
                    max,
                })
            } else if len < min {
                Err(WireError::TooShort {
                    message: name,
                    min,
                    actual: len,
                })
            } else {
                Ok(())
            }
        };
        let max_frame = self.limits.max_frame_len();
        if is_fast(msg_id) && !self.fast {
            return Err(WireError::FastNotNegotiated { id: msg_id });
        }
        match msg_id {
            id::CHOKE
            | id::UNCHOKE
            | id::INTERESTED
            | id::NOT_INTERESTED
            | id::HAVE_ALL
            | id::HAVE_NONE => exact(1),
            id::HAVE | id::SUGGEST_PIECE | id::ALLOWED_FAST => exact(5),
            id::REQUEST | id::CANCEL | id::REJECT_REQUEST => exact(13),
            id::PORT => exact(3),
            id::BITFIELD => {
                at_least(1, self.max_bitfield_frame_len())?;
                match self.piece_count {
                    Some(n) if len - 1 != n.div_ceil(8) => Err(WireError::BitfieldWrongSize {
                        expected: bitfield_len(n),
                        actual: (len - 1) as usize,
                        piece_count: n,
                    }),
                    _ => Ok(()),
                }
            }
            id::PIECE => {
                at_least(9, max_frame)?;
                let data_len = len - 9;
                let max = self.limits.max_request_len;
                if data_len == 0 || data_len > max {
                    return Err(WireError::BadPieceDataLength {
                        length: data_len as usize,
                        max,
                    });
                }
                Ok(())
            }
            id::EXTENDED => {
                if !self.extended {
                    return Err(WireError::ExtendedNotNegotiated);
                }
                at_least(2, max_frame.max(self.limits.max_extended_len))
            }
            _ => at_least(1, max_frame),
        }
    }

    fn piece_index(&self, msg_id: u8, index: u32) -> Result<u32, WireError> {
        match self.piece_count {
            Some(piece_count) if index >= piece_count => Err(WireError::PieceIndexOutOfRange {
                message: name_of(msg_id),
                index,
                piece_count,
            }),
            _ => Ok(index),
        }
    }

    /// The body of a request, cancel or reject request.
    fn block(&self, msg_id: u8, body: &[u8]) -> Result<Block, WireError> {
        let index = self.piece_index(msg_id, be_u32(body, 0))?;
        let begin = be_u32(body, 4);
        let length = be_u32(body, 8);
        let max = self.limits.max_request_len;
        if length == 0 || length > max {
            return Err(WireError::BadBlockLength {
                message: name_of(msg_id),
                length,
                max,
            });
        }
        if begin.checked_add(length).is_none() {
            return Err(WireError::BlockOverflow {
                message: name_of(msg_id),
                begin,
                length,
            });
        }
        Ok(Block {
            index,
            begin,
            length,
        })
    }
}

/// Whether `msg_id` is one of the BEP 6 messages.
fn is_fast(msg_id: u8) -> bool {
    (id::SUGGEST_PIECE..=id::ALLOWED_FAST).contains(&msg_id)
}

/// Split the `total`-byte frame off `buf` and return its bytes from
/// `skip` bytes after the length prefix on, without copying.
fn take_payload(buf: &mut BytesMut, total: usize, skip: usize) -> Bytes {
    let frame = buf.split_to(total).freeze();
    frame.slice(LENGTH_PREFIX_LEN + skip..)
}
