//! Fixtures shared by the storage integration tests: torrents built from
//! generated content through the real `.torrent` writer and parser.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha1::{Digest, Sha1};
use shoal_engine::storage::{Storage, StorageConfig, WriteOutcome};
use shoal_metainfo::{Torrent, TorrentWriter};
use std::path::Path;
use std::sync::Arc;

/// Standard block size.
pub const BLOCK: u32 = 16 << 10;

/// A torrent and the content it describes.
pub struct Fixture {
    /// The parsed torrent.
    pub torrent: Arc<Torrent>,
    /// The whole byte stream (all files end to end).
    pub stream: Vec<u8>,
}

/// A multi-file torrent named `name` with files of the given paths
/// (`/`-separated) and sizes, filled with seeded random bytes.
pub fn multi(name: &str, piece_length: u64, files: &[(&str, usize)], seed: u64) -> Fixture {
    let entries: Vec<(Vec<String>, u64)> = files
        .iter()
        .map(|(p, n)| (p.split('/').map(str::to_string).collect(), *n as u64))
        .collect();
    build(name, piece_length, Some(entries), 0, seed)
}

/// A single-file torrent of `len` bytes.
pub fn single(name: &str, piece_length: u64, len: usize, seed: u64) -> Fixture {
    build(name, piece_length, None, len as u64, seed)
}

fn build(
    name: &str,
    piece_length: u64,
    files: Option<Vec<(Vec<String>, u64)>>,
    length: u64,
    seed: u64,
) -> Fixture {
    let total = match &files {
        Some(f) => f.iter().map(|(_, n)| n).sum(),
        None => length,
    };
    let mut stream = vec![0u8; total as usize];
    StdRng::seed_from_u64(seed).fill(&mut stream[..]);
    let pieces: Vec<u8> = stream
        .chunks(piece_length as usize)
        .flat_map(|c| <[u8; 20]>::from(Sha1::digest(c)))
        .collect();
    let bytes = TorrentWriter {
        name,
        piece_length,
        pieces: &pieces,
        files: files.as_deref(),
        length,
        ..Default::default()
    }
    .to_bytes();
    Fixture {
        torrent: Arc::new(Torrent::from_bytes(&bytes).expect("valid torrent")),
        stream,
    }
}

impl Fixture {
    /// Every block `(piece, begin, len)` of the torrent, in order.
    pub fn blocks(&self) -> Vec<(u32, u32, u32)> {
        let l = &self.torrent.layout;
        let mut out = Vec::new();
        for p in 0..l.piece_count {
            let size = l.piece_size(p) as u32;
            for begin in (0..size).step_by(BLOCK as usize) {
                out.push((p, begin, BLOCK.min(size - begin)));
            }
        }
        out
    }

    /// The correct data of a block.
    pub fn data(&self, piece: u32, begin: u32, len: u32) -> &[u8] {
        let at = (self.torrent.layout.piece_offset(piece) + u64::from(begin)) as usize;
        &self.stream[at..at + len as usize]
    }

    /// The content of file `i`.
    pub fn file(&self, i: usize) -> &[u8] {
        let f = &self.torrent.layout.files[i];
        &self.stream[f.offset as usize..(f.offset + f.length) as usize]
    }

    /// Where file `i` lives under download directory `dir`.
    pub fn path(&self, dir: &Path, i: usize) -> std::path::PathBuf {
        shoal_metainfo::content_base(&self.torrent, dir)
            .join(self.torrent.layout.files[i].relative_path())
    }

    /// Open storage for this torrent in `dir`.
    pub fn open(&self, dir: &Path, config: StorageConfig) -> Storage {
        Storage::open(self.torrent.clone(), dir, config).expect("open storage")
    }

    /// Write every block of `pieces` with correct data; returns how many
    /// pieces verified.
    pub fn write_pieces(&self, s: &Storage, pieces: impl IntoIterator<Item = u32>) -> usize {
        let mut n = 0;
        for p in pieces {
            for (q, begin, len) in self.blocks().into_iter().filter(|b| b.0 == p) {
                if s.write_block(q, begin, self.data(q, begin, len))
                    .expect("write")
                    == WriteOutcome::Verified
                {
                    n += 1;
                }
            }
        }
        n
    }

    /// Assert that every file under `dir` equals the source.
    pub fn assert_files_equal(&self, dir: &Path) {
        for i in 0..self.torrent.layout.files.len() {
            let got = std::fs::read(self.path(dir, i)).expect("read file");
            assert!(got == self.file(i), "file {i} differs from the source");
        }
    }
}

/// Every regular file below `dir`, recursively (symlinks not followed).
pub fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                out.extend(all_files(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
