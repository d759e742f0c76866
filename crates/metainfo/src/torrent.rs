//! Parsing and validating v1 `.torrent` files.

use crate::layout::{FileAttr, FileEntry, Layout, MetaVersion};
use crate::merkle::{root_from_piece_layer, Hash256};
use crate::path::{
    clean_component, clean_name, clean_path, display_components, resolve_collisions, Rename,
};
use crate::MetainfoError;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use shoal_bencode::{Decoder, Dict, Value};
use std::fmt;

/// Smallest accepted piece length.
pub const MIN_PIECE_LENGTH: u64 = 1 << 10;
/// Largest accepted piece length.
pub const MAX_PIECE_LENGTH: u64 = 1 << 28;
/// The 16 KiB block: the unit of requests on the wire and the leaf of the
/// v2 merkle trees.
pub const BLOCK_SIZE: u64 = 16 << 10;
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

/// A 32-byte SHA-256 info-hash (BitTorrent v2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV2(pub [u8; 32]);

impl InfoHashV2 {
    /// The SHA-256 of some bytes.
    pub fn of(bytes: &[u8]) -> InfoHashV2 {
        InfoHashV2(Sha256::digest(bytes).into())
    }

    /// The first 20 bytes: how the v2 swarm is named in handshakes,
    /// tracker announces and the DHT.
    pub fn truncated(&self) -> InfoHash {
        let mut h = [0u8; 20];
        h.copy_from_slice(&self.0[..20]);
        InfoHash(h)
    }

    /// Lower-case hex form (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse 64 hex digits.
    pub fn from_hex(s: &str) -> Option<InfoHashV2> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(InfoHashV2(out))
    }
}

impl fmt::Display for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV2({})", self.to_hex())
    }
}

/// A parsed, validated torrent: v1, v2 (BEP 52) or hybrid.
///
/// For a v2-only torrent `info_hash` is the v2 hash truncated to 20 bytes
/// (the swarm's name on the wire) and `piece_hashes` is empty: its pieces
/// are checked against the merkle roots in [`Layout::files`] (see
/// [`Layout::v2_piece_hash`]).
#[derive(Debug, Clone)]
pub struct Torrent {
    /// SHA-1 of the raw info dictionary (v1 and hybrid), or the truncated
    /// SHA-256 for a v2-only torrent.
    pub info_hash: InfoHash,
    /// The raw info dictionary bytes, exactly as in the file (for BEP 9).
    pub info_bytes: Vec<u8>,
    /// The torrent's name (file name or top folder), sanitized.
    pub name: String,
    /// Files, pieces and their mapping.
    pub layout: Layout,
    /// The 20-byte SHA-1 of every piece (empty for a v2-only torrent).
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
    ///
    /// Bytes after the root dictionary (a trailing newline, padding left by
    /// a download tool) are ignored, as libtorrent and Transmission do: the
    /// info-hash comes from the info dictionary's exact bytes either way.
    pub fn from_bytes(bytes: &[u8]) -> Result<Torrent, MetainfoError> {
        let (root, _used) = Decoder::new().decode_prefix(bytes)?;
        let root = root.as_dict().ok_or(MetainfoError::NotADict)?;
        let info = match root.get(b"info") {
            Some(Value::Dict(d)) => d,
            Some(_) => return Err(wrong("info", "a dictionary")),
            None => return Err(MetainfoError::Missing("info")),
        };
        let layers = match root.get(b"piece layers") {
            Some(Value::Dict(d)) => Some(d),
            Some(_) => return Err(wrong("piece layers", "a dictionary")),
            None => None,
        };
        let mut t = Self::parse_info(info, layers)?;

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
        Self::parse_info(info, None)
    }

