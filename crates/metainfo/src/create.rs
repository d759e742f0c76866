//! Creating torrents: scanning files and hashing pieces on every core.

use crate::layout::{FileAttr, Layout, MetaVersion};
use crate::merkle::{self, Hash256};
use crate::path::sanitize_component;
use crate::piece_io::{batch_pieces, PieceReader, ReadRangeError};
use crate::torrent::{MAX_PIECE_LENGTH, MAX_TOTAL_LENGTH};
use crate::write::TreeFile;
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
    /// v1 (the library default), v2 or hybrid. v2 and hybrid need a piece
    /// length that is a power of two of at least 16 KiB.
    pub version: MetaVersion,
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
        if opts.version.has_v2() {
            return self.create_v2(opts, progress, piece_length);
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
            ..Default::default()
        };
        let bytes = writer.to_bytes();
        let torrent = Torrent::from_bytes(&bytes)?;
        Ok((bytes, torrent))
    }

    /// A v2 or hybrid torrent: one merkle tree per file and, for hybrid,
    /// SHA-1 pieces over the same data with padding files that start each
    /// file on a piece boundary. Every piece is read once; both hashes are
    /// computed from the same buffer, on all cores.
    fn create_v2(
        &self,
        opts: &CreateOptions,
        progress: &CreateProgress,
        piece_length: u64,
    ) -> Result<(Vec<u8>, Torrent), MetainfoError> {
        if !crate::valid_v2_piece_length(piece_length as i64) {
            return Err(MetainfoError::BadV2PieceLength(piece_length as i64));
        }
        let hybrid = opts.version == MetaVersion::Hybrid;
        let last_data = self.files.iter().rposition(|f| f.length > 0);
        // Jobs: runs of pieces within one file, about 4 MiB each.
        let batch = u64::from(batch_pieces(piece_length));
        let mut jobs = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            let pieces = f.length.div_ceil(piece_length);
            let mut p = 0;
            while p < pieces {
                let end = (p + batch).min(pieces);
                jobs.push((i, p, end));
                p = end;
            }
        }
        let results: Vec<Result<PieceHashes, MetainfoError>> = jobs
            .par_iter()
            .map_init(Vec::new, |scratch, &(i, first, end)| {
                if progress.cancel.load(Ordering::Relaxed) {
                    return Err(MetainfoError::io(
                        &self.files[i].disk_path,
                        std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled"),
                    ));
                }
                let f = &self.files[i];
                // Hybrid: a short last piece is followed by padding (zeros)
                // in the v1 view, except at the very end of the torrent.
                let pad_v1 = hybrid && Some(i) != last_data;
                let out = hash_file_pieces(f, piece_length, first..end, hybrid, pad_v1, scratch)?;
                let bytes = (end * piece_length).min(f.length) - first * piece_length;
                progress.hashed.fetch_add(bytes, Ordering::Relaxed);
                Ok(out)
            })
            .collect();

        // Assemble per file.
        let piece_height = (piece_length / crate::BLOCK_SIZE).trailing_zeros();
        let mut per_file: Vec<PieceHashes> = vec![PieceHashes::default(); self.files.len()];
        for (r, (i, _, _)) in results.into_iter().zip(&jobs) {
            let r = r?;
            let acc = &mut per_file[*i];
            acc.v2.extend(r.v2);
            acc.small_leaves.extend(r.small_leaves);
            acc.v1.extend(r.v1);
        }
        let mut tree = Vec::with_capacity(self.files.len());
        let mut layers = Vec::new();
        let mut v1_files: Vec<(Vec<String>, u64)> = Vec::new();
        let mut v1_attrs: Vec<FileAttr> = Vec::new();
        let mut pieces: Vec<u8> = Vec::new();
        for (i, (f, h)) in self.files.iter().zip(&per_file).enumerate() {
            let root = if f.length == 0 {
                None
            } else if f.length <= piece_length {
                Some(merkle::file_root(&h.small_leaves))
            } else {
                layers.push((
                    merkle::root_from_piece_layer(&h.v2, piece_height).unwrap_or_default(),
                    h.v2.clone(),
                ));
                layers.last().map(|(r, _)| *r)
            };
            let path = if self.multi_file {
                f.path.clone()
            } else {
                vec![self.name.clone()]
            };
            tree.push(TreeFile {
                path: path.clone(),
                length: f.length,
                pieces_root: root,
            });
            if hybrid {
                for d in &h.v1 {
                    pieces.extend_from_slice(d);
                }
                v1_files.push((path, f.length));
                v1_attrs.push(FileAttr::default());
                let tail = f.length % piece_length;
                if tail != 0 && last_data.is_some_and(|l| i < l) {
                    let pad = piece_length - tail;
                    v1_files.push((vec![".pad".to_string(), pad.to_string()], pad));
                    v1_attrs.push(FileAttr {
                        padding: true,
                        ..FileAttr::default()
                    });
                }
            }
        }
        let total = self.total_length();
        let writer = TorrentWriter {
            name: &self.name,
            piece_length,
            pieces: &pieces,
            files: (hybrid && self.multi_file).then_some(&v1_files[..]),
            length: total,
            private: opts.private,
            source: opts.source.as_deref(),
            trackers: &opts.trackers,
            web_seeds: &opts.web_seeds,
            comment: opts.comment.as_deref(),
            created_by: opts.created_by.as_deref(),
            creation_date: opts.creation_date,
            file_attrs: &v1_attrs,
            file_tree: Some(&tree),
            piece_layers: &layers,
        };
        let bytes = writer.to_bytes();
        let torrent = Torrent::from_bytes(&bytes)?;
        Ok((bytes, torrent))
    }
}

