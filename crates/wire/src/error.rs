//! Error types.
//!
//! Every decoding error means the remote peer broke the protocol; the caller
//! is expected to drop the connection. None of them is recoverable by
//! waiting for more bytes — "need more bytes" is `Ok(None)`, not an error.

/// A peer-wire message (or its length prefix) broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The length prefix announces a frame larger than allowed. Raised
    /// before any of the frame's bytes are buffered.
    #[error("frame length {len} exceeds the limit of {max} bytes (message id {id:?})")]
    FrameTooLong {
        /// The message id when the length is over its type's limit; `None`
        /// when the length is over every type's limit (decided from the
        /// prefix alone).
        id: Option<u8>,
        /// The length prefix as sent.
        len: u32,
        /// The largest length allowed for this frame.
        max: u32,
    },
    /// A fixed-size message whose length prefix is not its size.
    #[error("{message} message has length {actual}, expected {expected}")]
    WrongLength {
        /// Which message.
        message: &'static str,
        /// The length it must have (id byte included).
        expected: u32,
        /// The length prefix as sent.
        actual: u32,
    },
    /// A variable-size message shorter than its fixed header.
    #[error("{message} message has length {actual}, needs at least {min}")]
    TooShort {
        /// Which message.
        message: &'static str,
        /// The minimum length (id byte included).
        min: u32,
        /// The length prefix as sent.
        actual: u32,
    },
    /// A bitfield whose size does not match the torrent's piece count.
    #[error("bitfield is {actual} bytes, expected {expected} for {piece_count} pieces")]
    BitfieldWrongSize {
        /// `ceil(piece_count / 8)`.
        expected: usize,
        /// Size received.
        actual: usize,
        /// The torrent's piece count.
        piece_count: u32,
    },
    /// A bitfield with bits set past the last piece.
    #[error("bitfield has spare bits set past piece {piece_count}")]
    BitfieldSpareBits {
        /// The torrent's piece count.
        piece_count: u32,
    },
    /// A piece index not below the torrent's piece count.
    #[error("{message} message names piece {index}, but the torrent has {piece_count} pieces")]
    PieceIndexOutOfRange {
        /// Which message.
        message: &'static str,
        /// Index received.
        index: u32,
        /// The torrent's piece count.
        piece_count: u32,
    },
    /// A request, cancel or reject whose block length is zero or over the
    /// configured maximum.
    #[error("{message} message asks for a block of {length} bytes (allowed 1..={max})")]
    BadBlockLength {
        /// Which message.
        message: &'static str,
        /// Length received.
        length: u32,
        /// The configured maximum block length.
        max: u32,
    },
    /// A piece message whose data is empty or longer than the configured
    /// maximum block length.
    #[error("piece message carries {length} bytes of data (allowed 1..={max})")]
    BadPieceDataLength {
        /// Data bytes received.
        length: usize,
        /// The configured maximum block length.
        max: u32,
    },
    /// A block whose `begin + length` does not fit in 32 bits.
    #[error("{message} message: block at offset {begin} with length {length} overflows")]
    BlockOverflow {
        /// Which message.
        message: &'static str,
        /// Offset within the piece.
        begin: u32,
        /// Block length.
        length: u32,
    },
    /// A fast-extension message (BEP 6) on a connection that did not
    /// negotiate it.
    #[error("fast-extension message id {id} without the fast extension negotiated")]
    FastNotNegotiated {
        /// The message id.
        id: u8,
    },
    /// An extended message (BEP 10) on a connection that did not negotiate
    /// the extension protocol.
    #[error("extended message without the extension protocol negotiated")]
    ExtendedNotNegotiated,
}

/// The 68-byte handshake was malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The first byte is not 19 (the length of `"BitTorrent protocol"`).
    #[error("protocol string length is {0}, expected 19")]
    BadProtocolLength(u8),
    /// The protocol string is not `"BitTorrent protocol"`.
    #[error("protocol string is not \"BitTorrent protocol\"")]
    BadProtocolString,
}

/// A BEP 10 extension handshake payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtensionError {
    /// The payload is not valid bencode.
    #[error("extension handshake is not valid bencode: {0}")]
    Bencode(#[from] shoal_bencode::DecodeError),
    /// The payload is bencode, but not a dictionary.
    #[error("extension handshake is a {0}, expected a dictionary")]
    NotADictionary(&'static str),
}

/// A decoder limit was configured out of its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// A limit outside `min..=max`.
    #[error("{limit} = {value} is out of range {min}..={max}")]
    OutOfRange {
        /// Which limit.
        limit: &'static str,
        /// The value asked for.
        value: u32,
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
}
