//! Resume data: which pieces are verified on disk, and the size and
//! modification time of every file when that was recorded, so a restart can
//! skip re-hashing files nobody touched.
//!
//! # Where
//!
//! `DIR/.shoal/<info-hash in hex>.resume`, next to the content in the
//! download directory `DIR`. One file per torrent (the info-hash keeps
//! several torrents in one directory apart, and keeps the name short
//! whatever the torrent's name). The `.shoal` folder and the file are
//! opened like the content: never through a symlink (see
//! [`crate::storage`]).
//!
//! # Format
//!
//! A bencoded dictionary (keys sorted):
//!
//! ```text
//! d
//!   8:bitfield  <ceil(pieces/8) bytes, BEP 3 layout: verified pieces>
//!   5:files     l <one entry per file, torrent order> e
//!                 entry: d 5:mtime i<ns since epoch>e 4:size i<bytes>e e
//!                        or de when the file did not exist
//!   9:info-hash 20:<raw info-hash>
//!   6:pieces    i<piece count>e
//!   7:version   i1e
//! e
//! ```
//!
//! # Trust
//!
//! The file is written atomically (temporary file, `fsync`, `rename`,
//! `fsync` of the folder) and only after the data of every piece it marks
//! has been `fsync`ed (see [`crate::storage::Storage::save_resume`]). On
//! load it is checked against the torrent (info-hash, piece count, bitfield
//! length and spare bits, file count, and that every marked piece lies in
//! files recorded at their full size); anything wrong makes the whole file
//! [`ResumeError`], and the caller falls back to a full recheck. A file
//! whose size or mtime differs from the record has its pieces rechecked.

use crate::bitfield::{Bitfield, BitfieldError};
use crate::storage::files::{Access, Dir};
use crate::storage::StorageError;
use shoal_bencode::{DecodeError, Decoder, Encoder};
use shoal_metainfo::{InfoHash, Torrent};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;
use tracing::debug;

/// Name of the folder holding resume files, inside the download directory.
pub const RESUME_DIR: &str = ".shoal";

/// Version written in (and required of) resume files.
pub const RESUME_VERSION: i64 = 1;

/// Size and modification time of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileState {
    /// Length in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

/// The content of a resume file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeData {
    /// The torrent it belongs to.
    pub info_hash: InfoHash,
    /// Pieces verified and flushed to disk.
    pub verified: Bitfield,
    /// Every file's state when `verified` was recorded (`None`: absent).
    pub files: Vec<Option<FileState>>,
}

