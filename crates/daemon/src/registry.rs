//! The daemon's torrents: one engine [`Session`] and, for each torrent, its
//! stored [`Record`] and what runs now. Every operation the HTTP APIs offer
//! is a method here; the REST and Transmission front ends only translate.
//!
//! Pausing stops the engine's torrent (saving its resume data) and
//! resuming adds it again: the resume data makes that check cheap.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use shoal_engine::{AddTorrentOptions, Session, TorrentHandle, TorrentStats};
use shoal_metainfo::{Magnet, Torrent};
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::config::Settings;
use crate::error::DaemonError;
use crate::events::Event;
use crate::paths::Roots;
use crate::store::{LimitMode, Record, Store, StoredMeta};

/// Where a torrent comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The bytes of a `.torrent` file.
    Metainfo(Vec<u8>),
    /// A magnet link.
    Magnet(String),
    /// An HTTP(S) URL of a `.torrent` file.
    Url(String),
    /// A `.torrent` file on this machine (inside a root or the watch dir).
    Path(PathBuf),
}

/// Options of an add.
#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// Download directory (checked against the roots); default the
    /// session's.
    pub download_dir: Option<PathBuf>,
    /// Add paused (default: the session's `start_added_paused`).
    pub paused: Option<bool>,
    /// Labels.
    pub labels: Vec<String>,
}

/// A torrent's state, as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for a download or seed slot.
    Queued,
    /// Checking data on disk.
    Checking,
    /// Fetching a magnet link's metadata.
    Metadata,
    /// Downloading.
    Downloading,
    /// Seeding.
    Seeding,
    /// Stopped.
    Paused,
    /// Stopped by an error.
    Error,
}

/// What runs for a torrent now.
#[derive(Debug)]
enum Run {
    Stopped,
    Queued,
    Starting,
    Metadata,
    Running(TorrentHandle),
    Error(String),
}

#[derive(Debug)]
struct Entry {
    rec: Record,
    torrent: Option<Arc<Torrent>>,
    run: Run,
    /// Bumped by every start and stop: a start task that finds another
    /// value gives up.
    generation: u64,
    /// Start even past the queue limits.
    force: bool,
    /// Serializes engine transitions (a start's check, a stop).
    busy: Arc<tokio::sync::Mutex<()>>,
    /// Counters of the record when the current run started.
    base_down: u64,
    base_up: u64,
    last_stats: Option<TorrentStats>,
    changed_at: Instant,
    dirty: bool,
    check_progress: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    next_queue: u64,
    torrents: BTreeMap<u64, Entry>,
    by_hash: HashMap<String, u64>,
    removed: VecDeque<(u64, Instant)>,
}

/// A snapshot of one torrent, for the API front ends.
#[derive(Debug, Clone)]
pub struct TorrentView {
    /// Stable id.
    pub id: u64,
    /// The stored record.
    pub rec: Record,
    /// The metainfo, once known.
    pub torrent: Option<Arc<Torrent>>,
    /// State.
    pub state: State,
    /// Error message, if stopped by one.
    pub error: Option<String>,
    /// Bytes verified.
    pub have_bytes: u64,
    /// Pieces verified.
    pub have_pieces: u32,
    /// Download rate, bytes/s.
    pub download_rate: u64,
    /// Upload rate, bytes/s.
    pub upload_rate: u64,
    /// Connected peers.
    pub peers: usize,
    /// Peers known.
    pub peers_seen: usize,
    /// Hashed by the check so far.
    pub checked_bytes: u64,
    /// Last change of state (for Transmission's `recently-active`).
    pub changed_at: Instant,
}

impl TorrentView {
    /// Total size in bytes (0 before the metadata).
    pub fn total_size(&self) -> u64 {
        self.torrent.as_ref().map_or(0, |t| t.layout.total_length)
    }

    /// Fraction verified, 0..=1.
    pub fn progress(&self) -> f64 {
        let total = self.total_size();
        if total == 0 {
            0.0
        } else {
            self.have_bytes as f64 / total as f64
        }
    }

    /// Bytes still missing.
    pub fn left(&self) -> u64 {
        self.total_size().saturating_sub(self.have_bytes)
    }

    /// Seconds to completion at the current rate, if downloading.
    pub fn eta(&self) -> Option<u64> {
        if self.state != State::Downloading || self.download_rate == 0 {
            return None;
        }
        Some(self.left() / self.download_rate)
    }

    /// Uploaded / downloaded (or / size when nothing was downloaded).
    pub fn ratio(&self) -> f64 {
        let base = if self.rec.downloaded_ever > 0 {
            self.rec.downloaded_ever
        } else {
            self.have_bytes
        };
        if base == 0 {
            0.0
        } else {
            self.rec.uploaded_ever as f64 / base as f64
        }
    }
}

/// Session-wide totals.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    /// Torrents.
    pub torrents: usize,
    /// Torrents not paused.
    pub active: usize,
    /// Paused torrents.
    pub paused: usize,
    /// Sum of download rates.
    pub download_rate: u64,
    /// Sum of upload rates.
    pub upload_rate: u64,
    /// Payload downloaded (all torrents, all time).
    pub downloaded: u64,
    /// Payload uploaded.
    pub uploaded: u64,
    /// Connected peers.
    pub peers: usize,
    /// Seconds since the daemon started.
    pub uptime: u64,
}

/// Where to move a torrent in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMove {
    /// First.
    Top,
    /// One up.
    Up,
    /// One down.
    Down,
    /// Last.
    Bottom,
}

