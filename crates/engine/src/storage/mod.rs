//! Storage of one torrent's data under a download directory.
//!
//! [`Storage`] maps pieces and blocks onto the torrent's files (blocks may
//! span any number of files), keeps received blocks in a bounded write
//! cache until their piece is complete, verifies each piece against its
//! SHA-1 (v1 and hybrid torrents) or its file's merkle tree (v2-only, see
//! [`merkle_verify`]) before it touches the disk, serves verified blocks
//! for uploading, and reads and writes the [resume data](crate::resume).
//! BEP 47 padding files are never created and read as zeros; symlink
//! entries and the executable bit are applied as [`attrs`] says.
//!
//! * **Layout**: a multi-file torrent lives in `DIR/<name>/...`, a single
//!   file at `DIR/<name>` (as [`shoal_metainfo::content_base`]).
//! * **Safety**: nothing is created or opened outside `DIR`, and no symlink
//!   below `DIR` is ever followed (see below).
//! * **Files** are opened lazily through a bounded cache of handles
//!   ([`StorageConfig::max_open_files`]), so a torrent of 100,000 files
//!   does not exhaust descriptors. A file is created with its final length
//!   (sparse) when first written; zero-length files are created by
//!   [`Storage::open`].
//! * **Write cache**: blocks are copied into memory; a complete piece is
//!   hashed from memory and written with vectored positional writes, or
//!   dropped if its hash is wrong ([`WriteOutcome::Failed`]). When the
//!   blocks held exceed [`StorageConfig::write_cache_bytes`], the least
//!   recently written partial pieces are written out early and verified by
//!   reading back once complete: memory stays flat however large the
//!   torrent.
//! * **Async**: every method of [`Storage`] is synchronous and may block on
//!   disk or CPU. [`StorageHandle`] wraps it for a tokio engine: blocks are
//!   stored inline (no thread hop), and hashing, writing, reading and
//!   checking run on the blocking pool, at most
//!   [`StorageConfig::blocking_threads`] at a time.
//! * **Crash safety**: a piece is marked verified only after its data has
//!   been written; [`Storage::save_resume`] snapshots the verified pieces,
//!   `fsync`s every written file, and only then writes the resume file
//!   atomically. After a `kill -9` the resume file never claims a piece
//!   whose data is not on disk; pieces completed since the last save are
//!   found again by the recheck of the files whose mtime changed.
//!
//! # Never outside the download directory
//!
//! Metainfo parsing already rejects `..`, `.`, separators and NUL bytes in
//! names; storage checks every component again anyway. That stops a
//! hostile *torrent*. A hostile or careless *file system* — a symlink
//! planted in the download directory, say `DIR/name -> /home/user` — is
//! stopped by never resolving a path as a whole:
//!
//! * `DIR` itself is opened once (following symlinks: it is the user's own
//!   choice) and kept open as a directory descriptor.
//! * Every path below it is walked one component at a time with
//!   `openat(parent, component, O_DIRECTORY | O_NOFOLLOW)`, creating
//!   missing directories with `mkdirat` only when writing. A symlink fails
//!   to open and is reported as [`StorageError::Symlink`].
//! * Files are opened with `openat(dir, name, O_NOFOLLOW | O_NONBLOCK)`
//!   and `fstat`ed: anything but a regular file (FIFO, device, directory)
//!   is refused, and `O_NONBLOCK` keeps a planted FIFO from hanging us.
//!
//! Every step is relative to a descriptor itself opened without following
//! links, so there is no window between a check and a use (as there would
//! be with `symlink_metadata` then `open`): swapping a directory for a
//! symlink mid-way makes the next `openat` fail instead of escaping.
//! Symlinks are refused even when they point back inside `DIR`. Hard links
//! are not refused: making one needs write access to its target, and its
//! name is inside `DIR`. The resume folder `DIR/.shoal` is opened the same
//! way.

mod attrs;
mod cache;
mod check;
mod direct;
mod error;
pub(crate) mod files;
mod handle;
mod merkle_verify;
mod vectored;