/// Why a resume file was not accepted.
#[derive(Debug, Error)]
pub enum ResumeError {
    /// The file is larger than any valid resume file for this torrent.
    #[error("resume file is {len} bytes, more than the {max} expected")]
    TooLarge {
        /// Its size.
        len: u64,
        /// The largest accepted.
        max: u64,
    },
    /// It is not valid bencode.
    #[error("resume file is not valid bencode: {0}")]
    Decode(#[from] DecodeError),
    /// A field is missing or has the wrong type or value.
    #[error("resume file is malformed: {0}")]
    Malformed(&'static str),
    /// It belongs to another torrent.
    #[error("resume file is for another torrent ({0})")]
    WrongTorrent(String),
    /// The piece count differs from the torrent's.
    #[error("resume file has {got} pieces, the torrent {expected}")]
    PieceCount {
        /// The torrent's piece count.
        expected: u32,
        /// The count in the file.
        got: i64,
    },
    /// The bitfield has the wrong length or spare bits set.
    #[error("resume bitfield is invalid: {0}")]
    Bitfield(#[from] BitfieldError),
    /// The file list does not match the torrent's.
    #[error("resume file lists {got} files, the torrent has {expected}")]
    FileCount {
        /// The torrent's file count.
        expected: usize,
        /// The count in the file.
        got: usize,
    },
    /// A piece is marked verified although a file it needs was recorded as
    /// absent or short.
    #[error("resume file marks pieces of file {0} verified but not its full size")]
    Inconsistent(usize),
}

/// Where the resume file of a torrent lives under download directory `dir`.
pub fn resume_path(dir: &Path, info_hash: &InfoHash) -> PathBuf {
    dir.join(RESUME_DIR).join(file_name(info_hash))
}

fn file_name(info_hash: &InfoHash) -> String {
    format!("{}.resume", info_hash.to_hex())
}

/// Largest resume file accepted for `torrent`: the bitfield, ~64 bytes per
/// file and some slack.
fn max_len(torrent: &Torrent) -> u64 {
    4096 + u64::from(torrent.layout.piece_count) / 8 + 64 * torrent.layout.files.len() as u64
}

impl ResumeData {
    /// Encode as bencode.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.begin_dict();
        e.key("bitfield").bytes(self.verified.as_bytes());
        e.key("files").begin_list();
        for f in &self.files {
            e.begin_dict();
            if let Some(f) = f {
                e.key("mtime").int(f.mtime_ns);
                e.key("size").int(i64::try_from(f.size).unwrap_or(i64::MAX));
            }
            e.end();
        }
        e.end();
        e.key("info-hash").bytes(self.info_hash.as_bytes());
        e.key("pieces").int(i64::from(self.verified.len() as u32));
        e.key("version").int(RESUME_VERSION);
        e.end();
        e.finish()
    }

    /// Decode and validate resume data for `torrent`. Never panics, never
    /// allocates much more than the input.
    pub fn decode(bytes: &[u8], torrent: &Torrent) -> Result<ResumeData, ResumeError> {
        let layout = &torrent.layout;
        if bytes.len() as u64 > max_len(torrent) {
            return Err(ResumeError::TooLarge {
                len: bytes.len() as u64,
                max: max_len(torrent),
            });
        }
        let v = Decoder::new().max_depth(4).decode(bytes)?;
        let d = v
            .as_dict()
            .ok_or(ResumeError::Malformed("not a dictionary"))?;
        if d.get_int(b"version") != Some(RESUME_VERSION) {
            return Err(ResumeError::Malformed("missing or unsupported version"));
        }
        let ih = d
            .get_bytes(b"info-hash")
            .ok_or(ResumeError::Malformed("missing info-hash"))?;
        if ih != torrent.info_hash.as_bytes() {
            return Err(ResumeError::WrongTorrent(hex_prefix(ih)));
        }
        let pieces = d
            .get_int(b"pieces")
            .ok_or(ResumeError::Malformed("missing piece count"))?;
        if pieces != i64::from(layout.piece_count) {
            return Err(ResumeError::PieceCount {
                expected: layout.piece_count,
                got: pieces,
            });
        }
        let bits = d
            .get_bytes(b"bitfield")
            .ok_or(ResumeError::Malformed("missing bitfield"))?;
        let verified = Bitfield::from_bytes(bits, layout.piece_count as usize)?;
        let list = d
            .get_list(b"files")
            .ok_or(ResumeError::Malformed("missing file list"))?;
        if list.len() != layout.files.len() {
            return Err(ResumeError::FileCount {
                expected: layout.files.len(),
                got: list.len(),
            });
        }
        let mut files = Vec::with_capacity(list.len());
        for entry in list {
            let e = entry
                .as_dict()
                .ok_or(ResumeError::Malformed("file entry is not a dictionary"))?;
            if e.is_empty() {
                files.push(None);
                continue;
            }
            let size = e
                .get_int(b"size")
                .and_then(|s| u64::try_from(s).ok())
                .ok_or(ResumeError::Malformed("bad file size"))?;
            let mtime_ns = e
                .get_int(b"mtime")
                .ok_or(ResumeError::Malformed("bad file mtime"))?;
            files.push(Some(FileState { size, mtime_ns }));
        }
        // A marked piece must lie in files recorded at their full length.
        for (i, f) in layout.files.iter().enumerate() {
            let full = matches!(files[i], Some(s) if s.size == f.length);
            if !full && layout.file_pieces(i).any(|p| verified.get(p as usize)) {
                return Err(ResumeError::Inconsistent(i));
            }
        }
        Ok(ResumeData {
            info_hash: torrent.info_hash,
            verified,
            files,
        })
    }
}

fn hex_prefix(b: &[u8]) -> String {
    b.iter().take(20).map(|x| format!("{x:02x}")).collect()
}

/// Read the resume file of `torrent` from download directory `dir`.
/// `Ok(None)` if there is none; an invalid file is
/// [`StorageError::Resume`].
pub fn load(dir: &Path, torrent: &Torrent) -> Result<Option<ResumeData>, StorageError> {
    load_in(&Dir::open_root(dir)?, torrent)
}

/// Write `data` as the resume file in download directory `dir`, atomically.
pub fn save(dir: &Path, data: &ResumeData) -> Result<(), StorageError> {
    save_in(&Dir::open_root(dir)?, data)
}

pub(crate) fn load_in(root: &Dir, torrent: &Torrent) -> Result<Option<ResumeData>, StorageError> {
    let Some(folder) = root.child_dir(RESUME_DIR, false)? else {
        return Ok(None);
    };
    let name = file_name(&torrent.info_hash);
    let Some(file) = folder.open_file(&name, Access::Read)? else {
        return Ok(None);
    };
    let path = folder.path().join(&name);
    let max = max_len(torrent);
    let len = file
        .metadata()
        .map_err(|e| StorageError::io(&path, e))?
        .len();
    if len > max {
        return Err(ResumeError::TooLarge { len, max }.into());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| StorageError::io(&path, e))?;
    let data = ResumeData::decode(&bytes, torrent)?;
    debug!(path = %path.display(), verified = data.verified.count_ones(), "read resume file");
    Ok(Some(data))
}

pub(crate) fn save_in(root: &Dir, data: &ResumeData) -> Result<(), StorageError> {
    let folder = root
        .child_dir(RESUME_DIR, true)?
        .ok_or_else(|| StorageError::Missing(root.path().join(RESUME_DIR)))?;
    let name = file_name(&data.info_hash);
    let tmp = format!("{name}.tmp");
    let bytes = data.encode();
    let written = folder.create_truncate(&tmp).and_then(|mut f| {
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| StorageError::io(folder.path().join(&tmp), e))
    });
    if let Err(e) = written.and_then(|()| folder.rename(&tmp, &name)) {
        let _ = folder.remove_file(&tmp);
        return Err(e);
    }
    folder.sync()?;
    debug!(path = %folder.path().join(&name).display(), verified = data.verified.count_ones(),
        "wrote resume file");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_metainfo::TorrentWriter;

    fn torrent() -> Torrent {
        let files = vec![
            (vec!["a".to_string()], 3000u64),
            (vec!["empty".to_string()], 0),
            (vec!["b".to_string()], 2000),
        ];
        let pieces = vec![0u8; 20 * 5];
        let bytes = TorrentWriter {
            name: "t",
            piece_length: 1024,
            pieces: &pieces,
            files: Some(&files),
            ..Default::default()
        }
        .to_bytes();
        Torrent::from_bytes(&bytes).unwrap()
    }

    fn data(t: &Torrent) -> ResumeData {
        let mut verified = Bitfield::new(5);
        verified.set(0, true).unwrap();
        verified.set(4, true).unwrap();
        ResumeData {
            info_hash: t.info_hash,
            verified,
            files: vec![
                Some(FileState {
                    size: 3000,
                    mtime_ns: 1_700_000_000_123_456_789,
                }),
                None,
                Some(FileState {
                    size: 2000,
                    mtime_ns: -5,
                }),
            ],
        }
    }

    #[test]
    fn round_trip() {
        let t = torrent();
        let d = data(&t);
        assert_eq!(ResumeData::decode(&d.encode(), &t).unwrap(), d);
    }

    #[test]
    fn rejects_bad_files() {
        let t = torrent();
        let good = data(&t).encode();
        let mut other = data(&t);
        other.info_hash = InfoHash([7; 20]);
        assert!(matches!(
            ResumeData::decode(&other.encode(), &t),
            Err(ResumeError::WrongTorrent(_))
        ));
        // Truncations and byte flips never panic and never succeed silently
        // with a different bitfield.
        for cut in 0..good.len() {
            assert!(ResumeData::decode(&good[..cut], &t).is_err());
        }
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x55;
            if let Ok(d) = ResumeData::decode(&b, &t) {
                // Only a flip inside an mtime can still parse.
                assert_eq!(d.verified, data(&t).verified);
            }
        }
        // Spare bits set / wrong length.
        let mut d = data(&t).encode();
        let at = d.windows(10).position(|w| w == b"8:bitfield").unwrap() + 10 + 2;
        d[at] |= 0x01;
        assert!(matches!(
            ResumeData::decode(&d, &t),
            Err(ResumeError::Bitfield(BitfieldError::SpareBitsSet))
        ));
        // A piece marked in a file recorded absent.
        let mut bad = data(&t);
        bad.files[2] = None;
        assert!(matches!(
            ResumeData::decode(&bad.encode(), &t),
            Err(ResumeError::Inconsistent(2))
        ));
        let mut short = data(&t);
        short.files[0] = Some(FileState {
            size: 10,
            mtime_ns: 0,
        });
        assert!(matches!(
            ResumeData::decode(&short.encode(), &t),
            Err(ResumeError::Inconsistent(0))
        ));
        assert!(matches!(
            ResumeData::decode(&vec![b'l'; 100_000], &t),
            Err(ResumeError::TooLarge { .. })
        ));
        assert!(ResumeData::decode(b"d7:versioni1ee", &t).is_err());
    }

    #[test]
    fn save_is_atomic_and_refuses_symlinked_folder() {
        let dir = tempfile::tempdir().unwrap();
        let t = torrent();
        save(dir.path(), &data(&t)).unwrap();
        assert_eq!(load(dir.path(), &t).unwrap(), Some(data(&t)));
        let names: Vec<_> = std::fs::read_dir(dir.path().join(RESUME_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary left: {names:?}");
        assert!(resume_path(dir.path(), &t.info_hash).is_file());

        let other = tempfile::tempdir().unwrap();
        let dir2 = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(other.path(), dir2.path().join(RESUME_DIR)).unwrap();
        assert!(matches!(
            save(dir2.path(), &data(&t)),
            Err(StorageError::Symlink(_))
        ));
        assert!(matches!(
            load(dir2.path(), &t),
            Err(StorageError::Symlink(_))
        ));
        assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
    }
}
