//! Sanitizing file names from torrents so nothing is ever written outside
//! the download directory.
//!
//! A torrent's names are never refused for their spelling: each one maps
//! to a safe on-disk name by a fixed rule (modelled on libtorrent's), and
//! every change is recorded as a [`Rename`] so it can be shown. The rule,
//! applied to each path component (and to the torrent's name):
//!
//! 1. Bytes that are not UTF-8 are decoded lossily (U+FFFD).
//! 2. An empty component, `.` and `..` are dropped.
//! 3. `/`, `\` and NUL inside a component become `_` (so an absolute
//!    path `/etc/passwd` given as one component is `_etc_passwd`).
//! 4. A component longer than 255 bytes is shortened to 255 bytes on a
//!    UTF-8 character boundary, keeping its extension (the part from the
//!    last `.`, when it is at most 16 bytes and not the whole name).
//! 5. A path left with no component (and a name left empty) becomes `_`.
//!
//! Then across the files, in torrent order (padding files, which are
//! never written, take no part):
//!
//! 6. A file whose path is also a directory of another file, or the same
//!    as an earlier file's, gets `.1` (or `.2`, … the first free one)
//!    inserted before its extension: `a/b.txt` → `a/b.1.txt`. Directories
//!    are never renamed.
//!
//! Each on-disk path is a list of plain names (never `.`, `..`, empty, or
//! holding a separator or NUL) joined under the torrent's directory, so
//! nothing can land outside it.

use crate::MetainfoError;
use std::collections::HashSet;

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

/// A name the torrent gives that is stored under another name on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// The file (index into [`crate::Layout::files`]), or `None` for the
    /// torrent's name.
    pub file: Option<usize>,
    /// The name as the torrent spells it (components joined with `/`,
    /// lossy UTF-8).
    pub original: String,
    /// The on-disk path relative to the torrent's directory (`/`-joined).
    pub on_disk: String,
    /// What was wrong with the original.
    pub reason: &'static str,
}

/// Longest extension kept when a long component is shortened.
const MAX_KEPT_EXTENSION: usize = 16;

/// Map one raw component to a safe name by rules 1–4 of the module docs.
/// Returns the name (empty when the component is dropped) and the reason
/// for a change, if any.
pub fn clean_component(raw: &[u8]) -> (String, Option<&'static str>) {
    let text = String::from_utf8_lossy(raw);
    let mut reason = None;
    if matches!(text.as_ref(), "" | "." | "..") {
        let why = if text.is_empty() {
            "empty component dropped"
        } else {
            "'.' or '..' component dropped"
        };
        return (String::new(), Some(why));
    }
    let mut name: String = text
        .chars()
        .map(|c| match c {
            '/' | '\\' | '\0' => {
                reason = Some("separator or NUL replaced by '_'");
                '_'
            }
            c => c,
        })
        .collect();
    if name.len() > MAX_COMPONENT_LEN {
        name = shorten(&name, MAX_COMPONENT_LEN);
        reason = Some("name longer than 255 bytes shortened");
    }
    if reason.is_none() && matches!(text, std::borrow::Cow::Owned(_)) {
        reason = Some("not UTF-8");
    }
    (name, reason)
}

/// Split `name` into stem and extension (from the last `.`, not at the
/// start, at most [`MAX_KEPT_EXTENSION`] bytes).
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= MAX_KEPT_EXTENSION => name.split_at(i),
        _ => (name, ""),
    }
}

/// Cut `name` to at most `max` bytes on a character boundary, keeping its
/// extension.
fn shorten(name: &str, max: usize) -> String {
    let (stem, ext) = split_extension(name);
    let mut cut = max.saturating_sub(ext.len()).min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

/// `name` with `.n` before its extension, kept within 255 bytes.
fn numbered(name: &str, n: usize) -> String {
    let (stem, ext) = split_extension(name);
    let suffix = format!(".{n}{ext}");
    let mut cut = MAX_COMPONENT_LEN
        .saturating_sub(suffix.len())
        .min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &stem[..cut])
}

