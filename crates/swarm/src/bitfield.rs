//! BEP 3 piece bitfields.
//!
//! The in-memory layout is exactly the wire layout of the `bitfield` message:
//! the high bit of byte 0 is piece 0, the low bit of byte 0 is piece 7, and so
//! on. Spare bits at the end of the last byte are always zero. That makes
//! [`Bitfield::as_bytes`] free and [`Bitfield::from_bytes`] a validated copy.
//!
//! The number of set bits is cached, so [`Bitfield::count_ones`],
//! [`Bitfield::is_complete`] and [`Bitfield::none`] are O(1). Bulk operations
//! work on 64-bit words and use hardware popcount.

use thiserror::Error;

/// Errors produced when building or modifying a [`Bitfield`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BitfieldError {
    /// The byte string does not have `ceil(len / 8)` bytes.
    #[error("bitfield has {got} bytes, expected {expected}")]
    WrongLength {
        /// Number of bytes required for the number of pieces.
        expected: usize,
        /// Number of bytes received.
        got: usize,
    },
    /// Some of the padding bits after the last piece are set (BEP 3 says
    /// clients should drop the connection in that case).
    #[error("spare bits at the end of the bitfield are set")]
    SpareBitsSet,
    /// An index is not smaller than the number of bits.
    #[error("index {index} out of range for bitfield of {len} bits")]
    OutOfRange {
        /// The offending index.
        index: usize,
        /// The number of bits in the bitfield.
        len: usize,
    },
    /// Two bitfields of different lengths were combined.
    #[error("bitfield length mismatch: {0} vs {1}")]
    LengthMismatch(usize, usize),
}

/// A fixed-size set of piece indices in BEP 3 layout.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: usize,
    ones: usize,
}

impl std::fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitfield({}/{} ", self.ones, self.len)?;
        let shown = self.len.min(64);
        for i in 0..shown {
            f.write_str(if self.get(i) { "1" } else { "0" })?;
        }
        if shown < self.len {
            f.write_str("…")?;
        }
        f.write_str(")")
    }
}

/// Number of bytes needed to hold `len` bits.
#[inline]
fn byte_len(len: usize) -> usize {
    len.div_ceil(8)
}

/// Mask of the valid bits in the last byte (all ones if it is full).
#[inline]
fn last_byte_mask(len: usize) -> u8 {
    match len % 8 {
        0 => 0xff,
        r => 0xffu8 << (8 - r),
    }
}

/// Popcount over a byte slice, eight bytes at a time.
fn popcount(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut n = 0usize;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from_ne_bytes(w).count_ones() as usize;
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| b.count_ones() as usize)
        .sum::<usize>()
}

/// Loads 8 bytes starting at `at` (zero padded) as a big-endian word, so bit
/// 63 is piece `at * 8`.
#[inline]
fn load_be(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    let end = (at + 8).min(bytes.len());
    w[..end - at].copy_from_slice(&bytes[at..end]);
    u64::from_be_bytes(w)
}

impl Bitfield {
    /// An empty (all zero) bitfield of `len` bits.
    pub fn new(len: usize) -> Self {
        Bitfield {
            bytes: vec![0; byte_len(len)],
            len,
            ones: 0,
        }
    }

    /// A full (all one) bitfield of `len` bits.
    pub fn full(len: usize) -> Self {
        let mut b = Bitfield::new(len);
        b.set_all();
        b
    }

    /// Parses a `bitfield` message payload for a torrent of `len` pieces.
    ///
    /// Fails if the payload does not have exactly `ceil(len / 8)` bytes or if
    /// any spare bit after the last piece is set.
    pub fn from_bytes(bytes: &[u8], len: usize) -> Result<Self, BitfieldError> {
        let expected = byte_len(len);
        if bytes.len() != expected {
            return Err(BitfieldError::WrongLength {
                expected,
                got: bytes.len(),
            });
        }
        if let Some(&last) = bytes.last() {
            if last & !last_byte_mask(len) != 0 {
                return Err(BitfieldError::SpareBitsSet);
            }
        }
        Ok(Bitfield {
            bytes: bytes.to_vec(),
            len,
            ones: popcount(bytes),
        })
    }

    /// Number of bits (pieces).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the bitfield has zero bits (not: zero bits set; see
    /// [`Bitfield::none`]).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The wire representation (BEP 3 `bitfield` payload).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the bitfield and returns its wire representation.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Whether bit `index` is set. Out-of-range indices read as unset.
    #[inline]
    pub fn get(&self, index: usize) -> bool {
        if index >= self.len {
            return false;
        }
        self.bytes[index / 8] & (0x80 >> (index % 8)) != 0
    }

