//! Creating torrents: scanning files and hashing pieces on every core.

use crate::layout::Layout;
use crate::path::sanitize_component;
use crate::piece_io::{batch_pieces, PieceReader, ReadRangeError};
use crate::torrent::{MAX_PIECE_LENGTH, MAX_TOTAL_LENGTH};
use crate::{MetainfoError, Torrent, TorrentWriter};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// One file to include in a new torrent.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path components below the torrent root.
    pub path: Vec<String>,
    /// Where it is on disk.
    pub disk_path: PathBuf,
    /// Its length.
    pub length: u64,
}

/// Options of a new torrent.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Piece length; chosen automatically when `None`.
    pub piece_length: Option<u64>,
    /// Tracker tiers (BEP 12).
    pub trackers: Vec<Vec<String>>,
    /// Web seeds (BEP 19).
    pub web_seeds: Vec<String>,
    /// BEP 27 private flag.
    pub private: bool,
    /// Comment.
    pub comment: Option<String>,
    /// `source` tag in the info dict.
    pub source: Option<String>,
    /// Creator program.
    pub created_by: Option<String>,
    /// Creation time (Unix seconds).
    pub creation_date: Option<i64>,
}

/// Progress counters shared with a progress display.
#[derive(Debug, Default)]
pub struct CreateProgress {
    /// Bytes hashed so far (shareable with a display thread).
    pub hashed: Arc<AtomicU64>,
    /// Set to stop hashing early.
    pub cancel: Arc<AtomicBool>,
}

/// The piece length used when none is given: the smallest power of two
/// from 16 KiB to 16 MiB that keeps the torrent at or under 2,000 pieces.
pub fn auto_piece_length(total: u64) -> u64 {
    let mut p: u64 = 16 << 10;
    while p < (16 << 20) && total.div_ceil(p) > 2000 {
        p <<= 1;
    }
    p
}

/// Files found at a path, ready to be hashed into a torrent.
#[derive(Debug, Clone)]
pub struct Creator {
    /// The torrent name (the file or folder name).
    pub name: String,
    /// The files, in torrent order (sorted by path).
    pub files: Vec<SourceFile>,
    /// Whether the source was a directory.
    pub multi_file: bool,
}

impl Creator {
    /// Scan a file or directory. Directory contents are taken in a stable
    /// order (sorted by path components, bytewise); symlinks to files are
    /// followed, symlinks to directories are not (no cycles).
    pub fn scan(path: &Path) -> Result<Creator, MetainfoError> {
        let meta = std::fs::metadata(path).map_err(|e| MetainfoError::io(path, e))?;
        let abs = std::fs::canonicalize(path).map_err(|e| MetainfoError::io(path, e))?;
        let raw_name = abs
            .file_name()
            .ok_or_else(|| MetainfoError::NoFiles(path.display().to_string()))?;
        let name = sanitize_component(raw_name.as_encoded_bytes(), &abs.display().to_string())?;
        if meta.is_file() {
            return Ok(Creator {
                files: vec![SourceFile {
                    path: vec![name.clone()],
                    disk_path: abs,
                    length: meta.len(),
                }],
                name,
                multi_file: false,
            });
        }
        let mut files = Vec::new();
        walk(&abs, &mut Vec::new(), &mut files)?;
        if files.is_empty() {
            return Err(MetainfoError::NoFiles(path.display().to_string()));
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Creator {
            name,
            files,
            multi_file: true,
        })
    }

    /// Sum of file lengths.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }

