//! Parsing and validating v1 `.torrent` files.

use crate::layout::Layout;
use crate::path::{display_components, sanitize_component};
use crate::MetainfoError;
use sha1::{Digest, Sha1};
use shoal_bencode::{Decoder, Dict, Value};
use std::collections::HashSet;
use std::fmt;

/// Smallest accepted piece length.
pub const MIN_PIECE_LENGTH: u64 = 1 << 10;
/// Largest accepted piece length.
pub const MAX_PIECE_LENGTH: u64 = 1 << 28;
/// Largest accepted total size (1 PiB): anything larger is hostile.
pub const MAX_TOTAL_LENGTH: u64 = 1 << 50;
/// Largest accepted number of files.
pub const MAX_FILES: usize = 1_000_000;
/// Deepest accepted file path.
const MAX_PATH_DEPTH: usize = 64;

/// A 20-byte SHA-1 info-hash (BitTorrent v1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// The SHA-1 of some bytes.
    pub fn of(bytes: &[u8]) -> InfoHash {
        InfoHash(Sha1::digest(bytes).into())
    }

    /// Lower-case hex form (40 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse 40 hex digits.
    pub fn from_hex(s: &str) -> Option<InfoHash> {
        let mut out = [0u8; 20];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(InfoHash(out))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

/// A parsed, validated v1 torrent.
#[derive(Debug, Clone)]
pub struct Torrent {
    /// SHA-1 of the raw info dictionary.
    pub info_hash: InfoHash,
    /// The raw info dictionary bytes, exactly as in the file (for BEP 9).
    pub info_bytes: Vec<u8>,
    /// The torrent's name (file name or top folder), sanitized.
    pub name: String,
    /// Files, pieces and their mapping.
    pub layout: Layout,
    /// The 20-byte SHA-1 of every piece.
    pub piece_hashes: Vec<[u8; 20]>,
    /// BEP 27 private flag.
    pub private: bool,
    /// The `source` field of the info dict, if any.
    pub source: Option<String>,
    /// Tracker tiers (BEP 12); `announce` alone becomes one tier.
    pub trackers: Vec<Vec<String>>,
    /// Web seeds (BEP 19 `url-list`).
    pub web_seeds: Vec<String>,
    /// Free-text comment.
    pub comment: Option<String>,
    /// The program that made it.
    pub created_by: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub creation_date: Option<i64>,
}

fn wrong(key: &'static str, expected: &'static str) -> MetainfoError {
    MetainfoError::WrongType { key, expected }
}

fn text(v: Option<&Value<'_>>) -> Option<String> {
    v.and_then(Value::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

impl Torrent {
    /// Parse and validate a `.torrent` file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Torrent, MetainfoError> {
        let root = Decoder::new().decode(bytes)?;
        let root = root.as_dict().ok_or(MetainfoError::NotADict)?;
        let info = match root.get(b"info") {
            Some(Value::Dict(d)) => d,
            Some(_) => return Err(wrong("info", "a dictionary")),
            None => return Err(MetainfoError::Missing("info")),
        };
        let mut t = Self::from_info_dict(info)?;

        let mut trackers: Vec<Vec<String>> = Vec::new();
        if let Some(list) = root.get_list(b"announce-list") {
            for tier in list {
                if let Some(urls) = tier.as_list() {
                    let tier: Vec<String> = urls
                        .iter()
                        .filter_map(|u| u.as_str())
                        .map(str::trim)
                        .filter(|u| !u.is_empty())
                        .map(str::to_string)
                        .collect();
                    if !tier.is_empty() {
                        trackers.push(tier);
                    }
                }
            }
        }
        // BEP 12: announce-list, when present and non-empty, supersedes announce.
        if trackers.is_empty() {
            if let Some(url) = root.get_str(b"announce").map(str::trim) {
                if !url.is_empty() {
                    trackers.push(vec![url.to_string()]);
                }
            }
        }
        t.trackers = trackers;
        t.web_seeds = match root.get(b"url-list") {
            Some(Value::Bytes(b)) if !b.is_empty() => vec![String::from_utf8_lossy(b).into_owned()],
            Some(Value::List(l)) => l
                .iter()
                .filter_map(|u| u.as_str())
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        t.comment = text(root.get(b"comment.utf-8")).or_else(|| text(root.get(b"comment")));
        t.created_by = text(root.get(b"created by"));
        t.creation_date = root.get_int(b"creation date");
        Ok(t)
    }

    /// Parse and validate a bare info dictionary (as received over BEP 9).
    pub fn from_info_bytes(info_bytes: &[u8]) -> Result<Torrent, MetainfoError> {
        let v = Decoder::new().decode(info_bytes)?;
        let d = v.as_dict().ok_or(MetainfoError::NotADict)?;
        Self::from_info_dict(d)
    }

    fn from_info_dict(info: &Dict<'_>) -> Result<Torrent, MetainfoError> {
        let raw = info.raw();
        let info_hash = InfoHash::of(raw);

        let name_raw = info
            .get_bytes(b"name.utf-8")
            .or_else(|| info.get_bytes(b"name"))
            .ok_or(MetainfoError::Missing("info.name"))?;
        let name = sanitize_component(name_raw, &String::from_utf8_lossy(name_raw))?;

        let piece_length = match info.get(b"piece length") {
            Some(Value::Int(n)) => *n,
            Some(_) => return Err(wrong("info.piece length", "an integer")),
            None => return Err(MetainfoError::Missing("info.piece length")),
        };
        if piece_length <= 0
            || (piece_length as u64) < MIN_PIECE_LENGTH
            || (piece_length as u64) > MAX_PIECE_LENGTH
            || !(piece_length as u64).is_power_of_two()
        {
            return Err(MetainfoError::BadPieceLength(piece_length));
        }
        let piece_length = piece_length as u64;

        let pieces = match info.get(b"pieces") {
            Some(Value::Bytes(b)) => *b,
            Some(_) => return Err(wrong("info.pieces", "a byte string")),
            None => return Err(MetainfoError::Missing("info.pieces")),
        };

        let (files, multi_file) = match (info.get(b"length"), info.get(b"files")) {
            (Some(len), None) => {
                let len = file_length(len)?;
                (vec![(vec![name.clone()], len)], false)
            }
            (None, Some(Value::List(list))) => (parse_files(list)?, true),
            (None, Some(_)) => return Err(wrong("info.files", "a list")),
            _ => return Err(MetainfoError::LengthOrFiles),
        };
        let mut total: u64 = 0;
        for (_, len) in &files {
            total = total
                .checked_add(*len)
                .filter(|t| *t <= MAX_TOTAL_LENGTH)
                .ok_or(MetainfoError::TooLarge {
                    limit: MAX_TOTAL_LENGTH,
                })?;
        }
        if total == 0 {
            return Err(MetainfoError::Empty);
        }
        let piece_count = total.div_ceil(piece_length);
        let expected = piece_count * 20;
        if pieces.len() as u64 != expected {
            return Err(MetainfoError::PiecesLength {
                actual: pieces.len(),
                expected,
                pieces: piece_count,
            });
        }
        let layout =
            Layout::new(piece_length, files, multi_file).ok_or(MetainfoError::TooLarge {
                limit: MAX_TOTAL_LENGTH,
            })?;
        let piece_hashes = pieces
            .chunks_exact(20)
            .map(|c| {
                let mut h = [0u8; 20];
                h.copy_from_slice(c);
                h
            })
            .collect();

        Ok(Torrent {
            info_hash,
            info_bytes: raw.to_vec(),
            name,
            layout,
            piece_hashes,
            private: info.get_int(b"private") == Some(1),
            source: text(info.get(b"source")),
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            comment: None,
            created_by: None,
            creation_date: None,
        })
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.layout.piece_count
    }

    /// Total size in bytes.
    pub fn total_length(&self) -> u64 {
        self.layout.total_length
    }

    /// A magnet link for this torrent (info-hash, name, trackers).
    pub fn magnet(&self) -> crate::Magnet {
        crate::Magnet {
            info_hash: self.info_hash,
            display_name: Some(self.name.clone()),
            trackers: self.trackers.iter().flatten().cloned().collect(),
            peers: Vec::new(),
        }
    }
}

fn file_length(v: &Value<'_>) -> Result<u64, MetainfoError> {
    match v {
        Value::Int(n) if *n >= 0 && (*n as u64) <= MAX_TOTAL_LENGTH => Ok(*n as u64),
        Value::Int(n) => Err(MetainfoError::BadFileLength(*n)),
        _ => Err(wrong("length", "an integer")),
    }
}

fn parse_files(list: &[Value<'_>]) -> Result<Vec<(Vec<String>, u64)>, MetainfoError> {
    if list.is_empty() {
        return Err(MetainfoError::LengthOrFiles);
    }
    if list.len() > MAX_FILES {
        return Err(MetainfoError::TooManyFiles(list.len()));
    }
    let mut out = Vec::with_capacity(list.len());
    let mut seen_files: HashSet<Vec<String>> = HashSet::new();
    let mut seen_dirs: HashSet<Vec<String>> = HashSet::new();
    for f in list {
        let f = f.as_dict().ok_or(wrong("info.files[]", "a dictionary"))?;
        let length = file_length(
            f.get(b"length")
                .ok_or(MetainfoError::Missing("files[].length"))?,
        )?;
        let parts = f
            .get_list(b"path.utf-8")
            .or_else(|| f.get_list(b"path"))
            .ok_or(MetainfoError::Missing("files[].path"))?;
        let raw: Vec<&[u8]> = parts
            .iter()
            .map(|p| p.as_bytes().ok_or(wrong("files[].path[]", "a byte string")))
            .collect::<Result<_, _>>()?;
        let shown = display_components(&raw);
        if raw.is_empty() {
            return Err(MetainfoError::UnsafePath {
                path: shown,
                reason: "empty path",
            });
        }
        if raw.len() > MAX_PATH_DEPTH {
            return Err(MetainfoError::UnsafePath {
                path: shown,
                reason: "path nested too deep",
            });
        }
        let path: Vec<String> = raw
            .iter()
            .map(|c| sanitize_component(c, &shown))
            .collect::<Result<_, _>>()?;
        // BEP 47 padding files are fine as long as their paths are safe.
        for depth in 1..path.len() {
            seen_dirs.insert(path[..depth].to_vec());
        }
        if seen_dirs.contains(&path) || !seen_files.insert(path.clone()) {
            return Err(MetainfoError::PathConflict(shown));
        }
        out.push((path, length));
    }
    for dir in &seen_dirs {
        if seen_files.contains(dir) {
            return Err(MetainfoError::PathConflict(dir.join("/")));
        }
    }
    Ok(out)
}
