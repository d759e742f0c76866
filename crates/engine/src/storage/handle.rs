//! An async front for [`Storage`], for a tokio engine.

use super::cache::Inserted;
use super::{CacheStats, CheckReport, Storage, StorageError, WriteOutcome};
use crate::bitfield::Bitfield;
use bytes::Bytes;
use shoal_metainfo::CreateProgress;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A cheaply cloneable async handle on a [`Storage`].
///
/// Nothing blocking ever runs on the caller's (async) thread except brief
/// mutex sections: storing a block that does not complete its piece is done
/// inline (a copy into the write cache); hashing, writing, spilling,
/// reading and checking run on tokio's blocking pool, at most
/// [`super::StorageConfig::blocking_threads`] jobs at a time.
///
/// Cancelling (dropping) a `write_block` future is safe: the work it
/// started (completing a piece) runs to the end, and [`Self::verified`]
/// always tells the truth. Needs a tokio runtime.
#[derive(Debug, Clone)]
pub struct StorageHandle {
    storage: Arc<Storage>,
    permits: Arc<Semaphore>,
}

fn task_error(e: impl std::fmt::Display) -> StorageError {
    StorageError::Task(e.to_string())
}

impl StorageHandle {
    /// Wrap a storage.
    pub fn new(storage: Storage) -> Self {
        Self::from_arc(Arc::new(storage))
    }

    /// Wrap a shared storage.
    pub fn from_arc(storage: Arc<Storage>) -> Self {
        let permits = Arc::new(Semaphore::new(storage.config.blocking_threads.max(1)));
        StorageHandle { storage, permits }
    }

    /// The underlying synchronous storage.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// Run `f` on the blocking pool. The caller's cancellation does not
    /// stop it once started.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Storage) -> Result<T, StorageError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(task_error)?;
        let storage = self.storage.clone();
        tokio::task::spawn_blocking(move || f(&storage))
            .await
            .map_err(task_error)?
    }

    /// Run `f` on the blocking pool from a detached task, so it runs even
    /// if the caller stops waiting before a permit is free.
    async fn detached<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Storage) -> Result<T, StorageError> + Send + 'static,
    {
        let storage = self.storage.clone();
        let permits = self.permits.clone();
        tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(task_error)?;
            tokio::task::spawn_blocking(move || f(&storage))
                .await
                .map_err(task_error)?
        })
        .await
        .map_err(task_error)?
    }

    /// [`Storage::check`] on the blocking pool (and the rayon pool).
    pub async fn check(&self, progress: CreateProgress) -> Result<CheckReport, StorageError> {
        self.blocking(move |s| s.check(&progress)).await
    }

    /// [`Storage::write_block`]: returns at once unless the block completes
    /// its piece (then after hashing and writing it) or the write cache is
    /// over its cap (then after writing partial pieces out, or waiting for
    /// complete pieces to be hashed: backpressure).
    ///
    /// Memory stays within about `write_cache_bytes` + one block per
    /// concurrent caller + the pieces being hashed, provided the caller
    /// bounds its concurrency (e.g. one `write_block` in flight per peer,
    /// plus the completing blocks it spawns).
    pub async fn write_block(
        &self,
        piece: u32,
        begin: u32,
        data: Bytes,
    ) -> Result<WriteOutcome, StorageError> {
        let s = &self.storage;
        let size = s.piece_bounds(piece, begin, data.len() as u64)?;
        match s.cache.insert(piece, size, begin, &data, false) {
            Inserted::Stored => {
                self.relieve_memory().await?;
                Ok(WriteOutcome::Stored)
            }
            Inserted::Duplicate => Ok(WriteOutcome::Duplicate),
            Inserted::Complete(job) => self.detached(move |s| s.complete(job)).await,
            // The piece is being spilled: wait for it off this thread.
            Inserted::Busy => {
                self.detached(move |s| s.write_block(piece, begin, &data))
                    .await
            }
        }
    }

    /// Back under the write cache's cap before returning: spill partial
    /// pieces, or, when the memory is held by complete pieces waiting to be
    /// hashed, wait for them. This is the backpressure that keeps memory
    /// bounded when hashing is slower than the network: the peer's task
    /// stops reading its socket meanwhile.
    async fn relieve_memory(&self) -> Result<(), StorageError> {
        let cache = &self.storage.cache;
        loop {
            if cache.partial_over_cap() {
                self.blocking(|s| s.spill()).await?;
                continue;
            }
            let freed = cache.freed().notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if !cache.over_cap() || cache.completing_bytes() == 0 {
                return Ok(());
            }
            freed.await;
        }
    }

    /// [`Storage::read_block`] on the blocking pool.
    pub async fn read_block(
        &self,
        piece: u32,
        begin: u32,
        len: u32,
    ) -> Result<Bytes, StorageError> {
        // Refuse bad requests without a thread hop.
        if len > self.storage.config.max_read_len {
            return Err(StorageError::ReadTooLong {
                len,
                max: self.storage.config.max_read_len,
            });
        }
        self.storage.piece_bounds(piece, begin, u64::from(len))?;
        if !self.storage.has_piece(piece) {
            return Err(StorageError::NotVerified(piece));
        }
        self.blocking(move |s| s.read_block(piece, begin, len))
            .await
    }

    /// [`Storage::hash_piece`] on the blocking pool.
    pub async fn hash_piece(&self, piece: u32) -> Result<bool, StorageError> {
        self.blocking(move |s| s.hash_piece(piece)).await
    }

    /// [`Storage::flush`] on the blocking pool.
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.blocking(|s| s.flush()).await
    }

    /// [`Storage::save_resume`] on the blocking pool.
    pub async fn save_resume(&self) -> Result<(), StorageError> {
        self.detached(|s| s.save_resume()).await
    }

    /// [`Storage::discard_piece`] on the blocking pool (it may wait for a
    /// spill of that piece).
    pub async fn discard_piece(&self, piece: u32) -> Result<(), StorageError> {
        self.blocking(move |s| {
            s.discard_piece(piece);
            Ok(())
        })
        .await
    }

    /// [`Storage::verified`] (cheap, inline).
    pub fn verified(&self) -> Bitfield {
        self.storage.verified()
    }

    /// [`Storage::has_piece`] (cheap, inline).
    pub fn has_piece(&self, piece: u32) -> bool {
        self.storage.has_piece(piece)
    }

    /// [`Storage::cache_stats`] (cheap, inline).
    pub fn cache_stats(&self) -> CacheStats {
        self.storage.cache_stats()
    }
}
