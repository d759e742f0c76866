//! Sanitizing file names from torrents so nothing is ever written outside
//! the download directory.

use crate::MetainfoError;

/// Longest accepted path component in bytes (the usual filesystem limit).
pub const MAX_COMPONENT_LEN: usize = 255;

/// Check one path component (the torrent name or one element of a file's
/// `path` list) and return it as a `String`.
///
/// Rejected: empty, `.`, `..`, a `/` or `\` inside, a NUL byte, more than
/// 255 bytes. Bytes that are not UTF-8 (old torrents in legacy encodings)
/// are kept readable by lossy conversion, which cannot introduce a separator.
pub fn sanitize_component(raw: &[u8], whole_path: &str) -> Result<String, MetainfoError> {
    let reject = |reason: &'static str| MetainfoError::UnsafePath {
        path: whole_path.to_string(),
        reason,
    };
    if raw.is_empty() {
        return Err(reject("empty path component"));
    }
    if raw == b"." || raw == b".." {
        return Err(reject("'.' or '..' component"));
    }
    if raw.contains(&0) {
        return Err(reject("NUL byte in a component"));
    }
    if raw.contains(&b'/') || raw.contains(&b'\\') {
        return Err(reject("path separator inside a component"));
    }
    if raw.len() > MAX_COMPONENT_LEN {
        return Err(reject("component longer than 255 bytes"));
    }
    Ok(String::from_utf8_lossy(raw).into_owned())
}

/// Render raw path components for error messages.
pub(crate) fn display_components(parts: &[&[u8]]) -> String {
    parts
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::sanitize_component;

    #[test]
    fn rejects_attacks() {
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a/b",
            b"/etc",
            b"a\\b",
            b"a\0b",
            &[b'x'; 256][..],
        ] {
            assert!(sanitize_component(bad, "p").is_err(), "{bad:?}");
        }
        assert_eq!(
            sanitize_component("é.txt".as_bytes(), "p").unwrap(),
            "é.txt"
        );
        assert_eq!(sanitize_component(b"...", "p").unwrap(), "...");
        assert_eq!(sanitize_component(b"a\xffb", "p").unwrap(), "a\u{fffd}b");
        assert_eq!(sanitize_component(b".hidden", "p").unwrap(), ".hidden");
    }
}
