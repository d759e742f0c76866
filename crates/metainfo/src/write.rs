//! Writing `.torrent` files.

use crate::layout::FileAttr;
use crate::merkle::Hash256;
use shoal_bencode::Encoder;
use std::collections::BTreeMap;

/// One file of a v2 `file tree`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Path components below the torrent root (for a single-file torrent:
    /// the name).
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// Merkle root (`None` for an empty file).
    pub pieces_root: Option<Hash256>,
}

/// A folder of the file tree being written.
#[derive(Default)]
struct TreeDir<'a> {
    dirs: BTreeMap<&'a str, TreeDir<'a>>,
    files: BTreeMap<&'a str, &'a TreeFile>,
}

impl<'a> TreeDir<'a> {
    fn insert(&mut self, path: &'a [String], file: &'a TreeFile) {
        match path {
            [] => {}
            [last] => {
                self.files.insert(last, file);
            }
            [first, rest @ ..] => self.dirs.entry(first).or_default().insert(rest, file),
        }
    }

    fn write(&self, e: &mut Encoder) {
        e.begin_dict();
        // Keys in byte order across folders and files alike.
        let mut keys: Vec<&str> = self.dirs.keys().chain(self.files.keys()).copied().collect();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            e.key(k);
            if let Some(f) = self.files.get(k) {
                e.begin_dict().key("").begin_dict();
                e.key("length").int(f.length as i64);
                if let Some(root) = &f.pieces_root {
                    e.key("pieces root").bytes(root);
                }
                e.end().end();
            } else if let Some(d) = self.dirs.get(k) {
                d.write(e);
            }
        }
        e.end();
    }
}

/// Everything needed to write a `.torrent` file: v1 (`pieces` and
/// `files`/`length`), v2 (`file_tree` with empty `pieces`) or hybrid (both).
/// Keys are emitted in sorted order, so the output is canonical bencode.
#[derive(Debug, Clone, Default)]
pub struct TorrentWriter<'a> {
    /// Torrent name (file or folder name).
    pub name: &'a str,
    /// Piece length in bytes.
    pub piece_length: u64,
    /// Concatenated 20-byte piece hashes.
    pub pieces: &'a [u8],
    /// For a multi-file torrent: (path components, length) in order;
    /// `None` for a single file of `length` bytes.
    pub files: Option<&'a [(Vec<String>, u64)]>,
    /// Length of the single file.
    pub length: u64,
    /// BEP 27 private flag.
    pub private: bool,
    /// `source` in the info dict (changes the info-hash; used by private trackers).
    pub source: Option<&'a str>,
    /// Tracker tiers (BEP 12).
    pub trackers: &'a [Vec<String>],
    /// Web seeds (BEP 19).
    pub web_seeds: &'a [String],
    /// Comment.
    pub comment: Option<&'a str>,
    /// Creator program.
    pub created_by: Option<&'a str>,
    /// Creation time (Unix seconds).
    pub creation_date: Option<i64>,
    /// BEP 47 attributes of the v1 `files`, in the same order (empty: no
    /// attributes; used for the padding files of a hybrid torrent).
    pub file_attrs: &'a [FileAttr],
    /// BEP 52 `file tree`: makes the torrent v2 (with `pieces`: hybrid).
    pub file_tree: Option<&'a [TreeFile]>,
    /// BEP 52 `piece layers`: each file's root and its piece layer (files
    /// larger than one piece).
    pub piece_layers: &'a [(Hash256, Vec<Hash256>)],
}

impl TorrentWriter<'_> {
    /// The bencoded info dictionary.
    pub fn info_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.write_info(&mut e);
        e.finish()
    }

    /// Whether the info dict has v1 `pieces` (v1 or hybrid).
    fn has_v1(&self) -> bool {
        self.file_tree.is_none() || !self.pieces.is_empty()
    }

    fn write_info(&self, e: &mut Encoder) {
        e.begin_dict();
        let tree = self.file_tree.map(|files| {
            let mut root = TreeDir::default();
            for f in files {
                root.insert(&f.path, f);
            }
            root
        });
        if let Some(tree) = &tree {
            e.key("file tree");
            tree.write(e);
        }
        match self.files {
            _ if !self.has_v1() => {}
            Some(files) => {
                e.key("files").begin_list();
                for (i, (path, len)) in files.iter().enumerate() {
                    e.begin_dict();
                    if let Some(attr) = self.file_attrs.get(i) {
                        let a = attr.to_attr_string();
                        if !a.is_empty() {
                            e.key("attr").bytes(&a);
                        }
                    }
                    e.key("length").int(*len as i64).key("path").begin_list();
                    for c in path {
                        e.bytes(c);
                    }
                    e.end().end();
                }
                e.end();
            }
            None => {
                e.key("length").int(self.length as i64);
            }
        }
        if tree.is_some() {
            e.key("meta version").int(2);
        }
        e.key("name").bytes(self.name);
        e.key("piece length").int(self.piece_length as i64);
        if self.has_v1() {
            e.key("pieces").bytes(self.pieces);
        }
        if self.private {
            e.key("private").int(1);
        }
        if let Some(s) = self.source {
            e.key("source").bytes(s);
        }
        e.end();
    }

    /// The whole `.torrent` file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.begin_dict();
        if let Some(first) = self.trackers.iter().flatten().next() {
            e.key("announce").bytes(first);
        }
        let tracker_count: usize = self.trackers.iter().map(Vec::len).sum();
        if tracker_count > 1 {
            e.key("announce-list").begin_list();
            for tier in self.trackers.iter().filter(|t| !t.is_empty()) {
                e.begin_list();
                for url in tier {
                    e.bytes(url);
                }
                e.end();
            }
            e.end();
        }
        if let Some(c) = self.comment {
            e.key("comment").bytes(c);
        }
        if let Some(c) = self.created_by {
            e.key("created by").bytes(c);
        }
        if let Some(d) = self.creation_date {
            e.key("creation date").int(d);
        }
        e.key("info");
        self.write_info(&mut e);
        if !self.piece_layers.is_empty() {
            let mut layers: Vec<&(Hash256, Vec<Hash256>)> = self.piece_layers.iter().collect();
            layers.sort_by_key(|l| l.0);
            layers.dedup_by(|a, b| a.0 == b.0);
            e.key("piece layers").begin_dict();
            for (root, layer) in layers {
                e.bytes(root).bytes(layer.concat());
            }
            e.end();
        }
        match self.web_seeds {
            [] => {}
            [one] => {
                e.key("url-list").bytes(one);
            }
            many => {
                e.key("url-list").begin_list();
                for w in many {
                    e.bytes(w);
                }
                e.end();
            }
        }
        e.end();
        e.finish()
    }
}