/// The safe on-disk name for a torrent name (rules 1–5).
pub fn clean_name(raw: &[u8]) -> (String, Option<&'static str>) {
    let (name, reason) = clean_component(raw);
    if name.is_empty() {
        ("_".to_string(), reason)
    } else {
        (name, reason)
    }
}

/// The safe on-disk path for a file's raw components (rules 1–5).
pub fn clean_path(raw: &[&[u8]]) -> (Vec<String>, Option<&'static str>) {
    let mut reason = None;
    let mut out = Vec::with_capacity(raw.len());
    for c in raw {
        let (name, why) = clean_component(c);
        reason = reason.or(why);
        if !name.is_empty() {
            out.push(name);
        }
    }
    if out.is_empty() {
        out.push("_".to_string());
        reason = reason.or(Some("empty path"));
    }
    (out, reason)
}

/// Rule 6: make every path unique and no file a directory of another.
/// `paths[i]` is `None` for entries that take no part (padding). Returns,
/// for each changed entry, its index and new path.
pub fn resolve_collisions(paths: &[Option<&[String]>]) -> Vec<(usize, Vec<String>)> {
    let mut dirs: HashSet<&[String]> = HashSet::new();
    for p in paths.iter().flatten() {
        for depth in 1..p.len() {
            dirs.insert(&p[..depth]);
        }
    }
    let mut taken: HashSet<Vec<String>> = HashSet::new();
    let mut changed = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let Some(p) = p else { continue };
        if !dirs.contains(p) && !taken.contains(*p) {
            taken.insert(p.to_vec());
            continue;
        }
        let Some((last, parent)) = p.split_last() else {
            continue;
        };
        // At most taken.len() + 1 tries: each number names a distinct path.
        for n in 1..=taken.len() + dirs.len() + 1 {
            let mut candidate = parent.to_vec();
            candidate.push(numbered(last, n));
            if !dirs.contains(&candidate[..]) && !taken.contains(&candidate) {
                taken.insert(candidate.clone());
                changed.push((i, candidate));
                break;
            }
        }
    }
    changed
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
    use super::*;

    #[test]
    fn components_are_cleaned_not_refused() {
        assert_eq!(
            clean_component(b".."),
            (String::new(), Some("'.' or '..' component dropped"))
        );
        assert_eq!(clean_component(b"").0, "");
        assert_eq!(clean_component(b"/etc/passwd").0, "_etc_passwd");
        assert_eq!(clean_component(b"a\\b\0c").0, "a_b_c");
        assert_eq!(
            clean_component(b"plain.txt"),
            ("plain.txt".to_string(), None)
        );
        assert_eq!(clean_component(b"a\xffb").0, "a\u{fffd}b");
        assert_eq!(clean_component(b"a\xffb").1, Some("not UTF-8"));
        // 100 three-byte characters (300 bytes) and an extension.
        let long = format!("{}.mkv", "\u{6f22}".repeat(100));
        let (short, why) = clean_component(long.as_bytes());
        assert!(why.is_some());
        assert!(short.len() <= 255 && short.len() > 250, "{}", short.len());
        assert!(short.ends_with(".mkv"));
        assert!(short.starts_with('\u{6f22}'));
        assert_eq!(clean_path(&[b"..", b"", b"."]).0, vec!["_"]);
        assert_eq!(
            clean_path(&[b"..", b"etc", b"passwd"]).0,
            vec!["etc", "passwd"]
        );
        assert_eq!(clean_name(b"..").0, "_");
    }

    #[test]
    fn collisions_get_numbers() {
        let p = |s: &[&str]| s.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let a = p(&["a.txt"]);
        let b = p(&["x"]);
        let c = p(&["x", "y"]);
        let a1 = p(&["a.1.txt"]);
        let changed = resolve_collisions(&[
            Some(&a),
            Some(&b),
            None,
            Some(&c),
            Some(&a),
            Some(&a1),
            Some(&a),
        ]);
        assert_eq!(
            changed,
            vec![
                (1, p(&["x.1"])),
                (4, p(&["a.1.txt"])),
                (5, p(&["a.1.1.txt"])),
                (6, p(&["a.2.txt"])),
            ]
        );
    }

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