pub use cache::CacheStats;
pub use error::StorageError;
pub use handle::StorageHandle;

use crate::bitfield::Bitfield;
use crate::resume::{self, FileState, ResumeData};
use bytes::Bytes;
use cache::{Block, CompleteJob, Inserted, WriteCache};
use files::{lock, Access, Dir, FileSet};
use sha1::{Digest, Sha1};
use shoal_metainfo::{Layout, Torrent};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::debug;
use vectored::{pwrite_all, Cursor};

/// Tuning of a [`Storage`].
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Most file handles kept open at once (least recently used are closed).
    pub max_open_files: usize,
    /// Most block bytes held in memory for pieces in progress; beyond it,
    /// partial pieces are written to disk early.
    pub write_cache_bytes: usize,
    /// Longest block [`Storage::read_block`] serves (a peer asking for more
    /// is misbehaving).
    pub max_read_len: u32,
    /// Most blocking jobs (hashing, writing, reading) a [`StorageHandle`]
    /// runs at once.
    pub blocking_threads: usize,
    /// When verified data is written past the page cache (`O_DIRECT`,
    /// where the file system allows it: the aligned middle of each write
    /// goes straight to the device).
    pub direct_io: DirectIo,
}

/// When [`Storage`] writes verified pieces past the page cache.
///
/// A direct write costs the kernel less than filling fresh page-cache
/// pages (the larger cost of a fast download on a VM) and evicts nothing
/// worth keeping, but a piece written that way must be read from the
/// device when a peer asks for it. In a swarm a fresh piece is exactly
/// what the other leechers ask for next (it is rare), so there the page
/// cache wins; downloading from seeds alone, direct writes do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirectIo {
    /// Every write goes through the page cache.
    Never,
    /// Direct writes wherever the file system allows them.
    Always,
    /// Direct writes only while no connected peer may ask for fresh pieces
    /// (the driver says which with [`Storage::set_peers_may_ask`]; until
    /// it does, writes go through the page cache).
    #[default]
    Auto,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            max_open_files: 256,
            write_cache_bytes: 32 << 20,
            max_read_len: 128 << 10,
            blocking_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(2),
            direct_io: DirectIo::Auto,
        }
    }
}

/// Most direct-write handles a torrent keeps open (on top of its
/// [`StorageConfig::max_open_files`]).
const MAX_DIRECT_HANDLES: usize = 32;

/// A direct-write handle and the buffered handle it was reopened from
/// (while the file set hands out that same handle, both name one inode).
#[derive(Debug)]
struct DirectHandle {
    file: Arc<File>,
    from: std::sync::Weak<File>,
}

/// Write locks, shared by files whose indexes are equal modulo this.
const WRITE_STRIPES: usize = 64;

/// What happened to a block passed to [`Storage::write_block`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored; its piece is not complete yet.
    Stored,
    /// Nothing new: the bytes were already present, the piece is being
    /// completed by another block, or it is already verified (endgame
    /// duplicates end up here).
    Duplicate,
    /// The block completed its piece, which matched its hash and is now
    /// written to disk: announce it with `have`.
    Verified,
    /// The block completed its piece, which did not match its hash. Its
    /// data was discarded and the piece may be written again: re-download
    /// it and suspect the peers that sent it.
    Failed,
}

/// What the resume file said during [`Storage::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeStatus {
    /// There was none: every piece was checked.
    NotFound,
    /// It was unreadable, corrupt or for another torrent (the reason):
    /// ignored, every piece was checked.
    Invalid(String),
    /// It matched every file: its bitfield was trusted, nothing hashed.
    Matched,
    /// This many files changed size or mtime: their pieces were checked,
    /// the rest of the bitfield trusted.
    FilesChanged(usize),
}