    /// Hash every piece (in parallel on the rayon pool) and produce the
    /// `.torrent` bytes and the parsed torrent.
    pub fn create(
        &self,
        opts: &CreateOptions,
        progress: &CreateProgress,
    ) -> Result<(Vec<u8>, Torrent), MetainfoError> {
        let total = self.total_length();
        if total == 0 {
            return Err(MetainfoError::Empty);
        }
        if total > MAX_TOTAL_LENGTH {
            return Err(MetainfoError::TooLarge {
                limit: MAX_TOTAL_LENGTH,
            });
        }
        let piece_length = opts
            .piece_length
            .unwrap_or_else(|| auto_piece_length(total));
        if !(crate::MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&piece_length)
            || !piece_length.is_power_of_two()
        {
            return Err(MetainfoError::BadPieceLength(piece_length as i64));
        }
        let entries: Vec<(Vec<String>, u64)> = self
            .files
            .iter()
            .map(|f| (f.path.clone(), f.length))
            .collect();
        let layout = Layout::new(piece_length, entries.clone(), self.multi_file).ok_or(
            MetainfoError::TooLarge {
                limit: MAX_TOTAL_LENGTH,
            },
        )?;
        let disk_paths: Vec<PathBuf> = self.files.iter().map(|f| f.disk_path.clone()).collect();
        let reader = PieceReader::with_paths(&layout, &disk_paths);
        let pieces = hash_all(&reader, &layout, progress)?;

        let writer = TorrentWriter {
            name: &self.name,
            piece_length,
            pieces: &pieces,
            files: self.multi_file.then_some(&entries[..]),
            length: total,
            private: opts.private,
            source: opts.source.as_deref(),
            trackers: &opts.trackers,
            web_seeds: &opts.web_seeds,
            comment: opts.comment.as_deref(),
            created_by: opts.created_by.as_deref(),
            creation_date: opts.creation_date,
        };
        let bytes = writer.to_bytes();
        let torrent = Torrent::from_bytes(&bytes)?;
        Ok((bytes, torrent))
    }
}

fn walk(dir: &Path, rel: &mut Vec<String>, out: &mut Vec<SourceFile>) -> Result<(), MetainfoError> {
    let entries = std::fs::read_dir(dir).map_err(|e| MetainfoError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| MetainfoError::io(dir, e))?;
        let p = entry.path();
        let ft = entry.file_type().map_err(|e| MetainfoError::io(&p, e))?;
        let name = sanitize_component(
            entry.file_name().as_encoded_bytes(),
            &p.display().to_string(),
        )?;
        if ft.is_dir() {
            rel.push(name);
            walk(&p, rel, out)?;
            rel.pop();
        } else {
            // Regular files, and symlinks that lead to regular files.
            let meta = match std::fs::metadata(&p) {
                Ok(m) => m,
                Err(_) if ft.is_symlink() => continue, // dangling link
                Err(e) => return Err(MetainfoError::io(&p, e)),
            };
            if !meta.is_file() {
                continue;
            }
            let mut path = rel.clone();
            path.push(name);
            out.push(SourceFile {
                path,
                disk_path: p,
                length: meta.len(),
            });
        }
    }
    Ok(())
}

/// Hash all pieces of `layout` read through `reader`, in parallel.
fn hash_all(
    reader: &PieceReader<'_>,
    layout: &Layout,
    progress: &CreateProgress,
) -> Result<Vec<u8>, MetainfoError> {
    let batch = batch_pieces(layout.piece_length);
    let batches = layout.piece_count.div_ceil(batch);
    let results: Vec<Result<Vec<[u8; 20]>, MetainfoError>> = (0..batches)
        .into_par_iter()
        .map_init(Vec::new, |buf, b| {
            if progress.cancel.load(Ordering::Relaxed) {
                return Err(MetainfoError::io(
                    reader.base(),
                    std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled"),
                ));
            }
            let first = b * batch;
            let last = (first + batch).min(layout.piece_count);
            let hashes =
                crate::piece_io::hash_pieces(reader, first..last, buf).map_err(|e| match e {
                    ReadRangeError::Missing => MetainfoError::io(
                        reader.base(),
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "a file changed size while being hashed",
                        ),
                    ),
                    ReadRangeError::Io(p, e) => MetainfoError::io(p, e),
                })?;
            let len = layout.piece_offset(last - 1) + layout.piece_size(last - 1)
                - layout.piece_offset(first);
            progress.hashed.fetch_add(len, Ordering::Relaxed);
            Ok(hashes)
        })
        .collect();
    let mut out = Vec::with_capacity(layout.piece_count as usize * 20);
    for r in results {
        for h in r? {
            out.extend_from_slice(&h);
        }
    }
    Ok(out)
}
