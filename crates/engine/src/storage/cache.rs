//! The write cache: blocks of pieces in progress, held in memory until
//! their piece is complete, under a global byte cap.
//!
//! * A block is copied into the cache (so the caller's receive buffer is
//!   released at once and the byte count is exact). Overlapping or repeated
//!   blocks (endgame duplicates) only add the bytes not yet present.
//! * When the last byte of a piece arrives, its blocks are taken out as a
//!   [`CompleteJob`]: the piece is then hashed straight from memory and,
//!   if it matches, written with vectored positional writes.
//! * When the bytes held exceed the cap, whole partial pieces are spilled
//!   to disk, least recently written first ([`WriteCache::spill`]). Before
//!   a spill writes a piece's blocks, the piece's running SHA-1 takes in the
//!   blocks that continue its hashed prefix, so blocks that arrived in
//!   order are hashed once, from memory, and never read back: only blocks
//!   spilled ahead of a gap are read back once the piece is complete.
//!
//! Concurrency: a global index (piece → slot, plus the verified bitfield)
//! under one mutex held only for lookups, and a mutex per piece slot. A
//! spill holds its slot's mutex while writing, so it can never race with a
//! completion of the same piece; a completion marks its slot `Completing`
//! and works on the blocks it took out, without any lock.

use super::files::lock;
use crate::bitfield::Bitfield;
use bytes::Bytes;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use tokio::sync::Notify;
use tracing::trace;

/// A run of bytes of a piece.
#[derive(Debug)]
pub(crate) enum Block {
    /// Held in memory.
    Mem(Bytes),
    /// Already written to disk (by a spill); only its length is kept.
    Disk(u32),
}