/// Result of [`Storage::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// How the resume file was used.
    pub resume: ResumeStatus,
    /// Pieces verified on disk after the check.
    pub verified_pieces: usize,
    /// Pieces that had to be checked against the disk.
    pub rechecked_pieces: usize,
    /// Bytes read and hashed for the check.
    pub hashed_bytes: u64,
}

/// The data of one torrent under a download directory. See the module
/// documentation. All methods take `&self` and are safe to call from many
/// threads at once.
#[derive(Debug)]
pub struct Storage {
    torrent: Arc<Torrent>,
    dir: PathBuf,
    files: FileSet,
    cache: WriteCache,
    config: StorageConfig,
    hashed_bytes: AtomicU64,
    /// Bytes of completed pieces read back from disk to be hashed.
    read_back: AtomicU64,
    /// See [`Storage::set_peers_may_ask`].
    peers_may_ask: AtomicBool,
    resume_lock: Mutex<()>,
    /// Writers to one file take turns (file index modulo the stripe
    /// count): the kernel serializes writes to an inode anyway, and a
    /// writer waiting here sleeps where one waiting on the inode lock
    /// spins (a seventh of a download's CPU was that spinning).
    write_stripes: Box<[Mutex<()>]>,
    /// Direct-write handles by file index (`None`: the file system
    /// refuses direct writes).
    direct: Mutex<HashMap<usize, Option<DirectHandle>>>,
    /// File states last recorded (by the check or a resume save); empty
    /// until then.
    file_states: Mutex<Vec<Option<FileState>>>,
}

impl Storage {
    /// Prepare storage for `torrent` under download directory `dir`
    /// (created if needed). Checks every path component, refuses an
    /// existing content folder that is a symlink, and creates zero-length
    /// files. Opens no other file and hashes nothing: call
    /// [`Storage::check`] next.
    pub fn open(
        torrent: Arc<Torrent>,
        dir: &Path,
        config: StorageConfig,
    ) -> Result<Storage, StorageError> {
        let layout = &torrent.layout;
        let hashes_ok = if layout.version.has_v1() {
            torrent.piece_hashes.len() == layout.piece_count as usize
        } else {
            merkle_verify::layers_complete(layout)
        };
        if !hashes_ok || layout.piece_length > u64::from(u32::MAX) {
            return Err(StorageError::InvalidTorrent(format!(
                "{} hashes for {} pieces of {} bytes",
                torrent.piece_hashes.len(),
                layout.piece_count,
                layout.piece_length
            )));
        }
        files::check_component(&torrent.name)?;
        let root = Dir::open_root(dir)?;
        let files = FileSet::new(root, torrent.clone(), config.max_open_files)?;
        files.create_empty_files()?;
        attrs::create_symlinks(&files, layout);
        debug!(info_hash = %torrent.info_hash, dir = %dir.display(), files = layout.files.len(),
            pieces = layout.piece_count, "storage opened");
        Ok(Storage {
            cache: WriteCache::new(config.write_cache_bytes, layout.piece_count),
            torrent,
            dir: dir.to_path_buf(),
            files,
            config,
            hashed_bytes: AtomicU64::new(0),
            read_back: AtomicU64::new(0),
            peers_may_ask: AtomicBool::new(true),
            resume_lock: Mutex::new(()),
            write_stripes: (0..WRITE_STRIPES).map(|_| Mutex::new(())).collect(),
            direct: Mutex::new(HashMap::new()),
            file_states: Mutex::new(Vec::new()),
        })
    }

    /// The torrent.
    pub fn torrent(&self) -> &Arc<Torrent> {
        &self.torrent
    }

    /// The download directory.
    pub fn download_dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    fn layout(&self) -> &Layout {
        &self.torrent.layout
    }

    /// Check that `len` bytes at `begin` lie within `piece`; returns the
    /// piece's size.
    fn piece_bounds(&self, piece: u32, begin: u32, len: u64) -> Result<u32, StorageError> {
        let count = self.layout().piece_count;
        if piece >= count {
            return Err(StorageError::PieceOutOfRange { piece, count });
        }
        let piece_size = self.layout().piece_size(piece);
        if len == 0 || u64::from(begin) + len > piece_size {
            return Err(StorageError::BlockOutOfBounds {
                piece,
                begin,
                len,
                piece_size,
            });
        }
        // piece_length fits in u32 (checked in `open`).
        Ok(piece_size as u32)
    }