    fn parse_info(info: &Dict<'_>, layers: Option<&Dict<'_>>) -> Result<Torrent, MetainfoError> {
        let raw = info.raw();
        let version = meta_version(info)?;

        let name_raw = info
            .get_bytes(b"name.utf-8")
            .or_else(|| info.get_bytes(b"name"))
            .ok_or(MetainfoError::Missing("info.name"))?;
        let (name, name_change) = clean_name(name_raw);

        let piece_length = match info.get(b"piece length") {
            Some(Value::Int(n)) => *n,
            Some(_) => return Err(wrong("info.piece length", "an integer")),
            None => return Err(MetainfoError::Missing("info.piece length")),
        };
        let piece_ok = if version.has_v2() {
            valid_v2_piece_length(piece_length)
        } else {
            valid_v1_piece_length(piece_length)
        };
        if !piece_ok {
            return Err(if version.has_v2() {
                MetainfoError::BadV2PieceLength(piece_length)
            } else {
                MetainfoError::BadPieceLength(piece_length)
            });
        }
        let piece_length = piece_length as u64;

        let (mut files, multi_file) = match version {
            MetaVersion::V1 | MetaVersion::Hybrid => v1_files(info, name_raw)?,
            MetaVersion::V2 => {
                let tree = file_tree(info)?;
                let multi = !(tree.len() == 1 && tree[0].raw_path.len() == 1);
                let mut tree = tree;
                if !multi {
                    tree[0].raw_path = vec![name_raw.to_vec()];
                }
                (align_v2(tree, piece_length), multi)
            }
        };
        if version == MetaVersion::Hybrid {
            let tree = file_tree(info)?;
            merge_hybrid(&mut files, tree, multi_file, piece_length)?;
        }

        let mut total: u64 = 0;
        for f in &files {
            total = total
                .checked_add(f.length)
                .filter(|t| *t <= MAX_TOTAL_LENGTH)
                .ok_or(MetainfoError::TooLarge {
                    limit: MAX_TOTAL_LENGTH,
                })?;
        }
        if total == 0 {
            return Err(MetainfoError::Empty);
        }
        let piece_count = total.div_ceil(piece_length);
        let piece_hashes: Vec<[u8; 20]> = if version.has_v1() {
            let pieces = match info.get(b"pieces") {
                Some(Value::Bytes(b)) => *b,
                Some(_) => return Err(wrong("info.pieces", "a byte string")),
                None => return Err(MetainfoError::Missing("info.pieces")),
            };
            let expected = piece_count * 20;
            if pieces.len() as u64 != expected {
                return Err(MetainfoError::PiecesLength {
                    actual: pieces.len(),
                    expected,
                    pieces: piece_count,
                });
            }
            pieces
                .chunks_exact(20)
                .map(|c| {
                    let mut h = [0u8; 20];
                    h.copy_from_slice(c);
                    h
                })
                .collect()
        } else {
            Vec::new()
        };

        let (entries, mut renames) = to_entries(files, multi_file);
        if let Some(reason) = name_change {
            renames.insert(
                0,
                Rename {
                    file: None,
                    original: String::from_utf8_lossy(name_raw).into_owned(),
                    on_disk: name.clone(),
                    reason,
                },
            );
        }
        let mut layout = Layout::from_entries(piece_length, entries, multi_file, version).ok_or(
            MetainfoError::TooLarge {
                limit: MAX_TOTAL_LENGTH,
            },
        )?;
        layout.renames = renames;
        if version.has_v2() {
            attach_piece_layers(&mut layout, layers)?;
        }
        let info_hash = if version.has_v1() {
            InfoHash::of(raw)
        } else {
            InfoHashV2::of(raw).truncated()
        };

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

    /// v1, v2 or hybrid.
    pub fn meta_version(&self) -> MetaVersion {
        self.layout.version
    }

    /// The v2 info-hash (SHA-256 of the info dictionary) of a v2 or hybrid
    /// torrent. Its first 20 bytes ([`InfoHashV2::truncated`]) identify the
    /// v2 swarm in handshakes, tracker announces and the DHT.
    pub fn info_hash_v2(&self) -> Option<InfoHashV2> {
        self.layout
            .version
            .has_v2()
            .then(|| InfoHashV2::of(&self.info_bytes))
    }

    /// The v1 info-hash (SHA-1 of the info dictionary), `None` for a
    /// v2-only torrent (whose [`Torrent::info_hash`] is the truncated v2
    /// hash).
    pub fn info_hash_v1(&self) -> Option<InfoHash> {
        self.layout.version.has_v1().then_some(self.info_hash)
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
            info_hash_v2: self.info_hash_v2(),
            display_name: Some(self.name.clone()),
            trackers: self.trackers.iter().flatten().cloned().collect(),
            peers: Vec::new(),
        }
    }
}

