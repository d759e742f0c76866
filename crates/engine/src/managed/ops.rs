//! The operations an application calls on a [`Session`]'s torrents.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use shoal_metainfo::{InfoHash, Magnet, Torrent};
use shoal_swarm::queue::move_in_queue;
use tokio::sync::broadcast;

use super::info::{FileInfo, PeerInfo, PieceMap, SessionStats, TorrentSummary, TrackerInfo};
use super::types::{
    AddOptions, EventKind, FilePriority, QueueMove, SessionEvent, SessionSettings, TorrentId,
    TorrentSource, TorrentUpdate,
};
use super::{data, finish_stop, stats, Phase, Record, Registry};
use crate::{EngineError, Session};

/// Largest `.torrent` file read from disk.
const MAX_TORRENT_FILE: u64 = 64 << 20;

impl Session {
    fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Add a torrent to the session's list (see the [crate
    /// documentation](crate)). Returns at once with its id; it is then
    /// checked and started in the background (unless `opts.paused`, or the
    /// queue is full), and events report its progress. A torrent already
    /// in the session is refused ([`EngineError::Duplicate`]; see
    /// [`Session::find`]).
    pub async fn add(
        &self,
        source: TorrentSource,
        opts: AddOptions,
    ) -> Result<TorrentId, EngineError> {
        let (torrent, magnet) = match source {
            TorrentSource::Bytes(b) => (Some(parse(&b)?), None),
            TorrentSource::File(path) => {
                let len = tokio::fs::metadata(&path)
                    .await
                    .map_err(|e| EngineError::InvalidTorrent(format!("{}: {e}", path.display())))?
                    .len();
                if len > MAX_TORRENT_FILE {
                    return Err(EngineError::InvalidTorrent(format!(
                        "{} is {len} bytes, larger than any torrent file",
                        path.display()
                    )));
                }
                let b = tokio::fs::read(&path)
                    .await
                    .map_err(|e| EngineError::InvalidTorrent(format!("{}: {e}", path.display())))?;
                (Some(parse(&b)?), None)
            }
            TorrentSource::Magnet(uri) => (
                None,
                Some(Magnet::parse(&uri).map_err(|e| EngineError::InvalidTorrent(e.to_string()))?),
            ),
            TorrentSource::Torrent(t) => (Some(*t), None),
        };
        if let Some(t) = &torrent {
            if u32::try_from(t.layout.piece_length).is_err() {
                return Err(EngineError::InvalidTorrent(
                    "piece length over 4 GiB".into(),
                ));
            }
        }
        let info_hash = match (&torrent, &magnet) {
            (Some(t), _) => t.info_hash,
            (None, Some(m)) => m.info_hash,
            (None, None) => return Err(EngineError::InvalidTorrent("no torrent".into())),
        };
        let reg = self.registry();
        let events = {
            let mut inner = reg.lock();
            if inner.closing {
                return Err(EngineError::ShuttingDown);
            }
            if inner.torrents.values().any(|r| r.info_hash == info_hash) {
                return Err(EngineError::Duplicate(info_hash.to_hex()));
            }
            let id = TorrentId(inner.next_id);
            inner.next_id += 1;
            let queue_position = inner.torrents.len() as u32;
            let name = magnet
                .as_ref()
                .and_then(|m| m.display_name.clone())
                .unwrap_or_else(|| info_hash.to_hex());
            let mut rec = Record {
                id,
                info_hash,
                name,
                torrent: None,
                magnet,
                dir: opts
                    .download_dir
                    .unwrap_or_else(|| inner.settings.download_dir.clone()),
                peers: opts.peers,
                use_trackers: opts.use_trackers,
                settings: super::types::TorrentSettings {
                    sequential: opts.sequential,
                    labels: opts.labels,
                    ..Default::default()
                },
                files: Vec::new(),
                files_wanted: opts.files_wanted,
                paused: opts.paused,
                forced: false,
                queue_position,
                phase: Phase::Stopped,
                gen: 0,
                error: None,
                recheck: false,
                done: false,
                past_downloaded: 0,
                past_uploaded: 0,
                seen_uploaded: 0,
                last_upload: Instant::now(),
                have: None,
                added_at: SystemTime::now(),
                done_at: None,
                seconds_downloading: Default::default(),
                seconds_seeding: Default::default(),
                last_status: super::types::TorrentStatus::Queued,
                check_progress: Default::default(),
            };
            if let Some(t) = torrent {
                // Until it runs, show what its resume data says it has.
                rec.have = crate::resume::load(&rec.dir, &t)
                    .ok()
                    .flatten()
                    .map(|r| r.verified);
                rec.set_torrent(Arc::new(t));
            }
            rec.last_status = rec.status();
            let mut events = vec![rec.event(EventKind::Added)];
            events.push(rec.event(EventKind::StateChanged(rec.last_status)));
            inner.torrents.insert(id, rec);
            (id, events)
        };
        let (id, events) = events;
        reg.send(events);
        reg.poke.notify_one();
        Ok(id)
    }