    /// Store a received block. The piece must exist and the block lie
    /// within it (else a peer error). When the block completes its piece,
    /// the piece is hashed and, if it matches, written before this returns
    /// [`WriteOutcome::Verified`]. Blocks of verified pieces are ignored.
    pub fn write_block(
        &self,
        piece: u32,
        begin: u32,
        data: &[u8],
    ) -> Result<WriteOutcome, StorageError> {
        let size = self.piece_bounds(piece, begin, data.len() as u64)?;
        let inserted = self.cache.insert(piece, size, begin, data, true);
        self.after_insert(inserted)
    }

    fn after_insert(&self, inserted: Inserted) -> Result<WriteOutcome, StorageError> {
        match inserted {
            Inserted::Stored => {
                self.spill()?;
                Ok(WriteOutcome::Stored)
            }
            Inserted::Duplicate | Inserted::Busy => Ok(WriteOutcome::Duplicate),
            Inserted::Complete(job) => self.complete(job),
        }
    }

    /// Write partial pieces out while the cache is over its cap.
    fn spill(&self) -> Result<(), StorageError> {
        if !self.cache.partial_over_cap() {
            return Ok(());
        }
        self.cache.spill(|piece, begin, bufs| {
            self.write_at(self.layout().piece_offset(piece) + u64::from(begin), bufs)
        })
    }

    /// Hash a complete piece and record the result. From memory, when no
    /// block was spilled; else the running hash of the spilled prefix goes
    /// on with the blocks after it, reading back from disk only the blocks
    /// spilled ahead of a gap. A piece that matches is written (its blocks
    /// still in memory).
    fn complete(&self, job: CompleteJob) -> Result<WriteOutcome, StorageError> {
        let piece = job.piece();
        let offset = self.layout().piece_offset(piece);
        let expected = self.torrent.piece_hashes.get(piece as usize);
        let ok = if !self.layout().version.has_v1() {
            self.complete_v2(offset, &job)?
        } else {
            // A piece never spilled has an empty prefix and every block in
            // memory; a spilled one continues the hash of its prefix.
            let (mut h, hashed) = job.hashed_prefix();
            let spilled_ahead = job
                .blocks
                .iter()
                .any(|(begin, b)| *begin >= hashed && matches!(b, Block::Disk(_)));
            if !spilled_ahead {
                // Every block after the prefix is in memory.
                let mut len = 0u64;
                for (_, block) in job.blocks.iter().filter(|(begin, _)| *begin >= hashed) {
                    if let Block::Mem(b) = block {
                        h.update(b);
                        len += b.len() as u64;
                    }
                }
                self.hashed_bytes.fetch_add(len, Ordering::Relaxed);
                let digest: [u8; 20] = h.finalize().into();
                let ok = expected == Some(&digest);
                if ok {
                    self.write_mem_blocks(offset, &job)?;
                }
                ok
            } else {
                // Write what is still in memory, then read back what
                // follows the prefix.
                self.write_mem_blocks(offset, &job)?;
                let size = self.layout().piece_size(piece);
                let mut rest = vec![0u8; (size - u64::from(hashed)) as usize];
                match self.read_at(offset + u64::from(hashed), &mut rest) {
                    Ok(()) => {
                        self.read_back
                            .fetch_add(rest.len() as u64, Ordering::Relaxed);
                        self.hashed_bytes
                            .fetch_add(rest.len() as u64, Ordering::Relaxed);
                        h.update(&rest);
                        let digest: [u8; 20] = h.finalize().into();
                        expected == Some(&digest)
                    }
                    Err(StorageError::Missing(_)) => false,
                    Err(e) => return Err(e),
                }
            }
        };
        job.finish(ok);
        if ok {
            debug!(piece, "piece verified");
            Ok(WriteOutcome::Verified)
        } else {
            debug!(piece, "piece failed its hash check");
            Ok(WriteOutcome::Failed)
        }
    }