/// Changes to a torrent (`None`: leave as is).
#[derive(Debug, Clone, Default)]
pub struct TorrentChanges {
    /// New labels.
    pub labels: Option<Vec<String>>,
    /// Upload limit (`Some(None)` clears).
    pub upload_limit: Option<Option<u64>>,
    /// Download limit.
    pub download_limit: Option<Option<u64>>,
    /// Ratio limit.
    pub seed_ratio_limit: Option<Option<f64>>,
    /// Ratio mode.
    pub seed_ratio_mode: Option<LimitMode>,
    /// Idle limit, minutes.
    pub seed_idle_limit: Option<Option<u64>>,
    /// Idle mode.
    pub seed_idle_mode: Option<LimitMode>,
    /// Sequential download.
    pub sequential: Option<bool>,
}

/// Most bytes fetched for a `.torrent` URL.
pub const MAX_TORRENT_FILE: usize = 10 << 20;
/// How long a removed torrent stays in Transmission's `removed` list.
const REMOVED_MEMORY: Duration = Duration::from_secs(60);
/// Most removed ids remembered.
const MAX_REMOVED: usize = 4096;

/// The daemon's torrents and engine session.
#[derive(Debug)]
pub struct Registry {
    session: Session,
    store: Store,
    roots: Roots,
    inner: Mutex<Inner>,
    settings: Mutex<Settings>,
    events: broadcast::Sender<Event>,
    started: Instant,
    watch_dir: Option<PathBuf>,
    http: reqwest::Client,
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn parse_meta(meta: &StoredMeta, rec: &Record) -> Result<Torrent, DaemonError> {
    match meta {
        StoredMeta::Torrent(b) => Torrent::from_bytes(b)
            .map_err(|e| DaemonError::BadRequest(format!("invalid torrent: {e}"))),
        StoredMeta::Info(b) => {
            let mut t = Torrent::from_info_bytes(b)
                .map_err(|e| DaemonError::BadRequest(format!("invalid torrent: {e}")))?;
            t.trackers = rec.trackers.clone();
            Ok(t)
        }
    }
}

impl Registry {
    /// Start the engine session and load the stored torrents (each starts
    /// again unless it was paused).
    pub async fn open(
        engine: shoal_engine::SessionConfig,
        store: Store,
        roots: Roots,
        settings: Settings,
        watch_dir: Option<PathBuf>,
    ) -> Result<Arc<Registry>, DaemonError> {
        let session = Session::start(engine).await?;
        let settings = store.load_settings().unwrap_or(settings);
        let (events, _) = broadcast::channel(1024);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| DaemonError::Config(format!("HTTP client: {e}")))?;
        let mut inner = Inner {
            next_id: store.load_next_id(),
            ..Inner::default()
        };
        let loaded = store.load_all();
        let count = loaded.len();
        for (rec, meta) in loaded {
            let torrent = match &meta {
                Some(m) => match parse_meta(m, &rec) {
                    Ok(t) => Some(Arc::new(t)),
                    Err(e) => {
                        warn!(id = rec.id, error = %e, "stored torrent unreadable: skipped");
                        continue;
                    }
                },
                None if rec.magnet.is_some() => None,
                None => {
                    warn!(id = rec.id, "stored torrent has no metainfo: skipped");
                    continue;
                }
            };
            inner.next_id = inner.next_id.max(rec.id + 1);
            inner.next_queue = inner.next_queue.max(rec.queue_position + 1);
            inner.by_hash.insert(rec.info_hash.clone(), rec.id);
            let run = if rec.paused {
                Run::Stopped
            } else {
                Run::Queued
            };
            inner.torrents.insert(rec.id, Entry::new(rec, torrent, run));
        }
        info!(torrents = count, "state loaded");
        let reg = Arc::new(Registry {
            session,
            store,
            roots,
            inner: Mutex::new(inner),
            settings: Mutex::new(settings),
            events,
            started: Instant::now(),
            watch_dir,
            http,
        });
        reg.schedule();
        Ok(reg)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the daemon down with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The engine session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The download roots.
    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// Subscribe to events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn emit(&self, ev: Event) {
        let _ = self.events.send(ev);
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replace the settings (saved in the state directory). Queue limits
    /// apply at once; rate limits from the next start of the daemon.
    pub fn set_settings(self: &Arc<Self>, s: Settings) -> Result<(), DaemonError> {
        self.store.save_settings(&s)?;
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = s;
        self.schedule();
        Ok(())
    }

    /// Resolve an id or info-hash to an id.
    pub fn resolve(&self, key: &str) -> Result<u64, DaemonError> {
        let inner = self.lock();
        if let Ok(id) = key.parse::<u64>() {
            if inner.torrents.contains_key(&id) {
                return Ok(id);
            }
        }
        inner
            .by_hash
            .get(&key.to_ascii_lowercase())
            .copied()
            .ok_or_else(|| DaemonError::NotFound(key.to_owned()))
    }

    /// Every torrent id, in id order.
    pub fn ids(&self) -> Vec<u64> {
        self.lock().torrents.keys().copied().collect()
    }

