//! Checking data on disk against a torrent's piece hashes, in parallel:
//! SHA-1 pieces (v1), per-file merkle trees (v2: each piece against its
//! file's piece layer, or the file's root for files of one piece or less),
//! or both (hybrid: a piece is valid only when both agree).

use crate::merkle::{self, Hash256};
use crate::piece_io::{batch_pieces, hash_pieces, PieceReader, ReadRangeError};
use crate::{CreateProgress, MetainfoError, Torrent};
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::Ordering;

/// The state of one piece on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceStatus {
    /// Present and matching its hash.
    Valid,
    /// Present but not matching.
    Bad,
    /// A file it needs is missing or too short.
    Missing,
}

/// Result of checking a torrent's data.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The status of every piece.
    pub pieces: Vec<PieceStatus>,
}

impl VerifyReport {
    /// Number of pieces with the given status.
    pub fn count(&self, status: PieceStatus) -> usize {
        self.pieces.iter().filter(|s| **s == status).count()
    }

    /// Whether every piece is valid.
    pub fn is_complete(&self) -> bool {
        self.pieces.iter().all(|s| *s == PieceStatus::Valid)
    }
}

/// Where a torrent's files live under a download directory: `dir/name` for
/// a multi-file torrent, `dir` for a single file (whose path is its name).
pub fn content_base(torrent: &Torrent, dir: &Path) -> std::path::PathBuf {
    if torrent.layout.multi_file {
        dir.join(&torrent.name)
    } else {
        dir.to_path_buf()
    }
}

/// Check every piece of `torrent` against the data under `dir` (which holds
/// the content under its own name), on all cores: the SHA-1 pieces of a v1
/// or hybrid torrent and the merkle trees of a v2 or hybrid one.
pub fn verify_dir(
    torrent: &Torrent,
    dir: &Path,
    progress: &CreateProgress,
) -> Result<VerifyReport, MetainfoError> {
    let layout = &torrent.layout;
    let reader = PieceReader::new(content_base(torrent, dir), layout);
    let v1 = if layout.version.has_v1() {
        Some(verify_v1(torrent, &reader, progress)?)
    } else {
        None
    };
    let v2 = if layout.version.has_v2() {
        Some(verify_v2(torrent, &reader, progress, v1.is_none())?)
    } else {
        None
    };
    let pieces = match (v1, v2) {
        (Some(a), Some(b)) => a
            .into_iter()
            .zip(b)
            .map(|(a, b)| match (a, b) {
                (PieceStatus::Missing, _) | (_, PieceStatus::Missing) => PieceStatus::Missing,
                (PieceStatus::Valid, PieceStatus::Valid) => PieceStatus::Valid,
                _ => PieceStatus::Bad,
            })
            .collect(),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => Vec::new(),
    };
    Ok(VerifyReport { pieces })
}

/// SHA-256 leaves of a byte stream fed in arbitrary slices.
struct LeafHasher {
    leaves: Vec<Hash256>,
    block: Vec<u8>,
}

impl LeafHasher {
    fn new() -> Self {
        LeafHasher {
            leaves: Vec::new(),
            block: Vec::with_capacity(merkle::BLOCK_SIZE),
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.block.is_empty() && data.len() >= merkle::BLOCK_SIZE {
                self.leaves
                    .push(merkle::leaf_hash(&data[..merkle::BLOCK_SIZE]));
                data = &data[merkle::BLOCK_SIZE..];
                continue;
            }
            let take = (merkle::BLOCK_SIZE - self.block.len()).min(data.len());
            self.block.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.block.len() == merkle::BLOCK_SIZE {
                self.leaves.push(merkle::leaf_hash(&self.block));
                self.block.clear();
            }
        }
    }

    fn finish(mut self) -> Vec<Hash256> {
        if !self.block.is_empty() {
            self.leaves.push(merkle::leaf_hash(&self.block));
        }
        self.leaves
    }
}

/// One v2 piece checked: its status, and for a file whose piece layer the
/// torrent lacks, the computed piece hash (checked against the file's root
/// once all its pieces are known).
type V2Check = (PieceStatus, Option<Hash256>);

fn check_v2_piece(
    torrent: &Torrent,
    reader: &PieceReader<'_>,
    piece: u32,
    scratch: &mut Vec<u8>,
) -> Result<V2Check, MetainfoError> {
    let layout = &torrent.layout;
    let Some((fi, pi)) = layout.v2_piece_file(piece) else {
        return Ok((PieceStatus::Valid, None)); // all padding
    };
    let f = &layout.files[fi];
    let start = layout.piece_offset(piece);
    let end = (start + layout.piece_size(piece)).min(f.offset + f.length);
    let mut lh = LeafHasher::new();
    match reader.for_each_chunk(start, end - start, scratch, |c| lh.update(c)) {
        Ok(()) => {}
        Err(ReadRangeError::Missing) => return Ok((PieceStatus::Missing, None)),
        Err(ReadRangeError::Io(p, e)) => return Err(MetainfoError::io(p, e)),
    }
    let leaves = lh.finish();
    let blocks_per_piece = layout.piece_length / crate::BLOCK_SIZE;
    let ok = |good: bool| {
        if good {
            PieceStatus::Valid
        } else {
            PieceStatus::Bad
        }
    };
    if f.length <= layout.piece_length {
        return Ok((ok(Some(merkle::file_root(&leaves)) == f.pieces_root), None));
    }
    let got = merkle::piece_hash(&leaves, blocks_per_piece);
    match f.piece_layer.get(pi as usize) {
        Some(want) => Ok((ok(got.as_ref() == Some(want)), None)),
        None => Ok((PieceStatus::Valid, got)),
    }
}