/// Whether a v1 torrent may use this piece length: from [`MIN_PIECE_LENGTH`]
/// to [`MAX_PIECE_LENGTH`], and a power of two or a multiple of 16 KiB
/// (BEP 3 asks for neither; libtorrent reads any multiple of 16 KiB, the
/// block size, and old creators wrote powers of two below it).
pub fn valid_v1_piece_length(piece_length: i64) -> bool {
    let Ok(p) = u64::try_from(piece_length) else {
        return false;
    };
    (MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&p)
        && (p.is_power_of_two() || p % BLOCK_SIZE == 0)
}

/// Whether a v2 (or hybrid) torrent may use this piece length: BEP 52
/// requires a power of two of at least 16 KiB.
pub fn valid_v2_piece_length(piece_length: i64) -> bool {
    u64::try_from(piece_length)
        .is_ok_and(|p| (BLOCK_SIZE..=MAX_PIECE_LENGTH).contains(&p) && p.is_power_of_two())
}

fn file_length(v: &Value<'_>) -> Result<u64, MetainfoError> {
    match v {
        Value::Int(n) if *n >= 0 && (*n as u64) <= MAX_TOTAL_LENGTH => Ok(*n as u64),
        Value::Int(n) => Err(MetainfoError::BadFileLength(*n)),
        _ => Err(wrong("length", "an integer")),
    }
}

/// A file as the torrent describes it, before sanitizing.
#[derive(Debug, Clone)]
struct RawFile {
    /// Path components as written (empty for implied v2 padding).
    raw_path: Vec<Vec<u8>>,
    length: u64,
    attr: FileAttr,
    symlink: Option<Vec<Vec<u8>>>,
    pieces_root: Option<Hash256>,
}

impl RawFile {
    fn shown(&self) -> String {
        let parts: Vec<&[u8]> = self.raw_path.iter().map(Vec::as_slice).collect();
        display_components(&parts)
    }
}

fn meta_version(info: &Dict<'_>) -> Result<MetaVersion, MetainfoError> {
    match info.get(b"meta version") {
        None => {
            if info.get(b"pieces").is_none() && info.get(b"file tree").is_some() {
                // A file tree without 'meta version': say what is missing.
                return Err(MetainfoError::Missing("info.meta version"));
            }
            Ok(MetaVersion::V1)
        }
        Some(Value::Int(2)) => {
            if info.get(b"file tree").is_none() {
                return Err(MetainfoError::Missing("info.file tree"));
            }
            Ok(if info.get(b"pieces").is_some() {
                MetaVersion::Hybrid
            } else {
                MetaVersion::V2
            })
        }
        Some(Value::Int(n)) => Err(MetainfoError::UnsupportedVersion(*n)),
        Some(_) => Err(wrong("info.meta version", "an integer")),
    }
}

fn path_list<'a>(list: &[Value<'a>], key: &'static str) -> Result<Vec<Vec<u8>>, MetainfoError> {
    if list.len() > MAX_PATH_DEPTH {
        let parts: Vec<&[u8]> = list.iter().filter_map(Value::as_bytes).collect();
        return Err(MetainfoError::UnsafePath {
            path: display_components(&parts),
            reason: "path nested too deep",
        });
    }
    list.iter()
        .map(|p| {
            p.as_bytes()
                .map(<[u8]>::to_vec)
                .ok_or(wrong(key, "a byte string"))
        })
        .collect()
}

