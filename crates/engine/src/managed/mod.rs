//! The multi-torrent session: torrents with ids that the application adds,
//! pauses, resumes, rechecks, moves and removes; queueing and seeding
//! goals; events.
//!
//! Each torrent is a [`Record`] in the session's [`Registry`]: what the
//! user asked for (paused or not, settings, file priorities, queue place)
//! and, while it runs, the [`TorrentHandle`] of the running torrent. A
//! manager task reconciles the two every half second (or at once when
//! poked): it asks the pure queue ([`shoal_swarm::queue`]) which torrents
//! may run, starts those that should and stops those that should not,
//! notices completion, errors and seeding goals, and sends an event for
//! every change. Pausing stops the running torrent (its connections close
//! and its resume data is saved); resuming starts it again, and the check
//! at start trusts that resume data, so nothing is hashed again.

mod data;
pub mod info;
mod ops;
mod stats;
pub mod types;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use shoal_metainfo::{InfoHash, Magnet, Torrent};
use shoal_swarm::queue::{self, QueueEntry, QueueLimits, SeedGoal};
use tokio::sync::{broadcast, Notify};
use tracing::{debug, warn};

use crate::bitfield::Bitfield;
use crate::session::{AddTorrentOptions, SessionShared};
use crate::torrent::TorrentHandle;
use crate::EngineError;
use types::{
    EventKind, FilePriority, SessionEvent, SessionSettings, TorrentId, TorrentSettings,
    TorrentStatus,
};

/// Events kept for subscribers that fall behind.
const EVENT_CAPACITY: usize = 4096;
/// How often the manager looks at every torrent.
const MANAGER_TICK: Duration = Duration::from_millis(500);
/// How long one attempt at a magnet link's metadata lasts.
const METADATA_ATTEMPT: Duration = Duration::from_secs(60);
/// Wait between attempts at a magnet link's metadata.
const METADATA_RETRY: Duration = Duration::from_secs(5);

/// Where a torrent is in its life.
#[derive(Debug)]
enum Phase {
    /// Not running.
    Stopped,
    /// Being started (metadata, storage, check) by the task of the
    /// record's current generation.
    Starting,
    /// Running.
    Running(TorrentHandle),
    /// Being stopped (or its data moved); started again once done.
    Stopping,
}

/// One torrent of the session.
#[derive(Debug)]
struct Record {
    id: TorrentId,
    info_hash: InfoHash,
    name: String,
    torrent: Option<Arc<Torrent>>,
    magnet: Option<Magnet>,
    dir: PathBuf,
    peers: Vec<SocketAddr>,
    use_trackers: bool,
    settings: TorrentSettings,
    /// One per file once the metadata is known.
    files: Vec<FilePriority>,
    /// Files wanted as given at add time (for a magnet link, applied once
    /// its metadata arrives).
    files_wanted: Vec<bool>,
    paused: bool,
    /// "Start now": runs whatever the queue says.
    forced: bool,
    queue_position: u32,
    phase: Phase,
    /// Generation of the latest start; a start task of an older one gives
    /// up.
    gen: u64,
    error: Option<String>,
    /// Hash everything at the next start (the resume data is dropped).
    recheck: bool,
    /// Every wanted piece verified (as last seen).
    done: bool,
    /// Payload moved in earlier runs.
    past_downloaded: u64,
    past_uploaded: u64,
    /// The current run's upload total as last seen, and when it grew.
    seen_uploaded: u64,
    last_upload: Instant,
    /// Verified pieces as last seen (while stopped).
    have: Option<Bitfield>,
    added_at: SystemTime,
    done_at: Option<SystemTime>,
    seconds_downloading: Duration,
    seconds_seeding: Duration,
    /// The status last announced by an event.
    last_status: TorrentStatus,
    /// Bytes hashed by the current check.
    check_progress: Arc<AtomicU64>,
}

impl Record {
    fn status(&self) -> TorrentStatus {
        if self.error.is_some() {
            return TorrentStatus::Error;
        }
        match &self.phase {
            Phase::Starting if self.torrent.is_none() => TorrentStatus::Metadata,
            Phase::Starting => TorrentStatus::Checking,
            Phase::Running(_) if self.done => TorrentStatus::Seeding,
            Phase::Running(_) => TorrentStatus::Downloading,
            Phase::Stopped | Phase::Stopping if self.paused => TorrentStatus::Paused,
            Phase::Stopped | Phase::Stopping => TorrentStatus::Queued,
        }
    }

