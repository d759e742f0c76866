//! Checking data on disk against a torrent's piece hashes, in parallel.

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
/// the content under its own name), on all cores.
pub fn verify_dir(
    torrent: &Torrent,
    dir: &Path,
    progress: &CreateProgress,
) -> Result<VerifyReport, MetainfoError> {
    let layout = &torrent.layout;
    let reader = PieceReader::new(content_base(torrent, dir), layout);
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
            let out = match hash_pieces(&reader, first..last, scratch) {
                Ok(h) => statuses(h, first),
                Err(ReadRangeError::Io(path, e)) => return Err(MetainfoError::io(path, e)),
                Err(ReadRangeError::Missing) => {
                    let mut out = Vec::with_capacity((last - first) as usize);
                    for p in first..last {
                        match hash_pieces(&reader, p..p + 1, scratch) {
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
    Ok(VerifyReport { pieces })
}