    /// Check a complete piece of a v2-only torrent against its merkle tree
    /// (see [`merkle_verify`]); a piece that matches is written.
    fn complete_v2(&self, offset: u64, job: &CompleteJob) -> Result<bool, StorageError> {
        let piece = job.piece();
        let size = self.layout().piece_size(piece) as usize;
        let data = if job.any_on_disk() {
            self.write_mem_blocks(offset, job)?;
            let mut buf = vec![0u8; size];
            match self.read_at(offset, &mut buf) {
                Ok(()) => {}
                Err(StorageError::Missing(_)) => return Ok(false),
                Err(e) => return Err(e),
            }
            self.read_back.fetch_add(size as u64, Ordering::Relaxed);
            buf
        } else {
            let mut buf = Vec::with_capacity(size);
            for (_, block) in &job.blocks {
                if let Block::Mem(b) = block {
                    buf.extend_from_slice(b);
                }
            }
            buf
        };
        let ok = self.matches(piece, &data);
        if ok && !job.any_on_disk() {
            self.write_mem_blocks(offset, job)?;
        }
        Ok(ok)
    }

    /// Write the blocks of `job` still in memory, each contiguous run with
    /// one vectored write, at the piece's stream offset `offset`.
    fn write_mem_blocks(&self, offset: u64, job: &CompleteJob) -> Result<(), StorageError> {
        let mut run: Vec<&[u8]> = Vec::new();
        let mut run_start = 0u32;
        for (begin, block) in &job.blocks {
            match block {
                Block::Mem(b) => {
                    if run.is_empty() {
                        run_start = *begin;
                    }
                    run.push(&b[..]);
                }
                Block::Disk(_) if !run.is_empty() => {
                    self.write_at(offset + u64::from(run_start), &run)?;
                    run.clear();
                }
                Block::Disk(_) => {}
            }
        }
        if !run.is_empty() {
            self.write_at(offset + u64::from(run_start), &run)?;
        }
        Ok(())
    }

    /// Write the concatenation of `bufs` at stream offset `offset`, across
    /// file boundaries.
    fn write_at(&self, offset: u64, bufs: &[&[u8]]) -> Result<(), StorageError> {
        let total: u64 = bufs.iter().map(|b| b.len() as u64).sum();
        let mut cursor = Cursor::new(bufs);
        for span in self.layout().spans(offset, total) {
            let parts = cursor.take(span.len as usize);
            if self.layout().files[span.file_index].is_padding() {
                continue; // BEP 47: never on disk
            }
            let file = self.files.get(span.file_index, Access::Write)?;
            let turn = lock(&self.write_stripes[span.file_index % WRITE_STRIPES]);
            let written = self.write_span(span.file_index, &file, &parts, span.file_offset);
            drop(turn);
            written.map_err(|e| StorageError::io(self.files.display_path(span.file_index), e))?;
            self.files.mark_dirty(span.file_index);
        }
        Ok(())
    }