    /// Every torrent's id and info-hash, by id.
    pub fn ids(&self) -> Vec<(TorrentId, InfoHash)> {
        let inner = self.registry().lock();
        inner
            .torrents
            .values()
            .map(|r| (r.id, r.info_hash))
            .collect()
    }

    /// The id of the torrent with this info-hash.
    pub fn find(&self, info_hash: &InfoHash) -> Option<TorrentId> {
        let inner = self.registry().lock();
        inner
            .torrents
            .values()
            .find(|r| r.info_hash == *info_hash)
            .map(|r| r.id)
    }

    /// Every torrent's summary, by id.
    pub fn list(&self) -> Vec<TorrentSummary> {
        let inner = self.registry().lock();
        inner.torrents.values().map(stats::summary).collect()
    }

    fn with<T>(&self, id: TorrentId, f: impl FnOnce(&Record) -> T) -> Result<T, EngineError> {
        let inner = self.registry().lock();
        inner
            .torrents
            .get(&id)
            .map(f)
            .ok_or_else(|| EngineError::NotFound(id.to_string()))
    }

    /// One torrent's summary.
    pub fn get(&self, id: TorrentId) -> Result<TorrentSummary, EngineError> {
        self.with(id, stats::summary)
    }

    /// A torrent's files with their progress and priorities (empty before
    /// a magnet link's metadata arrives).
    pub fn files(&self, id: TorrentId) -> Result<Vec<FileInfo>, EngineError> {
        self.with(id, stats::files)
    }

    /// A running torrent's connected peers.
    pub fn peers(&self, id: TorrentId) -> Result<Vec<PeerInfo>, EngineError> {
        self.with(id, stats::peers)
    }

    /// A torrent's trackers and the last announce's outcome.
    pub fn trackers(&self, id: TorrentId) -> Result<Vec<TrackerInfo>, EngineError> {
        self.with(id, stats::trackers)
    }

    /// A torrent's verified pieces.
    pub fn pieces(&self, id: TorrentId) -> Result<PieceMap, EngineError> {
        self.with(id, stats::pieces)
    }

    /// The torrent itself (`None` before a magnet link's metadata).
    pub fn torrent(&self, id: TorrentId) -> Result<Option<Arc<Torrent>>, EngineError> {
        self.with(id, |r| r.torrent.clone())
    }