/// Hashes of a run of one file's pieces.
#[derive(Debug, Clone, Default)]
struct PieceHashes {
    /// The v2 piece-layer hash of each piece (files larger than a piece).
    v2: Vec<Hash256>,
    /// The leaf hashes (files of one piece or less: their root is
    /// computed from the leaves).
    small_leaves: Vec<Hash256>,
    /// Hybrid: the SHA-1 of each piece as the v1 view sees it.
    v1: Vec<[u8; 20]>,
}

/// Read pieces `pieces` of file `f` and hash them: SHA-256 per 16 KiB block
/// folded into piece hashes, and (hybrid) SHA-1 per piece, the last one
/// padded with zeros to a full piece when `pad_v1`.
fn hash_file_pieces(
    f: &SourceFile,
    piece_length: u64,
    pieces: std::ops::Range<u64>,
    v1: bool,
    pad_v1: bool,
    scratch: &mut Vec<u8>,
) -> Result<PieceHashes, MetainfoError> {
    use sha1::{Digest, Sha1};
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(&f.disk_path).map_err(|e| MetainfoError::io(&f.disk_path, e))?;
    let blocks_per_piece = piece_length / crate::BLOCK_SIZE;
    let small = f.length <= piece_length;
    let mut out = PieceHashes::default();
    let mut leaves = Vec::with_capacity(blocks_per_piece as usize);
    for p in pieces {
        let start = p * piece_length;
        let len = piece_length.min(f.length - start);
        let mut sha1 = Sha1::new();
        leaves.clear();
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(crate::piece_io::READ_CHUNK) as usize;
            scratch.resize(n, 0);
            file.read_exact_at(scratch, start + done).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    MetainfoError::io(
                        &f.disk_path,
                        std::io::Error::new(e.kind(), "a file changed size while being hashed"),
                    )
                } else {
                    MetainfoError::io(&f.disk_path, e)
                }
            })?;
            leaves.extend(
                scratch
                    .chunks(crate::BLOCK_SIZE as usize)
                    .map(merkle::leaf_hash),
            );
            if v1 {
                sha1.update(&scratch[..]);
            }
            done += n as u64;
        }
        if v1 {
            if pad_v1 && len < piece_length {
                let zeros = vec![0u8; (piece_length - len) as usize];
                sha1.update(&zeros);
            }
            out.v1.push(sha1.finalize().into());
        }
        if small {
            out.small_leaves.extend_from_slice(&leaves);
        } else {
            out.v2
                .push(merkle::piece_hash(&leaves, blocks_per_piece).unwrap_or_default());
        }
    }
    Ok(out)
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
