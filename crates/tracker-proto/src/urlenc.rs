//! Percent-encoding of raw bytes, as trackers need for `info_hash` and
//! `peer_id` (which are binary, not text).

/// Why a percent-encoded value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlDecodeError {
    /// A `%` not followed by two hex digits.
    #[error("bad percent escape")]
    BadEscape,
    /// The decoded value does not have the required length.
    #[error("decoded to {0} bytes, expected {1}")]
    WrongLength(usize, usize),
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Iterate over the raw bytes that `src` percent-decodes to.
///
/// `+` is kept as a literal `+` (these values are binary; clients that mean a
/// 0x2B byte and forget to escape it are served right, and clients escape
/// spaces, which never occur in hashes anyway, as `%20`).
fn decode_iter(src: &[u8]) -> impl Iterator<Item = Result<u8, UrlDecodeError>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *src.get(i)?;
        if b == b'%' {
            let hi = src.get(i + 1).copied().and_then(hex_val);
            let lo = src.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => {
                    i += 3;
                    Some(Ok(h << 4 | l))
                }
                _ => {
                    i = src.len();
                    Some(Err(UrlDecodeError::BadEscape))
                }
            }
        } else {
            i += 1;
            Some(Ok(b))
        }
    })
}

/// Percent-decode `src` into exactly `N` bytes, without allocating.
pub fn decode_fixed<const N: usize>(src: &[u8]) -> Result<[u8; N], UrlDecodeError> {
    let mut out = [0u8; N];
    let mut n = 0usize;
    for b in decode_iter(src) {
        let b = b?;
        if n < N {
            out[n] = b;
        }
        n += 1;
    }
    if n != N {
        return Err(UrlDecodeError::WrongLength(n, N));
    }
    Ok(out)
}

/// Percent-decode `src` into a new buffer.
pub fn decode(src: &[u8]) -> Result<Vec<u8>, UrlDecodeError> {
    decode_iter(src).collect()
}

/// Whether `b` is an RFC 3986 unreserved character (never escaped).
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Append the percent-encoding of `bytes` to `out` (unreserved characters
/// stay as they are, every other byte becomes `%XX`).
pub fn encode_into(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// The percent-encoding of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    encode_into(&mut s, bytes);
    s
}