    /// Write `parts` at `offset` of file `index`: the aligned middle
    /// directly (see [`direct`]) when allowed, the rest through the page
    /// cache.
    fn write_span(
        &self,
        index: usize,
        file: &Arc<File>,
        parts: &[&[u8]],
        offset: u64,
    ) -> io::Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let align = direct::ALIGN as u64;
        let head = ((align - offset % align) % align).min(len as u64) as usize;
        let body = (len - head) / direct::ALIGN * direct::ALIGN;
        let handle = if body > 0 && self.writes_direct() {
            self.direct_handle(index, file)
        } else {
            None
        };
        let Some(handle) = handle else {
            return pwrite_all(file, parts, offset);
        };
        let mut cursor = Cursor::new(parts);
        let head_parts = cursor.take(head);
        let body_parts = cursor.take(body);
        let tail_parts = cursor.take(len - head - body);
        pwrite_all(file, &head_parts, offset)?;
        let body_at = offset + head as u64;
        if let Err(e) = direct::write_aligned(&handle, &body_parts, body_at) {
            if !direct::is_refusal(&e) {
                return Err(e);
            }
            // The device wants a larger alignment, or no direct I/O at all.
            debug!(error = %e, "direct writes refused: using the page cache");
            lock(&self.direct).insert(index, None);
            pwrite_all(file, &body_parts, body_at)?;
        }
        pwrite_all(file, &tail_parts, body_at + body as u64)
    }

    /// Whether verified data goes past the page cache now.
    fn writes_direct(&self) -> bool {
        match self.config.direct_io {
            DirectIo::Never => false,
            DirectIo::Always => true,
            DirectIo::Auto => !self.peers_may_ask.load(Ordering::Relaxed),
        }
    }

    /// Tell [`DirectIo::Auto`] whether some connected peer lacks pieces
    /// (and so may soon ask for the ones written now): while one does,
    /// writes go through the page cache.
    pub fn set_peers_may_ask(&self, may_ask: bool) {
        self.peers_may_ask.store(may_ask, Ordering::Relaxed);
    }

    /// The direct-write handle of file `index`, opened on first use and
    /// reopened when the file set reopened the file (it may have been
    /// replaced behind our back since).
    fn direct_handle(&self, index: usize, file: &Arc<File>) -> Option<Arc<File>> {
        let mut map = lock(&self.direct);
        match map.get(&index) {
            Some(None) => return None,
            Some(Some(h)) if std::ptr::eq(h.from.as_ptr(), Arc::as_ptr(file)) => {
                return Some(h.file.clone())
            }
            _ => {}
        }
        if map.len() >= MAX_DIRECT_HANDLES {
            map.retain(|_, h| h.is_none());
        }
        match direct::reopen_direct(file) {
            Ok(f) => {
                let f = Arc::new(f);
                map.insert(
                    index,
                    Some(DirectHandle {
                        file: f.clone(),
                        from: Arc::downgrade(file),
                    }),
                );
                Some(f)
            }
            Err(e) => {
                // Out of descriptors and the like: try again next time.
                if direct::is_refusal(&e) {
                    map.insert(index, None);
                }
                None
            }
        }
    }

    /// Fill `buf` from stream offset `offset`, across file boundaries.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let mut filled = 0usize;
        for span in self.layout().spans(offset, buf.len() as u64) {
            let dst = &mut buf[filled..filled + span.len as usize];
            if self.layout().files[span.file_index].is_padding() {
                dst.fill(0); // BEP 47: zeros, never on disk
                filled += span.len as usize;
                continue;
            }
            let file = self.files.get(span.file_index, Access::Read)?;
            file.read_exact_at(dst, span.file_offset).map_err(|e| {
                let path = self.files.display_path(span.file_index);
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    StorageError::Missing(path)
                } else {
                    StorageError::io(path, e)
                }
            })?;
            filled += span.len as usize;
        }
        if filled != buf.len() {
            return Err(StorageError::Missing(self.dir.clone()));
        }
        Ok(())
    }

    /// Read a block of a verified piece, for uploading. Fails (a peer
    /// error) if the piece is out of range or not verified, or the block
    /// is empty, longer than [`StorageConfig::max_read_len`] or not within
    /// the piece.
    pub fn read_block(&self, piece: u32, begin: u32, len: u32) -> Result<Bytes, StorageError> {
        if len > self.config.max_read_len {
            return Err(StorageError::ReadTooLong {
                len,
                max: self.config.max_read_len,
            });
        }
        self.piece_bounds(piece, begin, u64::from(len))?;
        if !self.cache.is_verified(piece) {
            return Err(StorageError::NotVerified(piece));
        }
        let mut buf = vec![0u8; len as usize];
        self.read_at(
            self.layout().piece_offset(piece) + u64::from(begin),
            &mut buf,
        )?;
        Ok(Bytes::from(buf))
    }

    /// Whether the whole `data` of `piece` matches its hash: SHA-1 for v1
    /// and hybrid torrents, the merkle tree for v2-only ones.
    fn matches(&self, piece: u32, data: &[u8]) -> bool {
        self.hashed_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if !self.layout().version.has_v1() {
            return merkle_verify::piece_matches(self.layout(), piece, data);
        }
        let digest: [u8; 20] = Sha1::digest(data).into();
        self.torrent.piece_hashes.get(piece as usize) == Some(&digest)
    }

    fn hash_from_disk(&self, piece: u32) -> Result<bool, StorageError> {
        let mut buf = vec![0u8; self.layout().piece_size(piece) as usize];
        match self.read_at(self.layout().piece_offset(piece), &mut buf) {
            Ok(()) => Ok(self.matches(piece, &buf)),
            Err(StorageError::Missing(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Read `piece` from disk and compare it with its hash (a missing or
    /// short file makes it `false`). Does not change the verified set.
    pub fn hash_piece(&self, piece: u32) -> Result<bool, StorageError> {
        let count = self.layout().piece_count;
        if piece >= count {
            return Err(StorageError::PieceOutOfRange { piece, count });
        }
        self.hash_from_disk(piece)
    }

    /// Forget the blocks received so far for `piece` (e.g. after banning
    /// the peer that sent them). No effect on a piece being completed.
    pub fn discard_piece(&self, piece: u32) {
        self.cache.discard(piece);
    }

    /// The pieces verified on disk.
    pub fn verified(&self) -> Bitfield {
        self.cache.verified()
    }

    /// Whether `piece` is verified on disk.
    pub fn has_piece(&self, piece: u32) -> bool {
        self.cache.is_verified(piece)
    }

    /// Counters of the write cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Bytes of completed pieces read back from disk to be hashed: only
    /// blocks spilled ahead of a gap in their piece (see [`cache`]).
    pub fn read_back_bytes(&self) -> u64 {
        self.read_back.load(Ordering::Relaxed)
    }

    /// Bytes hashed so far (initial check, pieces completed, read-backs).
    pub fn hashed_bytes(&self) -> u64 {
        self.hashed_bytes.load(Ordering::Relaxed)
    }

    /// File handles currently open in the cache.
    pub fn open_files(&self) -> usize {
        self.files.open_count()
    }

    /// `fsync` every file written since the last flush.
    pub fn flush(&self) -> Result<(), StorageError> {
        let n = self.files.sync_dirty()?;
        debug!(files = n, "flushed");
        Ok(())
    }

    /// Flush, then write the resume file atomically. The bitfield saved is
    /// taken *before* the flush, so every piece it marks is on disk.
    pub fn save_resume(&self) -> Result<(), StorageError> {
        let _one_at_a_time = files::lock(&self.resume_lock);
        let verified = self.verified();
        self.flush()?;
        let data = ResumeData {
            info_hash: self.torrent.info_hash,
            verified,
            files: self.file_states(),
        };
        resume::save_in(self.files.root(), &data)
    }

    /// The state of every file, stat-ing again only those written since
    /// the last call: a torrent of 100,000 files can save resume data often.
    /// A file changed by someone else meanwhile keeps its old state, so a
    /// restart sees the difference and rechecks it.
    fn file_states(&self) -> Vec<Option<FileState>> {
        let mut known = files::lock(&self.file_states);
        if known.len() != self.files.len() {
            *known = vec![None; self.files.len()];
            for i in 0..self.files.len() {
                self.files.take_touched(i);
            }
            for (i, s) in known.iter_mut().enumerate() {
                *s = self.files.state(i);
            }
        } else {
            for (i, s) in known.iter_mut().enumerate() {
                if self.files.take_touched(i) {
                    *s = self.files.state(i);
                }
            }
        }
        known.clone()
    }
}

#[cfg(test)]
mod tests;