/// The v1 file list (`length` or `files`), with BEP 47 attributes.
fn v1_files(info: &Dict<'_>, name_raw: &[u8]) -> Result<(Vec<RawFile>, bool), MetainfoError> {
    match (info.get(b"length"), info.get(b"files")) {
        (Some(len), None) => {
            let attr = FileAttr::parse(info.get_bytes(b"attr").unwrap_or_default());
            let length = if attr.symlink { 0 } else { file_length(len)? };
            Ok((
                vec![RawFile {
                    raw_path: vec![name_raw.to_vec()],
                    length,
                    attr,
                    symlink: None,
                    pieces_root: None,
                }],
                false,
            ))
        }
        (None, Some(Value::List(list))) => {
            if list.is_empty() {
                return Err(MetainfoError::LengthOrFiles);
            }
            if list.len() > MAX_FILES {
                return Err(MetainfoError::TooManyFiles(list.len()));
            }
            let mut out = Vec::with_capacity(list.len());
            for f in list {
                let f = f.as_dict().ok_or(wrong("info.files[]", "a dictionary"))?;
                out.push(v1_file(f)?);
            }
            Ok((out, true))
        }
        (None, Some(_)) => Err(wrong("info.files", "a list")),
        _ => Err(MetainfoError::LengthOrFiles),
    }
}

fn v1_file(f: &Dict<'_>) -> Result<RawFile, MetainfoError> {
    let attr = FileAttr::parse(f.get_bytes(b"attr").unwrap_or_default());
    // BEP 47: a symlink's length is 0 whatever the field says (or if it is
    // absent), so the piece layout matches libtorrent's.
    let length = match f.get(b"length") {
        _ if attr.symlink => 0,
        Some(v) => file_length(v)?,
        None => return Err(MetainfoError::Missing("files[].length")),
    };
    let raw_path = match f.get_list(b"path.utf-8").or_else(|| f.get_list(b"path")) {
        Some(parts) => path_list(parts, "files[].path[]")?,
        // A padding file needs no name: it is never written.
        None if attr.padding => Vec::new(),
        None => return Err(MetainfoError::Missing("files[].path")),
    };
    let symlink = match f.get_list(b"symlink path") {
        Some(parts) if attr.symlink => Some(path_list(parts, "files[].symlink path[]")?),
        _ => None,
    };
    Ok(RawFile {
        raw_path,
        length,
        attr,
        symlink,
        pieces_root: None,
    })
}

/// The v2 `file tree`, flattened depth first in the order it is written.
fn file_tree(info: &Dict<'_>) -> Result<Vec<RawFile>, MetainfoError> {
    let tree = match info.get(b"file tree") {
        Some(Value::Dict(d)) => d,
        Some(_) => return Err(wrong("info.file tree", "a dictionary")),
        None => return Err(MetainfoError::Missing("info.file tree")),
    };
    let mut out = Vec::new();
    let mut prefix = Vec::new();
    walk_tree(tree, &mut prefix, &mut out)?;
    if out.is_empty() {
        return Err(MetainfoError::Empty);
    }
    Ok(out)
}

fn walk_tree(
    node: &Dict<'_>,
    prefix: &mut Vec<Vec<u8>>,
    out: &mut Vec<RawFile>,
) -> Result<(), MetainfoError> {
    if prefix.len() > MAX_PATH_DEPTH {
        let parts: Vec<&[u8]> = prefix.iter().map(Vec::as_slice).collect();
        return Err(MetainfoError::UnsafePath {
            path: display_components(&parts),
            reason: "path nested too deep",
        });
    }
    for (key, child) in node.entries() {
        let child = child
            .as_dict()
            .ok_or(wrong("info.file tree entry", "a dictionary"))?;
        prefix.push(key.to_vec());
        match child.get(b"") {
            // A file: {"": {length, pieces root, attr, symlink path}}.
            Some(Value::Dict(leaf)) if !prefix.is_empty() => {
                if out.len() >= MAX_FILES {
                    return Err(MetainfoError::TooManyFiles(out.len() + 1));
                }
                out.push(tree_file(leaf, prefix.clone())?);
            }
            Some(_) => return Err(wrong("info.file tree file", "a dictionary")),
            None => walk_tree(child, prefix, out)?,
        }
        prefix.pop();
    }
    Ok(())
}