    /// Sets bit `index` to `value` and returns its previous value.
    pub fn set(&mut self, index: usize, value: bool) -> Result<bool, BitfieldError> {
        if index >= self.len {
            return Err(BitfieldError::OutOfRange {
                index,
                len: self.len,
            });
        }
        let mask = 0x80u8 >> (index % 8);
        let byte = &mut self.bytes[index / 8];
        let old = *byte & mask != 0;
        if value && !old {
            *byte |= mask;
            self.ones += 1;
        } else if !value && old {
            *byte &= !mask;
            self.ones -= 1;
        }
        Ok(old)
    }

    /// Sets every bit.
    pub fn set_all(&mut self) {
        self.bytes.fill(0xff);
        if let Some(last) = self.bytes.last_mut() {
            *last &= last_byte_mask(self.len);
        }
        self.ones = self.len;
    }

    /// Clears every bit.
    pub fn clear_all(&mut self) {
        self.bytes.fill(0);
        self.ones = 0;
    }

    /// Number of set bits (O(1), cached).
    #[inline]
    pub fn count_ones(&self) -> usize {
        self.ones
    }

    /// Number of unset bits (O(1)).
    #[inline]
    pub fn count_zeros(&self) -> usize {
        self.len - self.ones
    }

    /// True if every bit is set (vacuously true for a zero-length bitfield).
    #[inline]
    pub fn all(&self) -> bool {
        self.ones == self.len
    }

    /// True if every piece is present: same as [`Bitfield::all`].
    #[inline]
    pub fn is_complete(&self) -> bool {
        self.all()
    }

    /// True if no bit is set.
    #[inline]
    pub fn none(&self) -> bool {
        self.ones == 0
    }

    /// Iterates over the indices of set bits, in increasing order.
    pub fn iter_ones(&self) -> Iter<'_> {
        Iter::new(self, false)
    }

    /// Iterates over the indices of unset bits, in increasing order.
    pub fn iter_zeros(&self) -> Iter<'_> {
        Iter::new(self, true)
    }

    /// Number of bits set in both `self` and `other`.
    pub fn count_and(&self, other: &Bitfield) -> Result<usize, BitfieldError> {
        self.check_len(other)?;
        Ok(self.zip_count(other, |a, b| a & b))
    }

    /// Number of bits set in `self` but not in `other`. With `self` a peer's
    /// bitfield and `other` ours, this is how many pieces the peer could give
    /// us.
    pub fn count_and_not(&self, other: &Bitfield) -> Result<usize, BitfieldError> {
        self.check_len(other)?;
        Ok(self.zip_count(other, |a, b| a & !b))
    }

    fn check_len(&self, other: &Bitfield) -> Result<(), BitfieldError> {
        if self.len != other.len {
            return Err(BitfieldError::LengthMismatch(self.len, other.len));
        }
        Ok(())
    }

    fn zip_count(&self, other: &Bitfield, f: impl Fn(u64, u64) -> u64) -> usize {
        let mut n = 0usize;
        let mut at = 0;
        while at < self.bytes.len() {
            n += f(load_be(&self.bytes, at), load_be(&other.bytes, at)).count_ones() as usize;
            at += 8;
        }
        n
    }
}

/// Iterator over set (or unset) bit indices of a [`Bitfield`].
///
/// Works a 64-bit word at a time, so sparse bitfields iterate in
/// O(len / 64 + count).
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    bf: &'a Bitfield,
    invert: bool,
    /// Byte offset of `word` in the bitfield.
    at: usize,
    /// Remaining bits of the current word (bit 63 = piece `at * 8`).
    word: u64,
}

impl<'a> Iter<'a> {
    fn new(bf: &'a Bitfield, invert: bool) -> Self {
        let mut it = Iter {
            bf,
            invert,
            at: 0,
            word: 0,
        };
        it.word = it.load(0);
        it
    }

    fn load(&self, at: usize) -> u64 {
        if at >= self.bf.bytes.len() {
            return 0;
        }
        let mut w = load_be(&self.bf.bytes, at);
        if self.invert {
            w = !w;
        }
        // Mask out bits beyond `len` (padding, or bytes past the end).
        let valid = self.bf.len - at * 8;
        if valid < 64 {
            w &= !(u64::MAX >> valid);
        }
        w
    }
}