impl Block {
    fn len(&self) -> u32 {
        match self {
            Block::Mem(b) => b.len() as u32,
            Block::Disk(n) => *n,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepting blocks.
    Active,
    /// Complete; a job owns the blocks. Further blocks are duplicates.
    Completing,
    /// Finished (verified, failed or discarded); look the piece up again.
    Retired,
}

#[derive(Debug)]
struct SlotState {
    phase: Phase,
    /// Non-overlapping blocks keyed by their offset in the piece.
    blocks: BTreeMap<u32, Block>,
    /// Bytes present (in memory or on disk).
    covered: u32,
    /// The running hash of the piece's first `hashed` bytes.
    prefix: Sha1,
    /// Length of the prefix `prefix` has taken in.
    hashed: u32,
}

impl SlotState {
    fn new() -> Self {
        SlotState {
            phase: Phase::Active,
            blocks: BTreeMap::new(),
            covered: 0,
            prefix: Sha1::new(),
            hashed: 0,
        }
    }

    /// Feed the in-memory blocks that continue the hashed prefix to the
    /// running hash.
    fn advance_prefix(&mut self) {
        while let Some(Block::Mem(b)) = self.blocks.get(&self.hashed) {
            self.prefix.update(b);
            self.hashed += b.len() as u32;
        }
    }
}

/// One piece in progress.
#[derive(Debug)]
struct Slot {
    piece: u32,
    size: u32,
    state: Mutex<SlotState>,
    /// Bytes of this slot held in memory (0 once a job took them).
    mem: AtomicUsize,
    last_used: AtomicU64,
}

#[derive(Debug)]
struct Index {
    slots: HashMap<u32, Arc<Slot>>,
    verified: Bitfield,
    tick: u64,
}

#[derive(Debug)]
struct Shared {
    cap: usize,
    index: Mutex<Index>,
    mem: AtomicUsize,
    peak: AtomicUsize,
    spilled: AtomicU64,
    /// Part of `mem` held by complete pieces waiting to be hashed (owned by
    /// a [`CompleteJob`]); the rest is partial pieces, which can spill.
    completing: AtomicUsize,
    /// Woken whenever memory is released.
    freed: Notify,
}

impl Shared {
    fn add_mem(&self, n: usize) {
        let now = self.mem.fetch_add(n, Ordering::AcqRel) + n;
        self.peak.fetch_max(now, Ordering::AcqRel);
    }

    fn sub_mem(&self, n: usize) {
        self.mem.fetch_sub(n, Ordering::AcqRel);
        if n > 0 {
            self.freed.notify_waiters();
        }
    }

    /// End a job: mark the piece verified (or forget its data) and release
    /// the memory it held. Never holds the index and a slot lock together.
    fn finish(&self, slot: &Slot, mem: usize, verified: bool) {
        {
            let mut idx = lock(&self.index);
            if verified {
                // In range: the slot was created for a valid piece index.
                let _ = idx.verified.set(slot.piece as usize, true);
            }
            remove_slot(&mut idx, slot);
        }
        let mut st = lock(&slot.state);
        st.phase = Phase::Retired;
        st.blocks.clear();
        st.covered = 0;
        drop(st);
        self.sub_mem(mem);
    }
}

/// Remove `slot` from the index if it is still the piece's current slot.
fn remove_slot(idx: &mut Index, slot: &Slot) {
    if idx
        .slots
        .get(&slot.piece)
        .is_some_and(|s| std::ptr::eq(Arc::as_ptr(s), slot))
    {
        idx.slots.remove(&slot.piece);
    }
}

/// The blocks of a piece that just became complete. Whoever holds it must
/// hash (and write) them and call [`CompleteJob::finish`]; dropping it
/// unfinished discards the piece, so it can be downloaded again.
#[derive(Debug)]
pub(crate) struct CompleteJob {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
    /// The piece's blocks in order, covering it exactly.
    pub(crate) blocks: Vec<(u32, Block)>,
    /// The running hash of the piece's first `hashed` bytes, all of them
    /// in blocks already on disk (see [`CompleteJob::hashed_prefix`]).
    prefix: Sha1,
    hashed: u32,
    mem: usize,
    done: bool,
}

impl CompleteJob {
    /// The piece index.
    pub(crate) fn piece(&self) -> u32 {
        self.slot.piece
    }

    /// Whether some blocks were spilled to disk.
    pub(crate) fn any_on_disk(&self) -> bool {
        self.blocks.iter().any(|(_, b)| matches!(b, Block::Disk(_)))
    }

    /// The hash of the piece's first bytes, taken in before they were
    /// spilled, and how many bytes that is. Every spilled block lies in
    /// that prefix unless blocks were spilled ahead of a gap; whatever
    /// follows the prefix must still be hashed (from memory, or read back
    /// for blocks on disk).
    pub(crate) fn hashed_prefix(&self) -> (Sha1, u32) {
        (self.prefix.clone(), self.hashed)
    }

    /// Record the outcome: `verified` pieces become part of the verified
    /// bitfield; others are forgotten and may be written again.
    pub(crate) fn finish(mut self, verified: bool) {
        self.done = true;
        self.shared.completing.fetch_sub(self.mem, Ordering::AcqRel);
        self.shared.finish(&self.slot, self.mem, verified);
    }
}

impl Drop for CompleteJob {
    fn drop(&mut self) {
        if !self.done {
            self.shared.completing.fetch_sub(self.mem, Ordering::AcqRel);
            self.shared.finish(&self.slot, self.mem, false);
        }
    }
}

/// What [`WriteCache::insert`] did with a block.
#[derive(Debug)]
pub(crate) enum Inserted {
    /// Stored; the piece is still incomplete.
    Stored,
    /// Nothing new: every byte was present, the piece is being completed, or
    /// it is already verified.
    Duplicate,
    /// The block completed its piece: run the job.
    Complete(CompleteJob),
    /// The piece is busy (being spilled) and the caller asked not to wait;
    /// nothing was stored.
    Busy,
}

/// A snapshot of the cache's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Block bytes held in memory now.
    pub mem_bytes: usize,
    /// Highest value `mem_bytes` has reached.
    pub peak_bytes: usize,
    /// Pieces with blocks received but not complete (or being completed).
    pub pieces_in_progress: usize,
    /// Bytes written to disk early because the cache was full.
    pub spilled_bytes: u64,
}

/// The write cache of one torrent; see the module documentation.
#[derive(Debug)]
pub(crate) struct WriteCache {
    shared: Arc<Shared>,
    /// Serialises spills, so several writers over the cap wait for one
    /// another instead of spilling the same piece.
    spill_lock: Mutex<()>,
}

/// Bytes of `[begin, end)` not covered by `blocks`, as ranges.
fn gaps(blocks: &BTreeMap<u32, Block>, begin: u32, end: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut pos = begin;
    if let Some((&s, b)) = blocks.range(..begin).next_back() {
        pos = pos.max(s + b.len());
    }
    for (&s, b) in blocks.range(begin..end) {
        if s > pos {
            out.push((pos, s));
        }
        pos = pos.max(s + b.len());
        if pos >= end {
            break;
        }
    }
    if pos < end {
        out.push((pos, end));
    }
    out
}

impl WriteCache {
    /// A cache holding at most about `cap` bytes of blocks, for a torrent
    /// of `piece_count` pieces.
    pub(crate) fn new(cap: usize, piece_count: u32) -> Self {
        WriteCache {
            shared: Arc::new(Shared {
                cap,
                index: Mutex::new(Index {
                    slots: HashMap::new(),
                    verified: Bitfield::new(piece_count as usize),
                    tick: 0,
                }),
                mem: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                spilled: AtomicU64::new(0),
                freed: Notify::new(),
                completing: AtomicUsize::new(0),
            }),
            spill_lock: Mutex::new(()),
        }
    }

