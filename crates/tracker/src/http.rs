//! A minimal HTTP/1.1 request-head parser and response writer, sans I/O.
//!
//! Trackers only ever see `GET /announce?...` with a handful of headers, so
//! this reads exactly what it needs (method, target, version, `Connection`,
//! `Content-Length`, `Transfer-Encoding`), supports keep-alive and
//! pipelining, and refuses heads larger than [`MAX_HEAD`] (a 1 MB query
//! string is answered with 414 and the connection closed, after reading at
//! most [`MAX_HEAD`] bytes of it).

use std::ops::Range;

/// Largest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body accepted (and skipped).
pub const MAX_BODY: usize = 64 * 1024;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `HEAD` rather than `GET` (send no body).
    pub head_only: bool,
    /// Byte range of the target (path and query) within the buffer, with an
    /// absolute-form `http://host` prefix already skipped.
    pub target: Range<usize>,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// Length of the head, including the final blank line.
    pub head_len: usize,
    /// Length of the body that follows (to be skipped).
    pub body_len: usize,
}

/// Why a request head was refused; each maps to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The head is longer than [`MAX_HEAD`] (status 414).
    #[error("request too large")]
    TooLarge,
    /// Not an HTTP/1.x request (status 400).
    #[error("malformed request")]
    Malformed,
    /// A method other than GET/HEAD (status 405).
    #[error("method not allowed")]
    Method,
    /// Chunked bodies or bodies over [`MAX_BODY`] (status 400).
    #[error("request body not supported")]
    Body,
}

impl HeadError {
    /// The HTTP status code to answer with.
    pub fn status(self) -> u16 {
        match self {
            HeadError::TooLarge => 414,
            HeadError::Malformed | HeadError::Body => 400,
            HeadError::Method => 405,
        }
    }
}

fn find_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

/// Parse the request head at the start of `buf`. `Ok(None)` means more bytes
/// are needed (and fewer than [`MAX_HEAD`] are buffered).
pub fn parse_head(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let scan = &buf[..buf.len().min(MAX_HEAD)];
    let Some(end) = find_end(scan) else {
        return if buf.len() >= MAX_HEAD {
            Err(HeadError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let head = &buf[..end - 4];
    let mut lines = head.split(|&b| b == b'\n');
    let line = trim(lines.next().ok_or(HeadError::Malformed)?);
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let method = parts.next().ok_or(HeadError::Malformed)?;
    let target = parts.next().ok_or(HeadError::Malformed)?;
    let version = parts.next().ok_or(HeadError::Malformed)?;
    if parts.next().is_some() || !version.starts_with(b"HTTP/1.") {
        return Err(HeadError::Malformed);
    }
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Err(HeadError::Method),
    };
    let mut keep_alive = version != b"HTTP/1.0";
    let mut body_len = 0usize;
    for l in lines {
        let Some(c) = l.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(&l[..c]);
        let value = trim(&l[c + 1..]);
        if name.eq_ignore_ascii_case(b"connection") {
            if value.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            body_len = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n <= MAX_BODY)
                .ok_or(HeadError::Body)?;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(HeadError::Body);
        }
    }
    // Offset of the target within buf.
    let t0 = target.as_ptr() as usize - buf.as_ptr() as usize;
    let mut t = t0..t0 + target.len();
    if let Some(rest) = target
        .strip_prefix(b"http://")
        .or_else(|| target.strip_prefix(b"https://"))
    {
        let slash = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        t.start = t.end - (rest.len() - slash);
    }
    Ok(Some(RequestHead {
        head_only,
        target: t,
        keep_alive,
        head_len: end,
        body_len,
    }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Append a complete response: status line, `Content-Type`,
/// `Content-Length`, `Connection: close` when not keeping alive, then the
/// body (left out for `HEAD`).
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    head_only: bool,
) {
    use std::io::Write;
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}