impl Iterator for Iter<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            if self.word != 0 {
                let lz = self.word.leading_zeros() as usize;
                self.word &= !(1u64 << (63 - lz));
                return Some(self.at * 8 + lz);
            }
            self.at += 8;
            if self.at >= self.bf.bytes.len() {
                return None;
            }
            self.word = self.load(self.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_high_bit_first() {
        let mut b = Bitfield::new(10);
        b.set(0, true).unwrap();
        b.set(9, true).unwrap();
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert!(b.get(0) && b.get(9) && !b.get(1));
        assert_eq!(b.count_ones(), 2);
    }

    #[test]
    fn from_bytes_validates_length() {
        assert_eq!(
            Bitfield::from_bytes(&[0xff], 10),
            Err(BitfieldError::WrongLength {
                expected: 2,
                got: 1
            })
        );
        assert!(Bitfield::from_bytes(&[0, 0, 0], 16).is_err());
        assert!(Bitfield::from_bytes(&[], 0).is_ok());
    }

    #[test]
    fn from_bytes_rejects_spare_bits() {
        assert_eq!(
            Bitfield::from_bytes(&[0xff, 0xe0], 10),
            Err(BitfieldError::SpareBitsSet)
        );
        let b = Bitfield::from_bytes(&[0xff, 0xc0], 10).unwrap();
        assert!(b.is_complete());
        assert_eq!(b.count_ones(), 10);
        // A full last byte has no spare bits.
        assert!(Bitfield::from_bytes(&[0xff, 0xff], 16).unwrap().all());
    }

    #[test]
    fn set_out_of_range_is_error_get_is_false() {
        let mut b = Bitfield::new(3);
        assert_eq!(
            b.set(3, true),
            Err(BitfieldError::OutOfRange { index: 3, len: 3 })
        );
        assert!(!b.get(3));
        assert!(!b.get(usize::MAX));
    }

    #[test]
    fn set_returns_old_value_and_tracks_count() {
        let mut b = Bitfield::new(20);
        assert!(!b.set(5, true).unwrap());
        assert!(b.set(5, true).unwrap());
        assert_eq!(b.count_ones(), 1);
        assert!(b.set(5, false).unwrap());
        assert_eq!(b.count_ones(), 0);
        assert!(b.none());
    }

    #[test]
    fn full_and_clear() {
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 1000] {
            let mut b = Bitfield::full(len);
            assert!(b.all() && b.is_complete());
            assert_eq!(b.count_ones(), len);
            assert_eq!(b.iter_ones().count(), len);
            assert_eq!(b.iter_zeros().count(), 0);
            assert!(Bitfield::from_bytes(b.as_bytes(), len).is_ok());
            b.clear_all();
            assert!(b.none());
            assert_eq!(b.iter_zeros().count(), len);
        }
    }

    #[test]
    fn count_and_not() {
        let mut a = Bitfield::new(100);
        let mut b = Bitfield::new(100);
        for i in (0..100).step_by(3) {
            a.set(i, true).unwrap();
        }
        for i in (0..100).step_by(2) {
            b.set(i, true).unwrap();
        }
        let and = (0..100).filter(|i| i % 6 == 0).count();
        assert_eq!(a.count_and(&b).unwrap(), and);
        assert_eq!(a.count_and_not(&b).unwrap(), a.count_ones() - and);
        assert!(a.count_and(&Bitfield::new(99)).is_err());
    }

    proptest! {
        #[test]
        fn iterators_match_get(bits in proptest::collection::vec(any::<bool>(), 0..300)) {
            let len = bits.len();
            let mut b = Bitfield::new(len);
            for (i, &v) in bits.iter().enumerate() {
                b.set(i, v).unwrap();
            }
            let ones: Vec<usize> = (0..len).filter(|&i| bits[i]).collect();
            let zeros: Vec<usize> = (0..len).filter(|&i| !bits[i]).collect();
            prop_assert_eq!(b.iter_ones().collect::<Vec<_>>(), ones.clone());
            prop_assert_eq!(b.iter_zeros().collect::<Vec<_>>(), zeros);
            prop_assert_eq!(b.count_ones(), ones.len());
            let round = Bitfield::from_bytes(b.as_bytes(), len).unwrap();
            prop_assert_eq!(round, b);
        }

        #[test]
        fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40), len in 0usize..320) {
            if let Ok(b) = Bitfield::from_bytes(&bytes, len) {
                prop_assert_eq!(b.count_ones(), b.iter_ones().count());
                prop_assert!(b.iter_ones().all(|i| i < len));
            }
        }
    }
}