    fn event(&self, kind: EventKind) -> SessionEvent {
        SessionEvent {
            id: self.id,
            info_hash: self.info_hash,
            name: self.name.clone(),
            kind,
        }
    }

    /// Take the running torrent to stop it (its totals are kept); a start
    /// under way is abandoned.
    fn take_for_stop(&mut self) -> Option<TorrentHandle> {
        match std::mem::replace(&mut self.phase, Phase::Stopped) {
            Phase::Running(h) => {
                let st = h.stats();
                self.past_downloaded += st.downloaded;
                self.past_uploaded += st.uploaded;
                self.seen_uploaded = 0;
                self.have = Some(h.shared.lock().picker.have().clone());
                self.phase = Phase::Stopping;
                Some(h)
            }
            Phase::Starting => {
                self.gen += 1;
                None
            }
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// Each piece's priority from the files' (a piece shared by files
    /// takes the highest of theirs).
    fn piece_priorities(&self) -> Vec<u8> {
        let Some(t) = &self.torrent else {
            return Vec::new();
        };
        let layout = &t.layout;
        let mut prio = vec![0u8; layout.piece_count as usize];
        for (i, f) in layout.files.iter().enumerate() {
            if f.is_padding() {
                continue;
            }
            let p = self
                .files
                .get(i)
                .copied()
                .unwrap_or_default()
                .piece_priority();
            for piece in layout.file_pieces(i) {
                if let Some(slot) = prio.get_mut(piece as usize) {
                    *slot = (*slot).max(p);
                }
            }
        }
        prio
    }

    /// Apply settings and file priorities to the running torrent.
    fn configure(&self) {
        let Phase::Running(h) = &self.phase else {
            return;
        };
        let shared = &h.shared;
        shared.limits.upload.set_rate(self.settings.upload_limit);
        shared
            .limits
            .download
            .set_rate(self.settings.download_limit);
        let prio = self.piece_priorities();
        let complete = {
            let mut st = shared.lock();
            if st.picker.is_sequential() != self.settings.sequential {
                st.picker.set_sequential(self.settings.sequential);
            }
            st.set_piece_priorities(&prio, Instant::now())
        };
        shared.complete.send_replace(complete);
    }

    /// The metadata arrived (or was there from the start).
    fn set_torrent(&mut self, torrent: Arc<Torrent>) {
        self.name = torrent.name.clone();
        self.files = (0..torrent.layout.files.len())
            .map(|i| match self.files_wanted.get(i) {
                Some(false) => FilePriority::Skip,
                _ => FilePriority::Normal,
            })
            .collect();
        self.torrent = Some(torrent);
    }
}

/// The session's torrents, settings and event channel.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    events: broadcast::Sender<SessionEvent>,
    /// Wakes the manager.
    poke: Notify,
    started: Instant,
}

#[derive(Debug)]
struct Inner {
    next_id: u64,
    torrents: BTreeMap<TorrentId, Record>,
    settings: SessionSettings,
    closing: bool,
    /// Totals of torrents removed from the session.
    removed_downloaded: u64,
    removed_uploaded: u64,
}

impl Registry {
    pub fn new(settings: SessionSettings) -> Registry {
        Registry {
            inner: Mutex::new(Inner {
                next_id: 1,
                torrents: BTreeMap::new(),
                settings,
                closing: false,
                removed_downloaded: 0,
                removed_uploaded: 0,
            }),
            events: broadcast::channel(EVENT_CAPACITY).0,
            poke: Notify::new(),
            started: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn send(&self, events: Vec<SessionEvent>) {
        for e in events {
            // No subscriber is fine.
            let _ = self.events.send(e);
        }
    }
}

impl Inner {
    /// A state-change event for every torrent whose status changed since
    /// the last one.
    fn status_events(&mut self) -> Vec<SessionEvent> {
        let mut out = Vec::new();
        for rec in self.torrents.values_mut() {
            let s = rec.status();
            if s != rec.last_status {
                rec.last_status = s;
                out.push(rec.event(EventKind::StateChanged(s)));
            }
        }
        out
    }

    /// Give torrents the queue places 0, 1, ... in their current order.
    fn renumber_queue(&mut self) {
        let mut order: Vec<(u32, TorrentId)> = self
            .torrents
            .values()
            .map(|r| (r.queue_position, r.id))
            .collect();
        order.sort_unstable();
        for (pos, (_, id)) in order.into_iter().enumerate() {
            if let Some(r) = self.torrents.get_mut(&id) {
                r.queue_position = pos as u32;
            }
        }
    }
}

/// Stop a torrent taken with [`Record::take_for_stop`], then mark it
/// stopped (unless something else happened to it meanwhile).
async fn finish_stop(reg: &Registry, id: TorrentId, h: TorrentHandle) {
    h.stop().await;
    let events = {
        let mut inner = reg.lock();
        if let Some(rec) = inner.torrents.get_mut(&id) {
            if matches!(rec.phase, Phase::Stopping) {
                rec.phase = Phase::Stopped;
            }
        }
        inner.status_events()
    };
    reg.send(events);
    reg.poke.notify_one();
}

/// The manager: reconciles every torrent with what the user and the queue
/// ask for, until the session closes.
pub(crate) async fn run_manager(reg: Arc<Registry>, session: Arc<SessionShared>) {
    let mut last = Instant::now();
    let mut interval = tokio::time::interval(MANAGER_TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = reg.poke.notified() => {}
        }
        let now = Instant::now();
        let dt = now.saturating_duration_since(last);
        last = now;
        let (starts, stops, events) = {
            let mut inner = reg.lock();
            if inner.closing {
                return;
            }
            reconcile(&mut inner, now, dt)
        };
        reg.send(events);
        for (id, gen) in starts {
            tokio::spawn(start_task(reg.clone(), session.clone(), id, gen));
        }
        for (id, h) in stops {
            let reg = reg.clone();
            tokio::spawn(async move { finish_stop(&reg, id, h).await });
        }
    }
}

type Starts = Vec<(TorrentId, u64)>;
type Stops = Vec<(TorrentId, TorrentHandle)>;

/// One pass of the manager over every torrent: what to start, what to
/// stop, and the events to send.
fn reconcile(inner: &mut Inner, now: Instant, dt: Duration) -> (Starts, Stops, Vec<SessionEvent>) {
    let mut events = Vec::new();
    let mut stops = Vec::new();
    let global = inner.settings.clone();
    for rec in inner.torrents.values_mut() {
        let Phase::Running(h) = &rec.phase else {
            continue;
        };
        if let Some(e) = h.error() {
            rec.error = Some(e.to_string());
            events.push(rec.event(EventKind::Error(e.to_string())));
            if let Some(h) = rec.take_for_stop() {
                stops.push((rec.id, h));
            }
            continue;
        }
        let st = h.stats();
        if st.uploaded > rec.seen_uploaded {
            rec.seen_uploaded = st.uploaded;
            rec.last_upload = now;
        }
        if st.complete && !rec.done {
            rec.done = true;
            rec.last_upload = now;
            if rec.done_at.is_none() {
                rec.done_at = Some(SystemTime::now());
            }
            events.push(rec.event(EventKind::Completed));
        } else if !st.complete {
            rec.done = false;
        }
        if rec.done {
            rec.seconds_seeding += dt;
            let goal = SeedGoal {
                ratio: rec.settings.seed_ratio.resolve(global.seed_ratio_limit),
                idle: rec.settings.seed_idle.resolve(global.seed_idle_limit),
            };
            let size = stats::wanted_size(rec).max(1);
            let ratio = (rec.past_uploaded + st.uploaded) as f64 / size as f64;
            let idle = now.saturating_duration_since(rec.last_upload);
            if goal.reached(ratio, idle) {
                debug!(id = %rec.id, ratio, ?idle, "seeding goal reached: stopping");
                rec.paused = true;
                rec.forced = false;
                if let Some(h) = rec.take_for_stop() {
                    stops.push((rec.id, h));
                }
            }
        } else {
            rec.seconds_downloading += dt;
        }
    }
    let ids: Vec<TorrentId> = inner.torrents.keys().copied().collect();
    let entries: Vec<QueueEntry> = ids
        .iter()
        .filter_map(|id| inner.torrents.get(id))
        .map(|r| QueueEntry {
            position: r.queue_position,
            wants_to_run: !r.paused && r.error.is_none(),
            forced: r.forced,
            seeding: r.done,
        })
        .collect();
    let run = queue::decide(
        &entries,
        QueueLimits {
            max_downloads: global.max_active_downloads,
            max_seeds: global.max_active_seeds,
        },
    );
    let mut starts = Vec::new();
    for (id, run) in ids.iter().zip(run) {
        let Some(rec) = inner.torrents.get_mut(id) else {
            continue;
        };
        match (&rec.phase, run) {
            (Phase::Stopped, true) => {
                rec.gen += 1;
                rec.phase = Phase::Starting;
                starts.push((rec.id, rec.gen));
            }
            (Phase::Running(_) | Phase::Starting, false) => {
                if let Some(h) = rec.take_for_stop() {
                    stops.push((rec.id, h));
                }
            }
            _ => {}
        }
    }
    events.extend(inner.status_events());
    (starts, stops, events)
}

/// Start torrent `id` (generation `gen`): fetch a magnet link's metadata
/// first, then open, check and run it.
async fn start_task(reg: Arc<Registry>, session: Arc<SessionShared>, id: TorrentId, gen: u64) {
    let current = |inner: &mut Inner| -> bool {
        inner
            .torrents
            .get(&id)
            .is_some_and(|r| r.gen == gen && matches!(r.phase, Phase::Starting))
    };
    // The torrent, from a magnet link if need be.
    let torrent = loop {
        let (torrent, magnet, peers, use_trackers) = {
            let mut inner = reg.lock();
            if !current(&mut inner) {
                return;
            }
            let Some(r) = inner.torrents.get(&id) else {
                return;
            };
            (
                r.torrent.clone(),
                r.magnet.clone(),
                r.peers.clone(),
                r.use_trackers,
            )
        };
        if let Some(t) = torrent {
            break t;
        }
        let Some(magnet) = magnet else {
            return;
        };
        match session
            .fetch_magnet(&magnet, &peers, use_trackers, METADATA_ATTEMPT)
            .await
        {
            Ok(t) => {
                let events = {
                    let mut inner = reg.lock();
                    if !current(&mut inner) {
                        return;
                    }
                    let Some(r) = inner.torrents.get_mut(&id) else {
                        return;
                    };
                    r.set_torrent(Arc::new(t));
                    let mut ev = vec![r.event(EventKind::MetadataReceived)];
                    ev.extend(inner.status_events());
                    ev
                };
                reg.send(events);
            }
            Err(e) => {
                debug!(%id, error = %e, "no metadata yet; trying again");
                tokio::time::sleep(METADATA_RETRY).await;
            }
        }
    };
    let (opts, recheck) = {
        let mut inner = reg.lock();
        let events = inner.status_events();
        let Some(r) = inner.torrents.get_mut(&id) else {
            return;
        };
        r.check_progress
            .store(0, std::sync::atomic::Ordering::Relaxed);
        let opts = AddTorrentOptions {
            dir: r.dir.clone(),
            peers: r.peers.clone(),
            use_trackers: r.use_trackers,
            check_progress: Some(r.check_progress.clone()),
            super_seed: false,
        };
        let recheck = r.recheck;
        drop(inner);
        reg.send(events);
        (opts, recheck)
    };
    if recheck {
        let path = crate::resume::resume_path(&opts.dir, &torrent.info_hash);
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                warn!(%id, error = %e, "cannot drop the resume data for a recheck");
            }
        }
    }
    let result = session.start_torrent(torrent, opts).await;
    let mut leftover = None;
    let events = {
        let mut inner = reg.lock();
        let live = current(&mut inner);
        match (inner.torrents.get_mut(&id), result) {
            (Some(r), Ok((h, report))) if live => {
                debug!(%id, ?report, "torrent started");
                r.recheck = false;
                r.seen_uploaded = 0;
                r.have = None;
                r.phase = Phase::Running(h);
                r.configure();
            }
            (_, Ok((h, _))) => leftover = Some(h),
            (Some(r), Err(EngineError::Duplicate(_))) if live => {
                // An earlier run is still shutting down: try again.
                r.phase = Phase::Stopped;
            }
            (Some(r), Err(e)) if live => {
                r.phase = Phase::Stopped;
                r.error = Some(e.to_string());
                let ev = r.event(EventKind::Error(e.to_string()));
                let _ = reg.events.send(ev);
            }
            (_, Err(_)) => {}
        }
        inner.status_events()
    };
    reg.send(events);
    if let Some(h) = leftover {
        h.stop().await;
    }
    reg.poke.notify_one();
}