    /// Store `data` at `begin` in `piece` (of `size` bytes). The caller has
    /// checked the bounds. With `wait` false, a piece busy being spilled
    /// yields [`Inserted::Busy`] instead of blocking.
    pub(crate) fn insert(
        &self,
        piece: u32,
        size: u32,
        begin: u32,
        data: &[u8],
        wait: bool,
    ) -> Inserted {
        let end = begin + data.len() as u32;
        loop {
            let slot = {
                let mut idx = lock(&self.shared.index);
                if idx.verified.get(piece as usize) {
                    return Inserted::Duplicate;
                }
                idx.tick += 1;
                let tick = idx.tick;
                let slot = idx
                    .slots
                    .entry(piece)
                    .or_insert_with(|| {
                        Arc::new(Slot {
                            piece,
                            size,
                            state: Mutex::new(SlotState::new()),
                            mem: AtomicUsize::new(0),
                            last_used: AtomicU64::new(0),
                        })
                    })
                    .clone();
                slot.last_used.store(tick, Ordering::Relaxed);
                slot
            };
            let mut st = if wait {
                lock(&slot.state)
            } else {
                match slot.state.try_lock() {
                    Ok(g) => g,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(TryLockError::WouldBlock) => return Inserted::Busy,
                }
            };
            match st.phase {
                Phase::Retired => {
                    // Being removed from the index right now: look again.
                    drop(st);
                    std::thread::yield_now();
                    continue;
                }
                Phase::Completing => return Inserted::Duplicate,
                Phase::Active => {}
            }
            let holes = gaps(&st.blocks, begin, end);
            if holes.is_empty() {
                return Inserted::Duplicate;
            }
            let mut added = 0usize;
            for (s, e) in holes {
                let bytes =
                    Bytes::copy_from_slice(&data[(s - begin) as usize..(e - begin) as usize]);
                added += bytes.len();
                st.blocks.insert(s, Block::Mem(bytes));
            }
            st.covered += added as u32;
            slot.mem.fetch_add(added, Ordering::AcqRel);
            self.shared.add_mem(added);
            if st.covered < slot.size {
                return Inserted::Stored;
            }
            st.phase = Phase::Completing;
            let blocks: Vec<(u32, Block)> = std::mem::take(&mut st.blocks).into_iter().collect();
            let prefix = std::mem::replace(&mut st.prefix, Sha1::new());
            let hashed = std::mem::take(&mut st.hashed);
            let mem = slot.mem.swap(0, Ordering::AcqRel);
            self.shared.completing.fetch_add(mem, Ordering::AcqRel);
            drop(st);
            return Inserted::Complete(CompleteJob {
                shared: self.shared.clone(),
                slot,
                blocks,
                prefix,
                hashed,
                mem,
                done: false,
            });
        }
    }

    /// Notified whenever memory is released (a piece finished, was spilled
    /// or discarded).
    pub(crate) fn freed(&self) -> &Notify {
        &self.shared.freed
    }

    /// Whether the cache holds more than its cap (partial and complete
    /// pieces together).
    pub(crate) fn over_cap(&self) -> bool {
        self.shared.mem.load(Ordering::Acquire) > self.shared.cap
    }

