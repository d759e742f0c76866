//! The zero-copy decoder.

use crate::error::{DecodeError, DecodeErrorKind};
use crate::value::{Dict, Value};

/// Default limit on nesting depth of lists and dictionaries.
///
/// Real torrents nest about five levels deep; 64 leaves ample room while
/// keeping recursion bounded on hostile input.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// Decode exactly one value that must span the whole input.
pub fn decode(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    Decoder::new().decode(input)
}

/// Decode one value from the start of `input`; returns it and the number of
/// bytes it used. Bytes after it are left alone (as in BEP 9 metadata
/// messages, where raw data follows a dictionary).
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), DecodeError> {
    Decoder::new().decode_prefix(input)
}

/// A configurable decoder.
#[derive(Debug, Clone, Copy)]
pub struct Decoder {
    max_depth: usize,
    strict_keys: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A tolerant decoder: nesting limited to [`DEFAULT_MAX_DEPTH`],
    /// dictionary keys may be unsorted or repeated.
    pub fn new() -> Self {
        Decoder {
            max_depth: DEFAULT_MAX_DEPTH,
            strict_keys: false,
        }
    }

    /// Set the nesting-depth limit.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Require dictionary keys to be strictly increasing (canonical form).
    pub fn strict_keys(mut self, strict: bool) -> Self {
        self.strict_keys = strict;
        self
    }

    /// Decode exactly one value spanning the whole input.
    pub fn decode<'a>(&self, input: &'a [u8]) -> Result<Value<'a>, DecodeError> {
        let (value, used) = self.decode_prefix(input)?;
        if used != input.len() {
            return Err(DecodeError {
                offset: used,
                kind: DecodeErrorKind::TrailingData,
            });
        }
        Ok(value)
    }

    /// Decode one value from the start of the input; returns it and the
    /// number of bytes consumed.
    pub fn decode_prefix<'a>(&self, input: &'a [u8]) -> Result<(Value<'a>, usize), DecodeError> {
        let mut p = Parser {
            input,
            pos: 0,
            opts: *self,
        };
        let v = p.value(0)?;
        Ok((v, p.pos))
    }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    opts: Decoder,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, offset: usize, kind: DecodeErrorKind) -> Result<T, DecodeError> {
        Err(DecodeError { offset, kind })
    }

    fn peek(&self, expected: &'static str) -> Result<u8, DecodeError> {
        match self.input.get(self.pos) {
            Some(b) => Ok(*b),
            None => self.err(self.pos, DecodeErrorKind::UnexpectedEof(expected)),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        match self.peek("a value")? {
            b'i' => {
                self.pos += 1;
                Ok(Value::Int(self.integer(b'e')?))
            }
            b'0'..=b'9' => Ok(Value::Bytes(self.bytes()?)),
            b'l' => {
                if depth >= self.opts.max_depth {
                    return self.err(self.pos, DecodeErrorKind::TooDeep(self.opts.max_depth));
                }
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek("a list item or 'e'")? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                if depth >= self.opts.max_depth {
                    return self.err(self.pos, DecodeErrorKind::TooDeep(self.opts.max_depth));
                }
                let start = self.pos;
                self.pos += 1;
                let mut entries: Vec<(&'a [u8], Value<'a>)> = Vec::new();
                loop {
                    let b = self.peek("a dictionary key or 'e'")?;
                    if b == b'e' {
                        break;
                    }
                    if !b.is_ascii_digit() {
                        return self.err(self.pos, DecodeErrorKind::NonStringKey);
                    }
                    let key_pos = self.pos;
                    let key = self.bytes()?;
                    if self.opts.strict_keys {
                        if let Some((prev, _)) = entries.last() {
                            if *prev == key {
                                return self.err(key_pos, DecodeErrorKind::DuplicateKey);
                            }
                            if *prev > key {
                                return self.err(key_pos, DecodeErrorKind::UnsortedKeys);
                            }
                        }
                    }
                    let v = self.value(depth + 1)?;
                    entries.push((key, v));
                }
                self.pos += 1;
                Ok(Value::Dict(Dict {
                    entries,
                    raw: &self.input[start..self.pos],
                }))
            }
            other => self.err(
                self.pos,
                DecodeErrorKind::UnexpectedByte {
                    found: other,
                    expected: "'i', 'l', 'd' or a digit",
                },
            ),
        }
    }

    /// Parse a signed decimal terminated by `end`; the cursor is just past
    /// the opening marker.
    fn integer(&mut self, end: u8) -> Result<i64, DecodeError> {
        let start = self.pos;
        let negative = self.peek("an integer")? == b'-';
        if negative {
            self.pos += 1;
        }
        let digits_start = self.pos;
        let magnitude = self.digits(end, "a digit or 'e'", start)?;
        let ndigits = self.pos - digits_start;
        if ndigits == 0 {
            return self.err(start, DecodeErrorKind::EmptyInteger);
        }
        if ndigits > 1 && self.input[digits_start] == b'0' {
            return self.err(digits_start, DecodeErrorKind::LeadingZero);
        }
        if negative && magnitude == 0 {
            return self.err(start, DecodeErrorKind::NegativeZero);
        }
        self.pos += 1; // the terminator
        let value = if negative {
            if magnitude > i64::MAX as u64 + 1 {
                return self.err(start, DecodeErrorKind::IntegerOverflow);
            }
            (magnitude as i128).wrapping_neg() as i64
        } else {
            match i64::try_from(magnitude) {
                Ok(v) => v,
                Err(_) => return self.err(start, DecodeErrorKind::IntegerOverflow),
            }
        };
        Ok(value)
    }

    /// Accumulate decimal digits up to (not including) `stop`; `what` names
    /// the expected input for errors and `start` is where the number began.
    fn digits(&mut self, stop: u8, what: &'static str, start: usize) -> Result<u64, DecodeError> {
        let mut n: u64 = 0;
        loop {
            let b = self.peek(what)?;
            if b == stop {
                return Ok(n);
            }
            if !b.is_ascii_digit() {
                return self.err(
                    self.pos,
                    DecodeErrorKind::UnexpectedByte {
                        found: b,
                        expected: what,
                    },
                );
            }
            n = match n
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(b - b'0')))
            {
                Some(m) => m,
                None => return self.err(start, DecodeErrorKind::IntegerOverflow),
            };
            self.pos += 1;
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let len = self.digits(b':', "a digit or ':'", start)?;
        if self.pos == start {
            return self.err(start, DecodeErrorKind::EmptyInteger);
        }
        if self.pos - start > 1 && self.input[start] == b'0' {
            return self.err(start, DecodeErrorKind::LeadingZero);
        }
        self.pos += 1; // ':'
        let available = self.input.len() - self.pos;
        if len > available as u64 {
            return self.err(
                start,
                DecodeErrorKind::StringTooLong {
                    declared: len,
                    available,
                },
            );
        }
        let s = &self.input[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(s)
    }
}
