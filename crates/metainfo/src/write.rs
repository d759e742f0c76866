//! Writing `.torrent` files.

use shoal_bencode::Encoder;

/// Everything needed to write a v1 `.torrent` file. Keys are emitted in
/// sorted order, so the output is canonical bencode.
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
}

impl TorrentWriter<'_> {
    /// The bencoded info dictionary.
    pub fn info_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.write_info(&mut e);
        e.finish()
    }

    fn write_info(&self, e: &mut Encoder) {
        e.begin_dict();
        match self.files {
            Some(files) => {
                e.key("files").begin_list();
                for (path, len) in files {
                    e.begin_dict()
                        .key("length")
                        .int(*len as i64)
                        .key("path")
                        .begin_list();
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
        e.key("name").bytes(self.name);
        e.key("piece length").int(self.piece_length as i64);
        e.key("pieces").bytes(self.pieces);
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
