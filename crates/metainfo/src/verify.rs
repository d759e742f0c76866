//! Checking data on disk against a torrent's piece hashes, in parallel.

use crate::piece_io::{batch_pieces, PieceReader, ReadRangeError};
use crate::{CreateProgress, MetainfoError, Torrent};
use rayon::prelude::*;
use sha1::{Digest, Sha1};
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
        .map_init(
            || vec![0u8; layout.piece_length as usize],
            |buf, b| {
                let first = b * batch;
                let last = (first + batch).min(layout.piece_count);
                let mut out = Vec::with_capacity((last - first) as usize);
                for p in first..last {
                    let len = layout.piece_size(p) as usize;
                    let status = match reader.read_at(layout.piece_offset(p), &mut buf[..len]) {
                        Ok(()) => {
                            let h: [u8; 20] = Sha1::digest(&buf[..len]).into();
                            if torrent.piece_hashes.get(p as usize) == Some(&h) {
                                PieceStatus::Valid
                            } else {
                                PieceStatus::Bad
                            }
                        }
                        Err(ReadRangeError::Missing) => PieceStatus::Missing,
                        Err(ReadRangeError::Io(path, e)) => return Err(MetainfoError::io(path, e)),
                    };
                    progress.hashed.fetch_add(len as u64, Ordering::Relaxed);
                    out.push(status);
                }
                Ok(out)
            },
        )
        .collect();
    let mut pieces = Vec::with_capacity(layout.piece_count as usize);
    for r in results {
        pieces.extend(r?);
    }
    Ok(VerifyReport { pieces })
}