fn tree_file(leaf: &Dict<'_>, raw_path: Vec<Vec<u8>>) -> Result<RawFile, MetainfoError> {
    let attr = FileAttr::parse(leaf.get_bytes(b"attr").unwrap_or_default());
    let length = match leaf.get(b"length") {
        _ if attr.symlink => 0,
        Some(v) => file_length(v)?,
        None => return Err(MetainfoError::Missing("file tree length")),
    };
    let pieces_root = match leaf.get(b"pieces root") {
        _ if length == 0 => None,
        Some(Value::Bytes(b)) if b.len() == 32 => {
            let mut h = [0u8; 32];
            h.copy_from_slice(b);
            Some(h)
        }
        Some(_) => return Err(wrong("file tree pieces root", "32 bytes")),
        None => return Err(MetainfoError::Missing("file tree pieces root")),
    };
    let symlink = match leaf.get_list(b"symlink path") {
        Some(parts) if attr.symlink => Some(path_list(parts, "symlink path[]")?),
        _ => None,
    };
    Ok(RawFile {
        raw_path,
        length,
        attr,
        symlink,
        pieces_root,
    })
}

/// The padding a v2 torrent implies: every file with data starts on a
/// piece boundary, and the last one is padded to a whole piece too (as
/// libtorrent lays out v2-only torrents: its peers ask for the last piece
/// in full, the padding reading as zeros).
fn align_v2(tree: Vec<RawFile>, piece_length: u64) -> Vec<RawFile> {
    let pad_file = |length: u64| RawFile {
        raw_path: Vec::new(),
        length,
        attr: FileAttr {
            padding: true,
            ..FileAttr::default()
        },
        symlink: None,
        pieces_root: None,
    };
    let mut out = Vec::with_capacity(tree.len() * 2);
    let mut offset = 0u64;
    for f in tree {
        if f.length > 0 && !offset.is_multiple_of(piece_length) {
            let pad = piece_length - offset % piece_length;
            out.push(pad_file(pad));
            offset += pad;
        }
        offset = offset.saturating_add(f.length);
        out.push(f);
    }
    if !offset.is_multiple_of(piece_length) {
        out.push(pad_file(piece_length - offset % piece_length));
    }
    out
}

/// Check a hybrid torrent's v1 file list against its file tree (same
/// files, sizes and order; each file piece-aligned by padding) and give the
/// v1 entries their v2 roots.
fn merge_hybrid(
    v1: &mut [RawFile],
    tree: Vec<RawFile>,
    multi_file: bool,
    piece_length: u64,
) -> Result<(), MetainfoError> {
    let mut tree = tree.into_iter();
    let mut offset = 0u64;
    for f in v1.iter_mut() {
        if f.attr.padding {
            offset = offset.saturating_add(f.length);
            continue;
        }
        let Some(t) = tree.next() else {
            return Err(MetainfoError::HybridMismatch(format!(
                "'{}' is not in the file tree",
                f.shown()
            )));
        };
        let same_path = !multi_file || t.raw_path == f.raw_path;
        if !same_path || t.length != f.length {
            return Err(MetainfoError::HybridMismatch(format!(
                "'{}' ({} bytes) against '{}' ({} bytes) in the file tree",
                f.shown(),
                f.length,
                t.shown(),
                t.length
            )));
        }
        if f.length > 0 && !offset.is_multiple_of(piece_length) {
            return Err(MetainfoError::HybridMismatch(format!(
                "'{}' does not start on a piece boundary",
                f.shown()
            )));
        }
        f.pieces_root = t.pieces_root;
        if t.attr.symlink && f.symlink.is_none() {
            f.symlink = t.symlink;
        }
        offset = offset.saturating_add(f.length);
    }
    if let Some(extra) = tree.next() {
        return Err(MetainfoError::HybridMismatch(format!(
            "'{}' is only in the file tree",
            extra.shown()
        )));
    }
    Ok(())
}