fn verify_v2(
    torrent: &Torrent,
    reader: &PieceReader<'_>,
    progress: &CreateProgress,
    count_progress: bool,
) -> Result<Vec<PieceStatus>, MetainfoError> {
    let layout = &torrent.layout;
    let batch = batch_pieces(layout.piece_length);
    let batches = layout.piece_count.div_ceil(batch);
    let results: Vec<Result<Vec<V2Check>, MetainfoError>> = (0..batches)
        .into_par_iter()
        .map_init(Vec::new, |scratch, b| {
            let first = b * batch;
            let last = (first + batch).min(layout.piece_count);
            let out = (first..last)
                .map(|p| check_v2_piece(torrent, reader, p, scratch))
                .collect::<Result<Vec<_>, _>>()?;
            if count_progress {
                let bytes = layout.piece_offset(last - 1) + layout.piece_size(last - 1)
                    - layout.piece_offset(first);
                progress.hashed.fetch_add(bytes, Ordering::Relaxed);
            }
            Ok(out)
        })
        .collect();
    let mut checks = Vec::with_capacity(layout.piece_count as usize);
    for r in results {
        checks.extend(r?);
    }
    // Files without a piece layer: their pieces stand or fall together
    // against the file's root.
    let piece_height = (layout.piece_length / crate::BLOCK_SIZE).trailing_zeros();
    for f in &layout.files {
        if f.length <= layout.piece_length || !f.piece_layer.is_empty() || f.is_padding() {
            continue;
        }
        let first = (f.offset / layout.piece_length) as usize;
        let count = f.length.div_ceil(layout.piece_length) as usize;
        let Some(range) = checks.get(first..first + count) else {
            continue;
        };
        if range.iter().any(|c| c.0 == PieceStatus::Missing) {
            continue;
        }
        let layer: Vec<Hash256> = range.iter().map(|c| c.1.unwrap_or_default()).collect();
        let good = merkle::root_from_piece_layer(&layer, piece_height) == f.pieces_root;
        for c in &mut checks[first..first + count] {
            c.0 = if good {
                PieceStatus::Valid
            } else {
                PieceStatus::Bad
            };
        }
    }
    Ok(checks.into_iter().map(|c| c.0).collect())
}

fn verify_v1(
    torrent: &Torrent,
    reader: &PieceReader<'_>,
    progress: &CreateProgress,
) -> Result<Vec<PieceStatus>, MetainfoError> {
    let layout = &torrent.layout;
    let batch = batch_pieces(layout.piece_length);
    let batches = layout.piece_count.div_ceil(batch);
    let results: Vec<Result<Vec<PieceStatus>, MetainfoError>> = (0..batches)
        .into_par_iter()
        .map_init(Vec::new, |scratch, b| {
            let first = b * batch;
            let last = (first + batch).min(layout.piece_count);
            let statuses = |hashes: Vec<[u8; 20]>, first: u32| {
                hashes
                    .iter()
                    .zip(&torrent.piece_hashes[first as usize..])
                    .map(|(h, want)| {
                        if h == want {
                            PieceStatus::Valid
                        } else {
                            PieceStatus::Bad
                        }
                    })
                    .collect::<Vec<_>>()
            };
            let bytes = |a: u32, b: u32| {
                layout.piece_offset(b - 1) + layout.piece_size(b - 1) - layout.piece_offset(a)
            };
            // Fast path: the whole batch in one pass. If something is
            // missing, fall back to piece by piece to tell which.
            let out = match hash_pieces(reader, first..last, scratch) {
                Ok(h) => statuses(h, first),
                Err(ReadRangeError::Io(path, e)) => return Err(MetainfoError::io(path, e)),
                Err(ReadRangeError::Missing) => {
                    let mut out = Vec::with_capacity((last - first) as usize);
                    for p in first..last {
                        match hash_pieces(reader, p..p + 1, scratch) {
                            Ok(h) => out.extend(statuses(h, p)),
                            Err(ReadRangeError::Missing) => out.push(PieceStatus::Missing),
                            Err(ReadRangeError::Io(path, e)) => {
                                return Err(MetainfoError::io(path, e))
                            }
                        }
                    }
                    out
                }
            };
            progress
                .hashed
                .fetch_add(bytes(first, last), Ordering::Relaxed);
            Ok(out)
        })
        .collect();
    let mut pieces = Vec::with_capacity(layout.piece_count as usize);
    for r in results {
        pieces.extend(r?);
    }
    Ok(pieces)
}