    /// Whether partial pieces alone hold more than the cap: then spilling
    /// is the only way down.
    pub(crate) fn partial_over_cap(&self) -> bool {
        let completing = self.shared.completing.load(Ordering::Acquire);
        self.shared
            .mem
            .load(Ordering::Acquire)
            .saturating_sub(completing)
            > self.shared.cap
    }

    /// Bytes held by complete pieces waiting to be hashed.
    pub(crate) fn completing_bytes(&self) -> usize {
        self.shared.completing.load(Ordering::Acquire)
    }

    /// Spill partial pieces, least recently written first, until partial
    /// pieces alone are back under the cap (memory held by complete pieces
    /// is released by their jobs, not by spilling). `write(piece, begin, bufs)` must write the
    /// concatenation of `bufs` at `begin` in `piece`.
    pub(crate) fn spill<E>(
        &self,
        mut write: impl FnMut(u32, u32, &[&[u8]]) -> Result<(), E>,
    ) -> Result<(), E> {
        let _one_at_a_time = lock(&self.spill_lock);
        while self.partial_over_cap() {
            let victim = {
                let idx = lock(&self.shared.index);
                idx.slots
                    .values()
                    .filter(|s| s.mem.load(Ordering::Acquire) > 0)
                    .min_by_key(|s| s.last_used.load(Ordering::Relaxed))
                    .cloned()
            };
            let Some(slot) = victim else { break };
            let mut st = lock(&slot.state);
            if st.phase != Phase::Active {
                break; // cannot happen (such slots hold no memory); never spin
            }
            st.advance_prefix();
            // Contiguous runs of in-memory blocks, each one vectored write.
            let mut runs: Vec<(u32, Vec<u32>)> = Vec::new();
            let mut run_end = None;
            for (&s, b) in &st.blocks {
                if let Block::Mem(_) = b {
                    match runs.last_mut() {
                        Some((_, keys)) if run_end == Some(s) => keys.push(s),
                        _ => runs.push((s, vec![s])),
                    }
                    run_end = Some(s + b.len());
                } else {
                    run_end = None;
                }
            }
            let mut freed = 0usize;
            for (start, keys) in &runs {
                let bufs: Vec<&[u8]> = keys
                    .iter()
                    .filter_map(|k| match st.blocks.get(k) {
                        Some(Block::Mem(b)) => Some(&b[..]),
                        _ => None,
                    })
                    .collect();
                write(slot.piece, *start, &bufs)?;
                for k in keys {
                    if let Some(b) = st.blocks.get_mut(k) {
                        let n = b.len();
                        *b = Block::Disk(n);
                        freed += n as usize;
                    }
                }
            }
            slot.mem.fetch_sub(freed, Ordering::AcqRel);
            self.shared.sub_mem(freed);
            self.shared
                .spilled
                .fetch_add(freed as u64, Ordering::Relaxed);
            trace!(piece = slot.piece, bytes = freed, "spilled partial piece");
        }
        Ok(())
    }

    /// Forget the partial data of `piece` (if any, and if no job owns it).
    pub(crate) fn discard(&self, piece: u32) {
        let slot = lock(&self.shared.index).slots.get(&piece).cloned();
        let Some(slot) = slot else { return };
        let mut st = lock(&slot.state);
        if st.phase != Phase::Active {
            return;
        }
        st.phase = Phase::Retired;
        st.blocks.clear();
        st.covered = 0;
        let mem = slot.mem.swap(0, Ordering::AcqRel);
        drop(st);
        self.shared.sub_mem(mem);
        remove_slot(&mut lock(&self.shared.index), &slot);
    }

    /// Whether `piece` is verified.
    pub(crate) fn is_verified(&self, piece: u32) -> bool {
        lock(&self.shared.index).verified.get(piece as usize)
    }

    /// A copy of the verified bitfield.
    pub(crate) fn verified(&self) -> Bitfield {
        lock(&self.shared.index).verified.clone()
    }

    /// Replace the verified bitfield (after the initial check).
    pub(crate) fn set_verified(&self, bits: Bitfield) {
        lock(&self.shared.index).verified = bits;
    }

    /// The cache's counters.
    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            mem_bytes: self.shared.mem.load(Ordering::Acquire),
            peak_bytes: self.shared.peak.load(Ordering::Acquire),
            pieces_in_progress: lock(&self.shared.index).slots.len(),
            spilled_bytes: self.shared.spilled.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(r: Inserted) -> CompleteJob {
        match r {
            Inserted::Complete(j) => j,
            other => panic!("expected completion, got {other:?}"),
        }
    }