/// A symlink target relative to the torrent's directory, resolved
/// lexically; `None` if it climbs out.
fn symlink_target(raw: &[Vec<u8>]) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for c in raw {
        match c.as_slice() {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            other => out.push(clean_component(other).0),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Sanitize every path (rules in [`crate::path`]) into layout entries and
/// the list of changes.
fn to_entries(files: Vec<RawFile>, multi_file: bool) -> (Vec<FileEntry>, Vec<Rename>) {
    let mut entries = Vec::with_capacity(files.len());
    let mut renames = Vec::new();
    let mut pads = 0usize;
    for (i, f) in files.iter().enumerate() {
        let parts: Vec<&[u8]> = f.raw_path.iter().map(Vec::as_slice).collect();
        let torrent_path: Vec<String> = parts
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let path = if f.attr.padding {
            // Never written; a distinct, harmless name all the same.
            pads += 1;
            vec![".pad".to_string(), format!("{pads}")]
        } else if multi_file {
            let (path, why) = clean_path(&parts);
            if let Some(reason) = why {
                renames.push(Rename {
                    file: Some(i),
                    original: display_components(&parts),
                    on_disk: path.join("/"),
                    reason,
                });
            }
            path
        } else {
            // The single file is named after the torrent (renamed there).
            vec![clean_name(parts.first().copied().unwrap_or_default()).0]
        };
        let symlink_target = match &f.symlink {
            Some(raw) if f.attr.symlink => {
                let t = symlink_target(raw);
                if t.is_none() {
                    renames.push(Rename {
                        file: Some(i),
                        original: display_components(&parts),
                        on_disk: path.join("/"),
                        reason: "symlink target outside the torrent: not created",
                    });
                }
                t
            }
            _ => None,
        };
        entries.push(FileEntry {
            path,
            length: f.length,
            offset: 0,
            torrent_path,
            attr: f.attr,
            symlink_target,
            pieces_root: f.pieces_root,
            piece_layer: Vec::new(),
        });
    }
    let paths: Vec<Option<&[String]>> = entries
        .iter()
        .map(|e| (!e.attr.padding).then_some(e.path.as_slice()))
        .collect();
    let changed = resolve_collisions(&paths);
    for (i, new) in changed {
        renames.push(Rename {
            file: Some(i),
            original: entries[i].torrent_path.join("/"),
            on_disk: new.join("/"),
            reason: "same path as another file or a folder",
        });
        entries[i].path = new;
    }
    renames.sort_by_key(|r| r.file);
    (entries, renames)
}

/// Check each `piece layers` entry of a v2 torrent against its file's
/// `pieces root` and attach it. Files without an entry keep an empty layer
/// (it can come from peers).
fn attach_piece_layers(
    layout: &mut Layout,
    layers: Option<&Dict<'_>>,
) -> Result<(), MetainfoError> {
    let Some(layers) = layers else {
        return Ok(());
    };
    let piece_length = layout.piece_length;
    let piece_height = (piece_length / BLOCK_SIZE).trailing_zeros();
    for f in &mut layout.files {
        let Some(root) = f.pieces_root else { continue };
        if f.length <= piece_length {
            continue;
        }
        let Some(layer) = layers.get(&root) else {
            continue;
        };
        let bytes = layer
            .as_bytes()
            .ok_or(wrong("piece layers entry", "a byte string"))?;
        let pieces = f.length.div_ceil(piece_length);
        if bytes.len() as u64 != pieces * 32 {
            return Err(MetainfoError::BadPieceLayer(format!(
                "'{}': {} bytes for {pieces} pieces",
                f.torrent_path.join("/"),
                bytes.len()
            )));
        }
        let hashes: Vec<Hash256> = bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        if root_from_piece_layer(&hashes, piece_height) != Some(root) {
            return Err(MetainfoError::BadPieceLayer(format!(
                "'{}': the layer does not hash to its pieces root",
                f.torrent_path.join("/")
            )));
        }
        f.piece_layer = hashes;
    }
    Ok(())
}
