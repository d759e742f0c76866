//! Decoding errors.

use std::fmt;

/// What went wrong while decoding, without the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The input ended while the named item was expected.
    #[error("unexpected end of input, expected {0}")]
    UnexpectedEof(&'static str),
    /// A byte that cannot start or continue the expected item.
    #[error("unexpected byte {found:#04x}, expected {expected}")]
    UnexpectedByte {
        /// The offending byte.
        found: u8,
        /// What the decoder was looking for.
        expected: &'static str,
    },
    /// An integer with a leading zero, such as `i03e` or `03:abc`.
    #[error("leading zero in integer")]
    LeadingZero,
    /// The integer `i-0e`, which BEP 3 forbids.
    #[error("negative zero")]
    NegativeZero,
    /// An integer with no digits, such as `ie` or `i-e`.
    #[error("integer has no digits")]
    EmptyInteger,
    /// An integer that does not fit in 64 bits.
    #[error("integer out of 64-bit range")]
    IntegerOverflow,
    /// A byte string whose declared length runs past the end of the input.
    #[error("byte string declares {declared} bytes but only {available} remain")]
    StringTooLong {
        /// Declared length.
        declared: u64,
        /// Bytes left in the input.
        available: usize,
    },
    /// Lists and dictionaries nested deeper than the decoder's limit.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// Bytes after the end of the top-level value.
    #[error("trailing data after the value")]
    TrailingData,
    /// A dictionary key that is not a byte string.
    #[error("dictionary key is not a byte string")]
    NonStringKey,
    /// A dictionary key repeated within one dictionary (strict mode only).
    #[error("duplicate dictionary key")]
    DuplicateKey,
    /// Dictionary keys out of order (strict mode only).
    #[error("dictionary keys not sorted")]
    UnsortedKeys,
}

/// A decoding error: what went wrong and at which byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bencode: {} at byte {}", self.kind, self.offset)
    }
}

impl std::error::Error for DecodeError {}
