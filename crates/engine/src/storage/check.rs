//! The initial check: trust the resume file where the files are
//! unchanged, hash the rest in parallel.

use super::{CheckReport, ResumeStatus, Storage, StorageError};
use crate::bitfield::Bitfield;
use crate::resume::{self, FileState};
use rayon::prelude::*;
use shoal_metainfo::CreateProgress;
use std::sync::atomic::Ordering;
use tracing::{debug, info, warn};

impl Storage {
    /// Initial check, to run once before writing: trust the resume file
    /// where it matches the files on disk, and hash (in parallel, on the
    /// rayon pool) every piece it cannot vouch for. Pieces of files that
    /// are absent are not read. A corrupt resume file is ignored with a
    /// warning. Progress is added to `progress.hashed`; setting
    /// `progress.cancel` stops the check with an error.
    pub fn check(&self, progress: &CreateProgress) -> Result<CheckReport, StorageError> {
        let layout = self.layout();
        let count = layout.piece_count as usize;
        for i in 0..self.files.len() {
            self.files.take_touched(i);
        }
        let current: Vec<Option<FileState>> =
            (0..self.files.len()).map(|i| self.files.state(i)).collect();
        *crate::storage::files::lock(&self.file_states) = current.clone();
        let (mut verified, to_check, resume) =
            match resume::load_in(self.files.root(), &self.torrent) {
                Ok(Some(r)) => {
                    let changed: Vec<usize> = (0..current.len())
                        .filter(|&i| r.files[i] != current[i])
                        .collect();
                    let mut recheck = Bitfield::new(count);
                    for &i in &changed {
                        for p in layout.file_pieces(i) {
                            let _ = recheck.set(p as usize, true);
                        }
                    }
                    let mut trusted = r.verified;
                    for p in recheck.iter_ones() {
                        let _ = trusted.set(p, false);
                    }
                    let status = if changed.is_empty() {
                        ResumeStatus::Matched
                    } else {
                        debug!(files = changed.len(), "files changed since the resume file");
                        ResumeStatus::FilesChanged(changed.len())
                    };
                    let to_check: Vec<u32> = recheck.iter_ones().map(|p| p as u32).collect();
                    (trusted, to_check, status)
                }
                Ok(None) => (
                    Bitfield::new(count),
                    (0..layout.piece_count).collect(),
                    ResumeStatus::NotFound,
                ),
                Err(e) => {
                    warn!(error = %e, "ignoring the resume file: rechecking everything");
                    (
                        Bitfield::new(count),
                        (0..layout.piece_count).collect(),
                        ResumeStatus::Invalid(e.to_string()),
                    )
                }
            };
        let absent: Vec<bool> = current
            .iter()
            .zip(&layout.files)
            .map(|(s, f)| f.length > 0 && f.is_regular() && s.is_none())
            .collect();
        let before = self.hashed_bytes();
        let valid = self.recheck(&to_check, &absent, progress)?;
        for p in valid {
            let _ = verified.set(p as usize, true);
        }
        let report = CheckReport {
            resume,
            verified_pieces: verified.count_ones(),
            rechecked_pieces: to_check.len(),
            hashed_bytes: self.hashed_bytes() - before,
        };
        self.cache.set_verified(verified);
        info!(verified = report.verified_pieces, pieces = count,
            rechecked = report.rechecked_pieces, hashed = report.hashed_bytes,
            resume = ?report.resume, "storage checked");
        Ok(report)
    }

    /// Hash `pieces` (sorted) from disk in parallel; returns those that
    /// match. Pieces touching an `absent` file are skipped unread.
    fn recheck(
        &self,
        pieces: &[u32],
        absent: &[bool],
        progress: &CreateProgress,
    ) -> Result<Vec<u32>, StorageError> {
        let layout = self.layout();
        let candidates: Vec<u32> = pieces
            .iter()
            .copied()
            .filter(|&p| layout.piece_spans(p).iter().all(|s| !absent[s.file_index]))
            .collect();
        // Batches of consecutive pieces, about 1 MiB each, read in one go.
        let per_batch = ((1u64 << 20) / layout.piece_length).clamp(1, 64) as usize;
        let mut batches: Vec<&[u32]> = Vec::new();
        let mut start = 0;
        for i in 1..=candidates.len() {
            if i == candidates.len()
                || candidates[i] != candidates[i - 1] + 1
                || i - start == per_batch
            {
                batches.push(&candidates[start..i]);
                start = i;
            }
        }
        let results: Vec<Result<Vec<u32>, StorageError>> = batches
            .par_iter()
            .map_init(Vec::new, |buf: &mut Vec<u8>, batch| {
                if progress.cancel.load(Ordering::Relaxed) {
                    return Err(StorageError::Cancelled);
                }
                let (first, last) = (batch[0], batch[batch.len() - 1]);
                let start = layout.piece_offset(first);
                let end = layout.piece_offset(last) + layout.piece_size(last);
                buf.resize((end - start) as usize, 0);
                let mut ok = Vec::new();
                let whole = self.read_at(start, buf);
                for &p in *batch {
                    let size = layout.piece_size(p) as usize;
                    let at = (layout.piece_offset(p) - start) as usize;
                    let data = &mut buf[at..at + size];
                    let readable = match &whole {
                        Ok(()) => true,
                        // Part of the batch is unreadable: try piece by piece.
                        Err(_) => match self.read_at(layout.piece_offset(p), data) {
                            Ok(()) => true,
                            Err(StorageError::Missing(_)) => false,
                            Err(e) => {
                                warn!(piece = p, error = %e, "piece unreadable during check");
                                false
                            }
                        },
                    };
                    if readable {
                        progress.hashed.fetch_add(size as u64, Ordering::Relaxed);
                        if self.matches(p, data) {
                            ok.push(p);
                        }
                    }
                }
                Ok(ok)
            })
            .collect();
        let mut valid = Vec::new();
        for r in results {
            valid.extend(r?);
        }
        Ok(valid)
    }
}