    /// Ids removed within the last minute.
    pub fn recently_removed(&self) -> Vec<u64> {
        let now = Instant::now();
        self.lock()
            .removed
            .iter()
            .filter(|(_, t)| now.duration_since(*t) < REMOVED_MEMORY)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Snapshots of the given torrents (all when `ids` is `None`); unknown
    /// ids are skipped.
    pub fn views(&self, ids: Option<&[u64]>) -> Vec<TorrentView> {
        let inner = self.lock();
        match ids {
            None => inner.torrents.values().map(Entry::view).collect(),
            Some(ids) => ids
                .iter()
                .filter_map(|id| inner.torrents.get(id))
                .map(Entry::view)
                .collect(),
        }
    }

    /// One torrent's snapshot.
    pub fn view(&self, id: u64) -> Result<TorrentView, DaemonError> {
        self.lock()
            .torrents
            .get(&id)
            .map(Entry::view)
            .ok_or_else(|| DaemonError::NotFound(id.to_string()))
    }

    /// The running engine handle of a torrent, if it runs.
    pub fn handle(&self, id: u64) -> Result<Option<TorrentHandle>, DaemonError> {
        let inner = self.lock();
        let e = inner
            .torrents
            .get(&id)
            .ok_or_else(|| DaemonError::NotFound(id.to_string()))?;
        Ok(match &e.run {
            Run::Running(h) => Some(h.clone()),
            _ => None,
        })
    }

    /// Session totals.
    pub fn stats(&self) -> Stats {
        let inner = self.lock();
        let mut s = Stats {
            torrents: inner.torrents.len(),
            uptime: self.started.elapsed().as_secs(),
            ..Stats::default()
        };
        for e in inner.torrents.values() {
            if matches!(e.run, Run::Stopped | Run::Error(_)) {
                s.paused += 1;
            } else {
                s.active += 1;
            }
            if let (Run::Running(_), Some(st)) = (&e.run, &e.last_stats) {
                s.download_rate += st.download_rate;
                s.upload_rate += st.upload_rate;
                s.peers += st.peers;
            }
            s.downloaded += e.rec.downloaded_ever;
            s.uploaded += e.rec.uploaded_ever;
        }
        s
    }

    /// Resolve a requested download directory against the roots.
    pub fn check_dir(&self, dir: Option<&Path>) -> Result<PathBuf, DaemonError> {
        match dir {
            None => match self.settings().download_dir {
                Some(d) => self.roots.check(&d),
                None => Ok(self.roots.default_dir().to_path_buf()),
            },
            Some(d) => self.roots.check(d),
        }
    }

    async fn fetch_source(&self, source: Source) -> Result<Source, DaemonError> {
        match source {
            Source::Url(url) => {
                if url.starts_with("magnet:") {
                    return Ok(Source::Magnet(url));
                }
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(DaemonError::BadRequest(format!(
                        "unsupported URL {url:?}: http, https or magnet only"
                    )));
                }
                let mut resp = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| DaemonError::BadRequest(format!("cannot fetch {url}: {e}")))?;
                let mut body = Vec::new();
                while let Some(chunk) = resp
                    .chunk()
                    .await
                    .map_err(|e| DaemonError::BadRequest(format!("cannot fetch {url}: {e}")))?
                {
                    if body.len() + chunk.len() > MAX_TORRENT_FILE {
                        return Err(DaemonError::BadRequest(format!(
                            "{url}: torrent file over {MAX_TORRENT_FILE} bytes"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(Source::Metainfo(body))
            }
            Source::Path(p) => {
                let allowed = self.roots.check(&p).ok().or_else(|| {
                    let w = std::fs::canonicalize(self.watch_dir.as_ref()?).ok()?;
                    let c = std::fs::canonicalize(&p).ok()?;
                    c.starts_with(&w).then_some(c)
                });
                let Some(p) = allowed else {
                    return Err(DaemonError::BadRequest(format!(
                        "{} is outside the download roots and the watch directory",
                        p.display()
                    )));
                };
                let bytes = tokio::fs::read(&p)
                    .await
                    .map_err(|e| DaemonError::BadRequest(format!("{}: {e}", p.display())))?;
                if bytes.len() > MAX_TORRENT_FILE {
                    return Err(DaemonError::BadRequest(format!(
                        "{}: torrent file over {MAX_TORRENT_FILE} bytes",
                        p.display()
                    )));
                }
                Ok(Source::Metainfo(bytes))
            }
            other => Ok(other),
        }
    }

    /// Add a torrent. Returns its snapshot.
    pub async fn add(
        self: &Arc<Self>,
        source: Source,
        opts: AddOptions,
    ) -> Result<TorrentView, DaemonError> {
        let dir = self.check_dir(opts.download_dir.as_deref())?;
        let source = self.fetch_source(source).await?;
        let (torrent, magnet_str, name, hash) = match source {
            Source::Metainfo(bytes) => {
                let t = Torrent::from_bytes(&bytes)
                    .map_err(|e| DaemonError::BadRequest(format!("invalid torrent: {e}")))?;
                let name = t.name.clone();
                let hash = t.info_hash.to_hex();
                (Some((Arc::new(t), bytes)), None, name, hash)
            }
            Source::Magnet(m) => {
                let magnet = Magnet::parse(&m)
                    .map_err(|e| DaemonError::BadRequest(format!("invalid magnet link: {e}")))?;
                let hash = magnet.info_hash.to_hex();
                let name = magnet.display_name.clone().unwrap_or_else(|| hash.clone());
                (None, Some(m), name, hash)
            }
            Source::Url(_) | Source::Path(_) => {
                return Err(DaemonError::BadRequest("unresolved source".into()))
            }
        };
        if let Some((t, _)) = &torrent {
            check_torrent_paths(t)?;
        }
        let paused = opts
            .paused
            .unwrap_or_else(|| self.settings().start_added_paused);
        let rec = {
            let mut inner = self.lock();
            if let Some(&id) = inner.by_hash.get(&hash) {
                return Err(DaemonError::Duplicate { id, hash });
            }
            let id = inner.next_id;
            inner.next_id += 1;
            let queue_position = inner.next_queue;
            inner.next_queue += 1;
            let rec = Record {
                id,
                info_hash: hash.clone(),
                name,
                magnet: magnet_str,
                download_dir: dir,
                paused,
                labels: opts.labels,
                added_at: now_unix(),
                queue_position,
                trackers: torrent
                    .as_ref()
                    .map(|(t, _)| t.trackers.clone())
                    .unwrap_or_default(),
                ..Record::default()
            };
            inner.by_hash.insert(hash.clone(), id);
            let run = if paused { Run::Stopped } else { Run::Queued };
            inner.torrents.insert(
                id,
                Entry::new(rec.clone(), torrent.as_ref().map(|(t, _)| t.clone()), run),
            );
            rec
        };
        let saved = (|| {
            if let Some((_, bytes)) = &torrent {
                self.store
                    .save_meta(&hash, &StoredMeta::Torrent(bytes.clone()))?;
            }
            self.store.save_record(&rec)?;
            self.store.save_next_id(rec.id + 1)
        })();
        if let Err(e) = saved {
            let mut inner = self.lock();
            inner.torrents.remove(&rec.id);
            inner.by_hash.remove(&hash);
            return Err(e);
        }
        info!(id = rec.id, %hash, name = %rec.name, "torrent added");
        self.emit(Event::added(&rec));
        self.schedule();
        self.view(rec.id)
    }

    /// Start (resume) a torrent; `now` bypasses the queue.
    pub fn start(self: &Arc<Self>, id: u64, now: bool) -> Result<(), DaemonError> {
        {
            let mut inner = self.lock();
            let e = inner
                .torrents
                .get_mut(&id)
                .ok_or_else(|| DaemonError::NotFound(id.to_string()))?;
            e.force |= now;
            e.rec.paused = false;
            e.rec.finished = false;
            if matches!(e.run, Run::Stopped | Run::Error(_)) {
                e.run = Run::Queued;
                e.changed();
                self.emit(Event::state(&e.rec, State::Queued));
            }
            self.store.save_record(&e.rec)?;
        }
        self.schedule();
        Ok(())
    }

    /// Stop (pause) a torrent and wait until the engine has let it go.
    pub async fn stop(self: &Arc<Self>, id: u64) -> Result<(), DaemonError> {
        self.stop_inner(id, true, false).await
    }

    async fn stop_inner(
        self: &Arc<Self>,
        id: u64,
        mark_paused: bool,
        finished: bool,
    ) -> Result<(), DaemonError> {
        let (handle, busy) = {
            let mut inner = self.lock();
            let e = inner
                .torrents
                .get_mut(&id)
                .ok_or_else(|| DaemonError::NotFound(id.to_string()))?;
            e.generation += 1;
            e.force = false;
            if mark_paused {
                e.rec.paused = true;
                e.rec.finished = finished;
            }
            let old = std::mem::replace(&mut e.run, Run::Stopped);
            let handle = match old {
                Run::Running(h) => {
                    e.fold_stats(&h.stats());
                    Some(h)
                }
                Run::Error(msg) if !mark_paused => {
                    e.run = Run::Error(msg);
                    None
                }
                _ => None,
            };
            e.changed();
            self.store.save_record(&e.rec)?;
            self.emit(Event::state(&e.rec, State::Paused));
            (handle, e.busy.clone())
        };
        let _turn = busy.lock().await;
        if let Some(h) = handle {
            h.stop().await;
        }
        drop(_turn);
        self.schedule();
        Ok(())
    }

    /// Remove a torrent, and its data with `delete_data`.
    pub async fn remove(self: &Arc<Self>, id: u64, delete_data: bool) -> Result<(), DaemonError> {
        self.stop_inner(id, true, false).await?;
        let (rec, torrent, busy) = {
            let mut inner = self.lock();
            let e = inner
                .torrents
                .remove(&id)
                .ok_or_else(|| DaemonError::NotFound(id.to_string()))?;
            inner.by_hash.remove(&e.rec.info_hash);
            inner.removed.push_back((id, Instant::now()));
            while inner.removed.len() > MAX_REMOVED {
                inner.removed.pop_front();
            }
            (e.rec, e.torrent, e.busy)
        };
        // A start still checking gives up and stops before we go on.
        let _turn = busy.lock().await;
        self.store.remove(&rec.info_hash);
        if let Some(t) = &torrent {
            let dir = rec.download_dir.clone();
            let t = t.clone();
            tokio::task::spawn_blocking(move || remove_resume(&t, &dir))
                .await
                .ok();
            if delete_data {
                let dir = rec.download_dir.clone();
                let t = torrent.clone();
                tokio::task::spawn_blocking(move || {
                    if let Some(t) = t {
                        delete_content(&t, &dir)
                    }
                })
                .await
                .ok();
            }
        }
        info!(id, hash = %rec.info_hash, delete_data, "torrent removed");
        self.emit(Event::removed(&rec));
        Ok(())
    }

    /// Hash all of a torrent's data again.
    pub async fn recheck(self: &Arc<Self>, id: u64) -> Result<(), DaemonError> {
        let was_running = {
            let inner = self.lock();
            let e = inner
                .torrents
                .get(&id)
                .ok_or_else(|| DaemonError::NotFound(id.to_string()))?;
            !e.rec.paused
        };
        self.stop_inner(id, false, false).await?;
        let (torrent, dir) = {
            let mut inner = self.lock();
            let e = inner
                .torrents
                .get_mut(&id)
                .ok_or_else(|| DaemonError::NotFound(id.to_string()))?;
            e.rec.done_at = None;
            (e.torrent.clone(), e.rec.download_dir.clone())
        };
        if let Some(t) = torrent {
            tokio::task::spawn_blocking(move || remove_resume(&t, &dir))
                .await
                .ok();
        }
        self.schedule_check_only(id, !was_running);
        Ok(())
    }

    /// Announce again: the engine has no separate re-announce yet, so a
    /// running torrent is restarted (which announces `started`).
    pub async fn reannounce(self: &Arc<Self>, id: u64) -> Result<(), DaemonError> {
        let running = matches!(self.handle(id)?, Some(_));
        if running {
            self.stop_inner(id, false, false).await?;
            self.start(id, true)?;
        }
        Ok(())
    }

    /// Change a torrent's directory, moving its data with `move_data`.
    pub async fn set_location(
        self: &Arc<Self>,
        id: u64,
        dir: &Path,
        move_data: bool,
    ) -> Result<(), DaemonError> {
        let new_dir = self.roots.check(dir)?;
        let was_paused = self.view(id)?.rec.paused;
        self.stop_inner(id, false, false).await?;
        let (torrent, old_dir, busy) = {
            let inner = self.lock();
            let e = inner
                .torrents
                .get(&id)
                .ok_or_else(|| DaemonError::NotFound(id.to_string()))?;
            (
                e.torrent.clone(),
                e.rec.download_dir.clone(),
                e.busy.clone(),
            )
        };
        let turn = busy.lock().await;
        if let (Some(t), true) = (torrent, move_data && old_dir != new_dir) {
            let nd = new_dir.clone();
            tokio::task::spawn_blocking(move || move_content(&t, &old_dir, &nd))
                .await
                .map_err(|e| DaemonError::Io(e.to_string()))??;
        }
        drop(turn);
        {
            let mut inner = self.lock();
            if let Some(e) = inner.torrents.get_mut(&id) {
                e.rec.download_dir = new_dir;
                e.changed();
                self.store.save_record(&e.rec)?;
            }
        }
        if !was_paused {
            self.start(id, false)?;
        }
        Ok(())
    }

    /// Change a torrent's settings or labels.
    pub fn set(&self, id: u64, c: TorrentChanges) -> Result<(), DaemonError> {
        let mut inner = self.lock();
        let e = inner
            .torrents
            .get_mut(&id)
            .ok_or_else(|| DaemonError::NotFound(id.to_string()))?;
        let s = &mut e.rec.settings;
        if let Some(l) = c.labels {
            e.rec.labels = l;
        }
        if let Some(v) = c.upload_limit {
            s.upload_limit = v;
        }
        if let Some(v) = c.download_limit {
            s.download_limit = v;
        }
        if let Some(v) = c.seed_ratio_limit {
            s.seed_ratio_limit = v;
        }
        if let Some(v) = c.seed_ratio_mode {
            s.seed_ratio_mode = v;
        }
        if let Some(v) = c.seed_idle_limit {
            s.seed_idle_limit = v;
        }
        if let Some(v) = c.seed_idle_mode {
            s.seed_idle_mode = v;
        }
        if let Some(v) = c.sequential {
            s.sequential = v;
        }
        e.changed();
        self.store.save_record(&e.rec)
    }

    /// Move torrents in the queue.
    pub fn queue_move(self: &Arc<Self>, ids: &[u64], to: QueueMove) -> Result<(), DaemonError> {
        {
            let mut inner = self.lock();
            let mut order: Vec<(u64, u64)> = inner
                .torrents
                .values()
                .map(|e| (e.rec.queue_position, e.rec.id))
                .collect();
            order.sort_unstable();
            let mut ids_order: Vec<u64> = order.into_iter().map(|(_, id)| id).collect();
            let moving: Vec<u64> = ids_order
                .iter()
                .copied()
                .filter(|id| ids.contains(id))
                .collect();
            match to {
                QueueMove::Top | QueueMove::Bottom => {
                    ids_order.retain(|id| !ids.contains(id));
                    if to == QueueMove::Top {
                        ids_order.splice(0..0, moving);
                    } else {
                        ids_order.extend(moving);
                    }
                }
                QueueMove::Up => {
                    for i in 1..ids_order.len() {
                        if ids.contains(&ids_order[i]) && !ids.contains(&ids_order[i - 1]) {
                            ids_order.swap(i, i - 1);
                        }
                    }
                }
                QueueMove::Down => {
                    for i in (0..ids_order.len().saturating_sub(1)).rev() {
                        if ids.contains(&ids_order[i]) && !ids.contains(&ids_order[i + 1]) {
                            ids_order.swap(i, i + 1);
                        }
                    }
                }
            }
            for (pos, id) in ids_order.iter().enumerate() {
                if let Some(e) = inner.torrents.get_mut(id) {
                    if e.rec.queue_position != pos as u64 {
                        e.rec.queue_position = pos as u64;
                        e.dirty = true;
                    }
                }
            }
            inner.next_queue = ids_order.len() as u64;
        }
        self.schedule();
        Ok(())
    }

    /// Start what the queue allows.
    pub fn schedule(self: &Arc<Self>) {
        let settings = self.settings();
        let mut inner = self.lock();
        let (mut downloads, mut seeds) = (0u32, 0u32);
        for e in inner.torrents.values() {
            match &e.run {
                Run::Starting | Run::Metadata => downloads += 1,
                Run::Running(_) if e.rec.done_at.is_some() => seeds += 1,
                Run::Running(_) => downloads += 1,
                _ => {}
            }
        }
        let mut waiting: Vec<(u64, u64)> = inner
            .torrents
            .values()
            .filter(|e| matches!(e.run, Run::Queued))
            .map(|e| (e.rec.queue_position, e.rec.id))
            .collect();
        waiting.sort_unstable();
        for (_, id) in waiting {
            let Some(e) = inner.torrents.get_mut(&id) else {
                continue;
            };
            let seeding = e.rec.done_at.is_some();
            let (count, limit) = if seeding {
                (&mut seeds, settings.max_active_seeds)
            } else {
                (&mut downloads, settings.max_active_downloads)
            };
            if !e.force && limit.is_some_and(|l| *count >= l) {
                continue;
            }
            *count += 1;
            e.generation += 1;
            e.run = if e.torrent.is_some() {
                Run::Starting
            } else {
                Run::Metadata
            };
            e.changed();
            let state = e.state();
            self.emit(Event::state(&e.rec, state));
            tokio::spawn(start_task(self.clone(), id, e.generation, false));
        }
    }

    fn schedule_check_only(self: &Arc<Self>, id: u64, stop_after: bool) {
        let mut inner = self.lock();
        if let Some(e) = inner.torrents.get_mut(&id) {
            e.generation += 1;
            e.run = if e.torrent.is_some() {
                Run::Starting
            } else {
                Run::Metadata
            };
            e.changed();
            tokio::spawn(start_task(self.clone(), id, e.generation, stop_after));
        }
    }

    /// Once a second: fold engine stats into the records, notice
    /// completions and errors, apply seeding limits, fill queue slots, and
    /// save changed records every few ticks.
    /// `save_all` also saves records that did not change (their seeding
    /// and downloading seconds).
    pub async fn tick(self: &Arc<Self>, save: bool, save_all: bool) {
        let settings = self.settings();
        let now = now_unix();
        let mut to_finish = Vec::new();
        {
            let mut inner = self.lock();
            for e in inner.torrents.values_mut() {
                let Run::Running(h) = &e.run else { continue };
                if let Some(err) = h.error() {
                    let msg = err.to_string();
                    warn!(id = e.rec.id, error = %msg, "torrent stopped by an error");
                    let stats = h.stats();
                    e.fold_stats(&stats);
                    e.run = Run::Error(msg.clone());
                    e.changed();
                    self.emit(Event::error(&e.rec, &msg));
                    continue;
                }
                let stats = h.stats();
                let moved = e.last_stats.as_ref().is_none_or(|old| {
                    old.downloaded != stats.downloaded || old.uploaded != stats.uploaded
                });
                if moved {
                    e.rec.activity_at = now;
                    // Only torrents that moved data are saved again (a
                    // seedbox of idle torrents writes nothing).
                    e.dirty = true;
                }
                e.fold_stats(&stats);
                if stats.complete {
                    e.rec.seconds_seeding += 1;
                    if e.rec.done_at.is_none() {
                        e.rec.done_at = Some(now);
                        e.changed();
                        info!(id = e.rec.id, name = %e.rec.name, "torrent completed");
                        self.emit(Event::completed(&e.rec));
                    }
                    if seed_limit_reached(e, &settings, now) {
                        to_finish.push(e.rec.id);
                    }
                } else {
                    e.rec.seconds_downloading += 1;
                }
                e.last_stats = Some(stats);
            }
            if save_all {
                for e in inner.torrents.values_mut() {
                    e.dirty = true;
                }
            }
            if save || save_all {
                for e in inner.torrents.values_mut() {
                    if std::mem::take(&mut e.dirty) {
                        if let Err(err) = self.store.save_record(&e.rec) {
                            warn!(error = %err, "cannot save a torrent record");
                        }
                    }
                }
            }
        }
        for id in to_finish {
            info!(id, "seeding limit reached: stopping");
            let _ = self.stop_inner(id, true, true).await;
        }
        self.schedule();
    }

    /// Stop every torrent (saving resume data and records) and close the
    /// session.
    pub async fn shutdown(self: &Arc<Self>) {
        let handles: Vec<(u64, TorrentHandle)> = {
            let mut inner = self.lock();
            let mut out = Vec::new();
            for e in inner.torrents.values_mut() {
                e.generation += 1;
                if let Run::Running(h) = std::mem::replace(&mut e.run, Run::Stopped) {
                    e.fold_stats(&h.stats());
                    out.push((e.rec.id, h));
                }
                if let Err(err) = self.store.save_record(&e.rec) {
                    warn!(error = %err, "cannot save a torrent record");
                }
            }
            out
        };
        let stops = handles
            .into_iter()
            .map(|(_, h)| async move { h.stop().await });
        futures_util::future::join_all(stops).await;
        self.session.close();
    }
}

/// Refuse a torrent whose name is not a plain file name (the storage
/// refuses it too; failing here gives a clear message before anything is
/// stored).
fn check_torrent_paths(t: &Torrent) -> Result<(), DaemonError> {
    let bad = t.name.is_empty()
        || t.name == "."
        || t.name == ".."
        || t.name.contains('/')
        || t.name.contains('\0');
    if bad {
        return Err(DaemonError::BadRequest(format!(
            "invalid torrent: name {:?} is not a plain file name",
            t.name
        )));
    }
    Ok(())
}

fn seed_limit_reached(e: &Entry, settings: &Settings, now: i64) -> bool {
    let s = &e.rec.settings;
    let ratio_limit = match s.seed_ratio_mode {
        LimitMode::Global => settings.seed_ratio_limit,
        LimitMode::Single => s.seed_ratio_limit,
        LimitMode::Unlimited => None,
    };
    if let Some(limit) = ratio_limit {
        let base = e.rec.downloaded_ever.max(
            e.torrent
                .as_ref()
                .map_or(0, |t| t.layout.total_length)
                .min(e.rec.downloaded_ever.max(1)),
        );
        if base > 0 && e.rec.uploaded_ever as f64 / base as f64 >= limit {
            return true;
        }
    }
    let idle_limit = match s.seed_idle_mode {
        LimitMode::Global => settings.seed_idle_limit,
        LimitMode::Single => s.seed_idle_limit,
        LimitMode::Unlimited => None,
    };
    if let Some(minutes) = idle_limit {
        let since = e.rec.activity_at.max(e.rec.done_at.unwrap_or(0));
        if now - since >= (minutes as i64) * 60 {
            return true;
        }
    }
    false
}

impl Entry {
    fn new(rec: Record, torrent: Option<Arc<Torrent>>, run: Run) -> Entry {
        Entry {
            base_down: rec.downloaded_ever,
            base_up: rec.uploaded_ever,
            rec,
            torrent,
            run,
            generation: 0,
            force: false,
            busy: Arc::new(tokio::sync::Mutex::new(())),
            last_stats: None,
            changed_at: Instant::now(),
            dirty: false,
            check_progress: Arc::new(AtomicU64::new(0)),
        }
    }

    fn changed(&mut self) {
        self.changed_at = Instant::now();
        self.dirty = true;
    }

    fn fold_stats(&mut self, s: &TorrentStats) {
        self.rec.downloaded_ever = self.base_down + s.downloaded;
        self.rec.uploaded_ever = self.base_up + s.uploaded;
    }

    fn state(&self) -> State {
        match &self.run {
            Run::Stopped => State::Paused,
            Run::Queued => State::Queued,
            Run::Starting => State::Checking,
            Run::Metadata => State::Metadata,
            Run::Error(_) => State::Error,
            Run::Running(_) => match &self.last_stats {
                Some(s) if s.complete => State::Seeding,
                None if self.rec.done_at.is_some() => State::Seeding,
                _ => State::Downloading,
            },
        }
    }

    fn view(&self) -> TorrentView {
        let (have_bytes, have_pieces, download_rate, upload_rate, peers, peers_seen) =
            match (&self.run, &self.last_stats) {
                (Run::Running(_), Some(s)) => (
                    s.bytes_have,
                    s.pieces_have,
                    s.download_rate,
                    s.upload_rate,
                    s.peers,
                    s.peers_seen,
                ),
                (_, Some(s)) => (s.bytes_have, s.pieces_have, 0, 0, 0, 0),
                (_, None) if self.rec.done_at.is_some() => (
                    self.torrent.as_ref().map_or(0, |t| t.layout.total_length),
                    self.torrent.as_ref().map_or(0, |t| t.layout.piece_count),
                    0,
                    0,
                    0,
                    0,
                ),
                _ => (0, 0, 0, 0, 0, 0),
            };
        TorrentView {
            id: self.rec.id,
            rec: self.rec.clone(),
            torrent: self.torrent.clone(),
            state: self.state(),
            error: match &self.run {
                Run::Error(e) => Some(e.clone()),
                _ => None,
            },
            have_bytes,
            have_pieces,
            download_rate,
            upload_rate,
            peers,
            peers_seen,
            checked_bytes: self
                .check_progress
                .load(std::sync::atomic::Ordering::Relaxed),
            changed_at: self.changed_at,
        }
    }
}

/// Bring a torrent up: fetch a magnet's metadata if needed, then add it to
/// the engine (which checks the data, trusting the resume file). Gives up
/// quietly when the torrent was stopped or removed meanwhile.
async fn start_task(reg: Arc<Registry>, id: u64, generation: u64, stop_after: bool) {
    let current = |reg: &Registry| {
        reg.lock()
            .torrents
            .get(&id)
            .is_some_and(|e| e.generation == generation)
    };
    // The metadata of a magnet link.
    loop {
        let (torrent, magnet) = {
            let inner = reg.lock();
            let Some(e) = inner.torrents.get(&id) else {
                return;
            };
            if e.generation != generation {
                return;
            }
            (e.torrent.clone(), e.rec.magnet.clone())
        };
        if torrent.is_some() {
            break;
        }
        let Some(m) = magnet.and_then(|m| Magnet::parse(&m).ok()) else {
            reg.fail(id, generation, "no metainfo and no magnet link".into());
            return;
        };
        match reg
            .session
            .fetch_magnet(&m, &[], true, Duration::from_secs(60))
            .await
        {
            Ok(t) => {
                let mut inner = reg.lock();
                let Some(e) = inner.torrents.get_mut(&id) else {
                    return;
                };
                if let Err(err) = check_torrent_paths(&t) {
                    drop(inner);
                    reg.fail(id, generation, err.to_string());
                    return;
                }
                e.rec.name = t.name.clone();
                e.rec.trackers = t.trackers.clone();
                if let Err(err) = reg
                    .store
                    .save_meta(&e.rec.info_hash, &StoredMeta::Info(t.info_bytes.clone()))
                    .and_then(|_| reg.store.save_record(&e.rec))
                {
                    warn!(id, error = %err, "cannot store the fetched metadata");
                }
                e.torrent = Some(Arc::new(t));
                if e.generation == generation {
                    e.run = Run::Starting;
                }
                e.changed();
                reg.emit(Event::metadata(&e.rec));
            }
            Err(err) => {
                if !current(&reg) {
                    return;
                }
                warn!(id, error = %err, "metadata not fetched yet; trying again");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
    let (busy, torrent, dir, progress) = {
        let inner = reg.lock();
        let Some(e) = inner.torrents.get(&id) else {
            return;
        };
        let Some(t) = e.torrent.clone() else { return };
        (
            e.busy.clone(),
            t,
            e.rec.download_dir.clone(),
            e.check_progress.clone(),
        )
    };
    let _turn = busy.lock().await;
    if !current(&reg) {
        return;
    }
    progress.store(0, std::sync::atomic::Ordering::Relaxed);
    let opts = AddTorrentOptions {
        dir: dir.clone(),
        use_trackers: true,
        check_progress: Some(progress),
        ..AddTorrentOptions::default()
    };
    let created = tokio::fs::create_dir_all(&dir).await;
    let result = match created {
        Ok(()) => reg
            .session
            .add_torrent((*torrent).clone(), opts)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("cannot create {}: {e}", dir.display())),
    };
    match result {
        Ok((handle, report)) => {
            let stats = handle.stats();
            let keep = {
                let mut inner = reg.lock();
                match inner.torrents.get_mut(&id) {
                    Some(e) if e.generation == generation && !stop_after => {
                        info!(
                            id,
                            verified = report.verified_pieces,
                            rechecked = report.rechecked_pieces,
                            "torrent running"
                        );
                        e.base_down = e.rec.downloaded_ever;
                        e.base_up = e.rec.uploaded_ever;
                        e.last_stats = Some(stats);
                        e.run = Run::Running(handle.clone());
                        e.changed();
                        let state = e.state();
                        reg.emit(Event::state(&e.rec, state));
                        true
                    }
                    Some(e) if e.generation == generation => {
                        e.last_stats = Some(stats);
                        if stats_complete(&e.last_stats) && e.rec.done_at.is_none() {
                            e.rec.done_at = Some(now_unix());
                        }
                        e.run = Run::Stopped;
                        e.rec.paused = true;
                        e.changed();
                        false
                    }
                    Some(e) => {
                        e.last_stats = Some(stats);
                        false
                    }
                    None => false,
                }
            };
            if !keep {
                handle.stop().await;
            }
        }
        Err(msg) => {
            drop(_turn);
            reg.fail(id, generation, msg);
        }
    }
}

fn stats_complete(s: &Option<TorrentStats>) -> bool {
    s.as_ref().is_some_and(|s| s.complete)
}

impl Registry {
    fn fail(self: &Arc<Self>, id: u64, generation: u64, msg: String) {
        let mut inner = self.lock();
        if let Some(e) = inner.torrents.get_mut(&id) {
            if e.generation == generation {
                warn!(id, error = %msg, "torrent failed to start");
                e.run = Run::Error(msg.clone());
                e.changed();
                self.emit(Event::error(&e.rec, &msg));
            }
        }
    }
}

/// Delete the resume file of a torrent (so the next start rechecks all).
fn remove_resume(t: &Torrent, dir: &Path) {
    let _ = std::fs::remove_file(shoal_engine::resume::resume_path(dir, &t.info_hash));
}

/// Delete a torrent's files and the folders they leave empty (never above
/// the download directory).
fn delete_content(t: &Torrent, dir: &Path) {
    let base = shoal_metainfo::content_base(t, dir);
    for f in &t.layout.files {
        let mut p = base.clone();
        p.extend(&f.path);
        let _ = std::fs::remove_file(&p);
        let mut parent = p.parent().map(Path::to_path_buf);
        while let Some(d) = parent {
            if !d.starts_with(&base) || d == dir || std::fs::remove_dir(&d).is_err() {
                break;
            }
            parent = d.parent().map(Path::to_path_buf);
        }
    }
}

/// Move a torrent's files from `old` to `new` (rename, or copy and delete
/// across file systems), then its resume file.
fn move_content(t: &Torrent, old: &Path, new: &Path) -> Result<(), DaemonError> {
    let from_base = shoal_metainfo::content_base(t, old);
    let to_base = shoal_metainfo::content_base(t, new);
    let io = |what: &Path, e: std::io::Error| {
        DaemonError::Io(format!("cannot move {}: {e}", what.display()))
    };
    for f in &t.layout.files {
        let mut from = from_base.clone();
        from.extend(&f.path);
        let mut to = to_base.clone();
        to.extend(&f.path);
        if !from.exists() {
            continue;
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        if std::fs::rename(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|e| io(&from, e))?;
            std::fs::remove_file(&from).map_err(|e| io(&from, e))?;
        }
    }
    delete_content(t, old);
    let from = shoal_engine::resume::resume_path(old, &t.info_hash);
    let to = shoal_engine::resume::resume_path(new, &t.info_hash);
    if from.exists() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        if std::fs::rename(&from, &to).is_err() {
            // The recheck finds the data anyway.
            let _ = std::fs::remove_file(&from);
        }
    }
    Ok(())
}