    /// Events of every torrent from now on: added, metadata received,
    /// state changed, completed, error, removed, in the order they
    /// happened. A receiver that falls more than a few thousand events
    /// behind gets [`broadcast::error::RecvError::Lagged`] and should
    /// re-read [`Session::list`].
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.registry().events.subscribe()
    }

    /// Take the running torrent `id` out to stop it, after `f` updated its
    /// record; then stop it (connections closed, resume data saved).
    async fn stop_with(
        &self,
        id: TorrentId,
        f: impl FnOnce(&mut Record),
    ) -> Result<(), EngineError> {
        let reg = self.registry();
        let (h, events) = {
            let mut inner = reg.lock();
            let rec = inner
                .torrents
                .get_mut(&id)
                .ok_or_else(|| EngineError::NotFound(id.to_string()))?;
            f(rec);
            let h = rec.take_for_stop();
            (h, inner.status_events())
        };
        reg.send(events);
        if let Some(h) = h {
            finish_stop(reg, id, h).await;
        }
        reg.poke.notify_one();
        Ok(())
    }

    /// Stop a torrent until [`Session::resume`]: its connections close
    /// and its resume data is saved before this returns.
    pub async fn pause(&self, id: TorrentId) -> Result<(), EngineError> {
        self.stop_with(id, |r| {
            r.paused = true;
            r.forced = false;
        })
        .await
    }

    /// Let a paused (or failed) torrent run again, when the queue has room
    /// for it; the check at start trusts the saved resume data.
    pub fn resume(&self, id: TorrentId) -> Result<(), EngineError> {
        self.update_record(id, |r| {
            r.paused = false;
            r.error = None;
        })
    }

    /// Run a torrent now, whatever the queue limits.
    pub fn start_now(&self, id: TorrentId) -> Result<(), EngineError> {
        self.update_record(id, |r| {
            r.paused = false;
            r.error = None;
            r.forced = true;
        })
    }

    fn update_record(&self, id: TorrentId, f: impl FnOnce(&mut Record)) -> Result<(), EngineError> {
        let reg = self.registry();
        let events = {
            let mut inner = reg.lock();
            let rec = inner
                .torrents
                .get_mut(&id)
                .ok_or_else(|| EngineError::NotFound(id.to_string()))?;
            f(rec);
            rec.configure();
            inner.status_events()
        };
        reg.send(events);
        reg.poke.notify_one();
        Ok(())
    }

    /// Remove a torrent from the session (stopping it first), and with
    /// `delete_data` its files (only its own; folders it leaves empty go
    /// too) and resume data.
    pub async fn remove(&self, id: TorrentId, delete_data: bool) -> Result<(), EngineError> {
        let reg = self.registry();
        let (rec, h) = {
            let mut inner = reg.lock();
            let mut rec = inner
                .torrents
                .remove(&id)
                .ok_or_else(|| EngineError::NotFound(id.to_string()))?;
            let h = rec.take_for_stop();
            inner.removed_downloaded += rec.past_downloaded;
            inner.removed_uploaded += rec.past_uploaded;
            inner.renumber_queue();
            (rec, h)
        };
        if let Some(h) = h {
            h.stop().await;
        }
        if delete_data {
            if let Some(t) = rec.torrent.clone() {
                let dir = rec.dir.clone();
                tokio::task::spawn_blocking(move || data::delete(&t, &dir))
                    .await
                    .map_err(|e| EngineError::Fatal(e.to_string()))?
                    .map_err(|e| EngineError::Fatal(format!("deleting the data: {e}")))?;
            }
        }
        reg.send(vec![rec.event(EventKind::Removed)]);
        reg.poke.notify_one();
        Ok(())
    }

    /// Hash all of a torrent's data again (the resume data is dropped):
    /// a running torrent stops and restarts with a full check; a paused
    /// one is checked when it next starts.
    pub async fn recheck(&self, id: TorrentId) -> Result<(), EngineError> {
        self.stop_with(id, |r| r.recheck = true).await
    }

    /// Announce to the trackers now (a running torrent; otherwise nothing).
    pub fn reannounce(&self, id: TorrentId) -> Result<(), EngineError> {
        self.with(id, |r| {
            if let Phase::Running(h) = &r.phase {
                h.shared.limits.reannounce.notify_one();
            }
        })
    }

    /// Change a torrent's download directory: with `move_data` its files
    /// (and resume data) move there (a running torrent is stopped
    /// meanwhile and started again after, without rehashing); without,
    /// the data is looked for there (checked at the next start).
    pub async fn move_data(
        &self,
        id: TorrentId,
        to: PathBuf,
        move_data: bool,
    ) -> Result<(), EngineError> {
        let reg = self.registry();
        let (h, torrent, from) = {
            let mut inner = reg.lock();
            let rec = inner
                .torrents
                .get_mut(&id)
                .ok_or_else(|| EngineError::NotFound(id.to_string()))?;
            let h = rec.take_for_stop();
            if h.is_some() {
                rec.phase = Phase::Stopping;
            }
            (h, rec.torrent.clone(), rec.dir.clone())
        };
        if let Some(h) = &h {
            h.stop().await;
        }
        let moved = match (&torrent, move_data && from != to) {
            (Some(t), true) => {
                let (t, f, d) = (t.clone(), from.clone(), to.clone());
                tokio::task::spawn_blocking(move || data::relocate(&t, &f, &d))
                    .await
                    .map_err(|e| EngineError::Fatal(e.to_string()))
                    .and_then(|r| {
                        r.map_err(|e| EngineError::Fatal(format!("moving the data: {e}")))
                    })
            }
            _ => Ok(()),
        };
        let events = {
            let mut inner = reg.lock();
            if let Some(rec) = inner.torrents.get_mut(&id) {
                if moved.is_ok() {
                    rec.dir = to;
                    if !move_data {
                        rec.have = None;
                    }
                }
                if matches!(rec.phase, Phase::Stopping) {
                    rec.phase = Phase::Stopped;
                }
            }
            inner.status_events()
        };
        reg.send(events);
        reg.poke.notify_one();
        moved
    }

    /// Change a torrent's settings (limits, seeding goals, sequential
    /// mode, labels); they apply at once.
    pub fn update_torrent(&self, id: TorrentId, u: TorrentUpdate) -> Result<(), EngineError> {
        self.update_record(id, |r| {
            let s = &mut r.settings;
            if let Some(v) = u.upload_limit {
                s.upload_limit = v;
            }
            if let Some(v) = u.download_limit {
                s.download_limit = v;
            }
            if let Some(v) = u.seed_ratio {
                s.seed_ratio = v;
            }
            if let Some(v) = u.seed_idle {
                s.seed_idle = v;
            }
            if let Some(v) = u.sequential {
                s.sequential = v;
            }
            if let Some(v) = u.labels {
                s.labels = v;
            }
        })
    }

    /// Set the priority of files `indices` (out-of-range ones are
    /// ignored); [`FilePriority::Skip`] leaves a file out. Before a magnet
    /// link's metadata arrives this fails.
    pub fn set_file_priority(
        &self,
        id: TorrentId,
        indices: &[usize],
        priority: FilePriority,
    ) -> Result<(), EngineError> {
        let mut missing = false;
        self.update_record(id, |r| {
            if r.torrent.is_none() {
                missing = true;
                return;
            }
            for &i in indices {
                if let Some(p) = r.files.get_mut(i) {
                    *p = priority;
                }
            }
        })?;
        if missing {
            return Err(EngineError::InvalidTorrent(
                "the torrent's metadata has not arrived yet".into(),
            ));
        }
        Ok(())
    }

    /// Move a torrent in the queue.
    pub fn queue_move(&self, id: TorrentId, to: QueueMove) -> Result<(), EngineError> {
        let reg = self.registry();
        {
            let mut inner = reg.lock();
            if !inner.torrents.contains_key(&id) {
                return Err(EngineError::NotFound(id.to_string()));
            }
            let mut order: Vec<(u32, TorrentId)> = inner
                .torrents
                .values()
                .map(|r| (r.queue_position, r.id))
                .collect();
            order.sort_unstable();
            let mut order: Vec<TorrentId> = order.into_iter().map(|(_, id)| id).collect();
            let Some(from) = order.iter().position(|x| *x == id) else {
                return Err(EngineError::NotFound(id.to_string()));
            };
            move_in_queue(&mut order, from, to);
            for (pos, tid) in order.into_iter().enumerate() {
                if let Some(r) = inner.torrents.get_mut(&tid) {
                    r.queue_position = pos as u32;
                }
            }
        }
        reg.poke.notify_one();
        Ok(())
    }

    /// The session-wide settings.
    pub fn settings(&self) -> SessionSettings {
        self.registry().lock().settings.clone()
    }

    /// Change the session-wide settings: rate limits (normal or
    /// alternative) apply at once, queue limits and seeding goals at the
    /// manager's next pass (within half a second).
    pub fn set_settings(&self, settings: SessionSettings) {
        let (up, down) = settings.effective_limits();
        self.shared.upload_limit.set_rate(up);
        self.shared.download_limit.set_rate(down);
        self.registry().lock().settings = settings;
        self.registry().poke.notify_one();
    }

    /// The whole session's figures.
    pub fn stats(&self) -> SessionStats {
        let reg = self.registry();
        let inner = reg.lock();
        let mut s = SessionStats {
            torrents: inner.torrents.len(),
            downloaded: inner.removed_downloaded,
            uploaded: inner.removed_uploaded,
            uptime: reg.started.elapsed(),
            ..SessionStats::default()
        };
        for rec in inner.torrents.values() {
            s.downloaded += rec.past_downloaded;
            s.uploaded += rec.past_uploaded;
            if let Phase::Running(h) = &rec.phase {
                let st = h.stats();
                s.download_rate += st.download_rate;
                s.upload_rate += st.upload_rate;
                s.downloaded += st.downloaded;
                s.uploaded += st.uploaded;
                s.peers += st.peers;
            }
            use super::types::TorrentStatus as S;
            match rec.status() {
                S::Paused => s.paused += 1,
                S::Queued => s.queued += 1,
                S::Error => s.errored += 1,
                S::Seeding => {
                    s.seeding += 1;
                    s.active += 1
                }
                S::Downloading => {
                    s.downloading += 1;
                    s.active += 1
                }
                S::Checking | S::Metadata => s.active += 1,
            }
        }
        s
    }

    /// Stop every torrent (connections closed, trackers told, resume data
    /// saved) and the session's background work; torrents can no longer
    /// be added. Dropping the session does the same without waiting for
    /// trackers.
    pub async fn shutdown(&self) {
        let reg = self.registry();
        let handles: Vec<_> = {
            let mut inner = reg.lock();
            inner.closing = true;
            inner
                .torrents
                .values_mut()
                .filter_map(|r| r.take_for_stop())
                .collect()
        };
        self.manager.abort();
        let mut set = tokio::task::JoinSet::new();
        for h in handles {
            set.spawn(async move { h.stop().await });
        }
        while set.join_next().await.is_some() {}
        self.close();
    }
}

fn parse(bytes: &[u8]) -> Result<Torrent, EngineError> {
    Torrent::from_bytes(bytes).map_err(|e| EngineError::InvalidTorrent(e.to_string()))
}