    #[test]
    fn gaps_cover_exactly_the_missing_bytes() {
        let mut m = BTreeMap::new();
        m.insert(4, Block::Disk(4));
        m.insert(12, Block::Disk(2));
        assert_eq!(gaps(&m, 0, 16), vec![(0, 4), (8, 12), (14, 16)]);
        assert_eq!(gaps(&m, 5, 7), vec![]);
        assert_eq!(gaps(&m, 6, 13), vec![(8, 12)]);
        assert_eq!(gaps(&m, 14, 15), vec![(14, 15)]);
    }

    #[test]
    fn overlapping_blocks_complete_once() {
        let c = WriteCache::new(1 << 20, 4);
        assert!(matches!(
            c.insert(1, 10, 0, &[1; 4], true),
            Inserted::Stored
        ));
        assert!(matches!(
            c.insert(1, 10, 0, &[9; 4], true),
            Inserted::Duplicate
        ));
        assert!(matches!(
            c.insert(1, 10, 2, &[2; 4], true),
            Inserted::Stored
        ));
        assert_eq!(c.stats().mem_bytes, 6);
        let job = complete(c.insert(1, 10, 5, &[3; 5], true));
        let bytes: Vec<u8> = job
            .blocks
            .iter()
            .flat_map(|(_, b)| match b {
                Block::Mem(b) => b.to_vec(),
                Block::Disk(_) => panic!("nothing spilled"),
            })
            .collect();
        assert_eq!(bytes, [1, 1, 1, 1, 2, 2, 3, 3, 3, 3]);
        assert!(matches!(
            c.insert(1, 10, 0, &[1; 4], true),
            Inserted::Duplicate
        ));
        job.finish(true);
        assert!(c.is_verified(1));
        assert_eq!(c.stats().mem_bytes, 0);
        assert!(matches!(
            c.insert(1, 10, 0, &[1; 4], true),
            Inserted::Duplicate
        ));
    }

    #[test]
    fn failed_or_dropped_job_makes_piece_writable_again() {
        let c = WriteCache::new(1 << 20, 4);
        complete(c.insert(0, 4, 0, &[1; 4], true)).finish(false);
        assert!(!c.is_verified(0));
        let job = complete(c.insert(0, 4, 0, &[1; 4], true));
        drop(job);
        assert!(!c.is_verified(0));
        assert_eq!(c.stats().mem_bytes, 0);
        assert_eq!(c.stats().pieces_in_progress, 0);
        assert!(matches!(c.insert(0, 4, 0, &[1; 2], true), Inserted::Stored));
        c.discard(0);
        assert_eq!(
            c.stats(),
            CacheStats {
                peak_bytes: 4,
                ..Default::default()
            }
        );
    }

    #[test]
    fn spill_keeps_memory_under_cap_least_recent_first() {
        let c = WriteCache::new(10, 8);
        for p in 0..4 {
            assert!(matches!(
                c.insert(p, 8, 0, &[p as u8; 4], true),
                Inserted::Stored
            ));
        }
        assert!(c.over_cap());
        let mut written = Vec::new();
        c.spill(|piece, begin, bufs| {
            written.push((piece, begin, bufs.concat()));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(!c.over_cap());
        assert_eq!(written, vec![(0, 0, vec![0; 4]), (1, 0, vec![1; 4])]);
        // A spilled piece completes with its spilled bytes marked on disk.
        let job = complete(c.insert(0, 8, 4, &[7; 4], true));
        assert!(job.any_on_disk());
        job.finish(true);
        assert_eq!(c.stats().mem_bytes, 8);
    }

    #[test]
    fn busy_piece_reports_busy_without_waiting() {
        let c = WriteCache::new(1 << 20, 2);
        assert!(matches!(
            c.insert(0, 8, 0, &[1; 4], false),
            Inserted::Stored
        ));
        let slot = lock(&c.shared.index).slots.get(&0).cloned().unwrap();
        let _held = lock(&slot.state);
        assert!(matches!(c.insert(0, 8, 4, &[1; 4], false), Inserted::Busy));
    }
}
