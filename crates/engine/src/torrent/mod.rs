//! One torrent in a session: its shared state, its housekeeping loop and
//! the [`TorrentHandle`] the application holds.

mod signal;

pub use shoal_swarm::torrent::{Contribution, PeerSource, SourceCounts};
pub(crate) use shoal_swarm::torrent::{Refusal, TorrentState};
pub(crate) use signal::PeerSignal;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use shoal_swarm::torrent::Action;
use shoal_swarm::PeerKey;

use shoal_metainfo::Torrent;
use shoal_wire::{ExtensionHandshake, PeerId};
use tokio::sync::{watch, Notify};
use tracing::{debug, error, info, warn};

use crate::picker::BlockRequest;
use crate::session::SessionShared;
use crate::storage::{StorageHandle, WriteOutcome};

/// Snapshot of a torrent's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentStats {
    /// Pieces verified on disk.
    pub pieces_have: u32,
    /// Pieces in the torrent.
    pub piece_count: u32,
    /// Bytes of verified pieces.
    pub bytes_have: u64,
    /// Total size of the torrent.
    pub total_length: u64,
    /// Payload bytes received (from peers and web seeds) and stored, this
    /// session.
    pub downloaded: u64,
    /// The part of `downloaded` that came from web seeds (BEP 19).
    pub web_seed_downloaded: u64,
    /// Payload bytes sent to peers, this session.
    pub uploaded: u64,
    /// Current download rate, bytes/s.
    pub download_rate: u64,
    /// Current upload rate, bytes/s.
    pub upload_rate: u64,
    /// Connected peers.
    pub peers: usize,
    /// Distinct peers connected so far.
    pub peers_seen: usize,
    /// Every piece is verified.
    pub complete: bool,
    /// Memory held by the torrent's peer bookkeeping (peer states with
    /// their outboxes and queues, addresses to dial, bans), in bytes.
    pub peer_memory: u64,
    /// Connected peers, by where their address came from.
    pub peers_by_source: SourceCounts,
    /// New addresses learned over the session, by source.
    pub learned_by_source: SourceCounts,
}

/// The torrent's pure state and the signals of its peers' tasks, under
/// one lock.
#[derive(Debug)]
pub(crate) struct Core {
    state: TorrentState,
    signals: HashMap<PeerKey, Arc<PeerSignal>>,
}

impl Core {
    /// A torrent's core, no peers connected.
    pub fn new(state: TorrentState) -> Core {
        Core {
            state,
            signals: HashMap::new(),
        }
    }
}

/// The locked state of a torrent. Dropping it carries out the actions the
/// state machine queued (wake a writer, close a connection), so no call
/// site can forget them.
pub(crate) struct StateGuard<'a>(MutexGuard<'a, Core>);

impl StateGuard<'_> {
    /// Tie a registered peer's tasks to its key.
    pub fn attach(&mut self, key: PeerKey, signal: Arc<PeerSignal>) {
        if self.0.state.peers.contains_key(&key) {
            self.0.signals.insert(key, signal);
        } else {
            signal.close();
        }
    }
}

impl Deref for StateGuard<'_> {
    type Target = TorrentState;
    fn deref(&self) -> &TorrentState {
        &self.0.state
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut TorrentState {
        &mut self.0.state
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        let core = &mut *self.0;
        if !core.state.has_actions() {
            return;
        }
        for action in core.state.drain_actions() {
            match action {
                Action::Wake(key) => {
                    if let Some(s) = core.signals.get(&key) {
                        s.wake.notify_one();
                    }
                }
                Action::Close(key) => {
                    if let Some(s) = core.signals.remove(&key) {
                        s.close();
                    }
                }
            }
        }
    }
}

/// Shared by the torrent's tasks.
#[derive(Debug)]
pub(crate) struct TorrentShared {
    pub torrent: Arc<Torrent>,
    pub info_hash: [u8; 20],
    pub session: Arc<SessionShared>,
    pub storage: StorageHandle,
    pub state: Mutex<Core>,
    /// Our extension handshake, sent to every peer supporting BEP 10.
    pub ext: ExtensionHandshake,
    pub half_open: AtomicUsize,
    /// Becomes true once every piece is verified.
    pub complete: watch::Sender<bool>,
    /// Becomes true when the torrent is stopping.
    pub stopping: watch::Sender<bool>,
    /// A fatal error (disk), if one happened.
    pub fatal: Mutex<Option<String>>,
    /// Wakes the housekeeping loop early (e.g. new candidates).
    pub poke: Notify,
    /// The torrent's own rate limits, and the reannounce signal.
    pub limits: TorrentLimits,
    /// What the last tracker announce gave.
    pub trackers: Mutex<TrackerLog>,
}

/// A torrent's own rate limits (unlimited until set), obeyed before the
/// session's, and the signal asking its announcers for an announce now.
#[derive(Debug)]
pub(crate) struct TorrentLimits {
    pub upload: Arc<crate::limiter::RateLimiter>,
    pub download: Arc<crate::limiter::RateLimiter>,
    /// Announce now (trackers and DHT), as soon as the loop sees it.
    pub reannounce: Notify,
}

impl Default for TorrentLimits {
    fn default() -> Self {
        TorrentLimits {
            upload: Arc::new(crate::limiter::RateLimiter::unlimited()),
            download: Arc::new(crate::limiter::RateLimiter::unlimited()),
            reannounce: Notify::new(),
        }
    }
}

/// The outcome of the last announce to the torrent's trackers.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrackerLog {
    /// The tracker that answered last (or was tried last).
    pub last_tracker: Option<String>,
    /// When the last announce ended.
    pub last_at: Option<std::time::SystemTime>,
    /// Peers it returned.
    pub last_peers: usize,
    /// Its error, if it failed.
    pub last_error: Option<String>,
    /// When the next announce is due.
    pub next_at: Option<std::time::SystemTime>,
    /// Announces that succeeded.
    pub successes: u64,
}

impl TorrentShared {
    /// Lock the state (a poisoned lock is recovered: every critical section
    /// leaves the state consistent between statements that can panic).
    pub fn lock(&self) -> StateGuard<'_> {
        StateGuard(match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        })
    }

    /// Our peer id.
    pub fn peer_id(&self) -> PeerId {
        self.session.peer_id
    }

    /// The limits a connection's uploads obey: the torrent's, then the
    /// session's.
    pub fn upload_throttle(&self) -> crate::limiter::Throttle {
        crate::limiter::Throttle::new(
            self.limits.upload.clone(),
            self.session.upload_limit.clone(),
        )
    }

    /// The limits a connection's downloads obey.
    pub fn download_throttle(&self) -> crate::limiter::Throttle {
        crate::limiter::Throttle::new(
            self.limits.download.clone(),
            self.session.download_limit.clone(),
        )
    }

    /// Whether the torrent is stopping.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Record a fatal error and stop the torrent.
    pub fn fail(&self, msg: String) {
        error!(error = %msg, "torrent stopped by an error");
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(msg);
        }
        self.stopping.send_replace(true);
        self.lock().shut_down(Instant::now());
    }

    /// Handle the outcome of writing a block.
    pub fn on_write(
        &self,
        block: BlockRequest,
        result: Result<WriteOutcome, crate::storage::StorageError>,
    ) {
        match result {
            Ok(WriteOutcome::Stored | WriteOutcome::Duplicate) => {}
            Ok(WriteOutcome::Verified) => {
                let complete = self.lock().on_piece_verified(block.piece, Instant::now());
                if complete {
                    self.complete.send_replace(true);
                    self.poke.notify_one();
                }
            }
            Ok(WriteOutcome::Failed) => {
                self.lock().on_piece_failed(block.piece, Instant::now());
            }
            Err(e) if e.is_peer_error() => {
                debug!(error = %e, "block refused by storage");
            }
            Err(e) => self.fail(format!("writing piece {}: {e}", block.piece)),
        }
    }

    /// Write a block; a block completing its piece is written from a task
    /// of its own so the caller's socket keeps flowing while it is hashed.
    pub async fn store(self: &Arc<Self>, block: BlockRequest, data: bytes::Bytes, completes: bool) {
        if completes {
            // Hashing takes a while: copy the block so the socket's receive
            // buffer it points into is not held meanwhile.
            let data = bytes::Bytes::copy_from_slice(&data);
            let this = self.clone();
            tokio::spawn(async move {
                let r = this
                    .storage
                    .write_block(block.piece, block.begin, data)
                    .await;
                this.on_write(block, r);
            });
        } else {
            let r = self
                .storage
                .write_block(block.piece, block.begin, data)
                .await;
            self.on_write(block, r);
        }
    }

    /// Current statistics.
    pub fn stats(&self) -> TorrentStats {
        let now = Instant::now();
        let st = self.lock();
        let layout = &self.torrent.layout;
        let have = st.picker.have();
        let mut bytes_have = have.count_ones() as u64 * layout.piece_length;
        let last = layout.piece_count.saturating_sub(1);
        if have.get(last as usize) {
            bytes_have = bytes_have - layout.piece_length + layout.piece_size(last);
        }
        TorrentStats {
            pieces_have: st.picker.num_have(),
            piece_count: layout.piece_count,
            bytes_have,
            total_length: layout.total_length,
            downloaded: st.downloaded,
            web_seed_downloaded: st.web_seed_downloaded(),
            uploaded: st.uploaded,
            download_rate: st.down_rate.rate(now),
            upload_rate: st.up_rate.rate(now),
            peers: st.peer_count(),
            peers_seen: st.peers_seen(),
            complete: st.is_complete(),
            peer_memory: st.peer_memory() as u64,
            peers_by_source: st.connected_by_source(),
            learned_by_source: st.learned_by_source(),
        }
    }

    /// Add peer addresses to dial: `explicit` ones are the user's,
    /// others a tracker's.
    pub fn add_peers(&self, addrs: &[SocketAddr], explicit: bool) {
        let source = if explicit {
            PeerSource::User
        } else {
            PeerSource::Tracker
        };
        self.add_peers_from(addrs, source);
    }

    /// Add peer addresses to dial, learned from `source`.
    pub fn add_peers_from(&self, addrs: &[SocketAddr], source: PeerSource) {
        let now = Instant::now();
        {
            let mut st = self.lock();
            for &a in addrs {
                if a.port() != 0 && !self.session.is_own_addr(a) {
                    st.add_candidate_from(a, source, now);
                }
            }
        }
        self.poke.notify_one();
    }
}

/// Interval of the housekeeping loop.
const TICK: Duration = Duration::from_millis(500);
/// How often resume data is saved while pieces arrive.
const RESUME_EVERY: Duration = Duration::from_secs(10);

/// The torrent's housekeeping: timeouts, choking, dialing, resume saves.
pub(crate) async fn run_housekeeping(t: Arc<TorrentShared>) {
    let mut stopping = t.stopping.subscribe();
    let mut last_save = Instant::now();
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = t.poke.notified() => {}
            _ = stopping.changed() => {}
        }
        if t.is_stopping() {
            break;
        }
        let now = Instant::now();
        let dial = {
            let mut st = t.lock();
            for (key, e) in st.tick(now) {
                debug!(?key, error = %e, "peer dropped");
            }
            let max_peers = t.session.config.max_peers;
            st.make_room(now, max_peers);
            t.storage
                .storage()
                .set_peers_may_ask(st.some_peer_lacks_pieces());
            let open = st.peer_count() + t.half_open.load(Ordering::Relaxed);
            let room = max_peers.saturating_sub(open);
            let half_open_room = t
                .session
                .config
                .max_half_open
                .saturating_sub(t.half_open.load(Ordering::Relaxed));
            // Each dial holds one of the session's connection slots.
            let mut dial = Vec::new();
            for addr in st.take_candidates(now, room.min(half_open_room)) {
                match t.session.reserve_connection() {
                    Some(slot) => dial.push((addr, slot)),
                    None => st.release_candidate(addr),
                }
            }
            dial
        };
        for (addr, slot) in dial {
            t.half_open.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(crate::peer::connect(t.clone(), addr, slot));
        }
        let save_due = {
            let st = t.lock();
            // Periodically, and as soon as the download completes.
            st.verified_since_save > 0
                && (now.duration_since(last_save) >= RESUME_EVERY || st.is_complete())
        };
        if save_due {
            last_save = now;
            save_resume(&t).await;
        }
    }
}

/// Write resume data now (errors are logged).
pub(crate) async fn save_resume(t: &TorrentShared) {
    t.lock().verified_since_save = 0;
    if let Err(e) = t.storage.save_resume().await {
        warn!(error = %e, "could not save resume data");
    }
}

/// The application's handle on a torrent in a [`crate::Session`].
#[derive(Debug, Clone)]
pub struct TorrentHandle {
    pub(crate) shared: Arc<TorrentShared>,
    pub(crate) tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl TorrentHandle {
    /// The torrent.
    pub fn torrent(&self) -> &Arc<Torrent> {
        &self.shared.torrent
    }

    /// Current statistics.
    pub fn stats(&self) -> TorrentStats {
        self.shared.stats()
    }

    /// The pieces verified on disk (for a piece map).
    pub fn verified_pieces(&self) -> crate::bitfield::Bitfield {
        self.shared.storage.verified()
    }

    /// Peers that sent us data, most first.
    pub fn contributions(&self) -> Vec<Contribution> {
        self.shared.lock().contributions()
    }

    /// The torrent's web seeds (BEP 19): bytes received, failures, status.
    pub fn web_seeds(&self) -> Vec<crate::WebSeedInfo> {
        self.shared.lock().web_seeds(Instant::now())
    }

    /// Add peers to connect to (`explicit` ones are retried for ever).
    pub fn add_peers(&self, addrs: &[SocketAddr], explicit: bool) {
        self.shared.add_peers(addrs, explicit);
    }

    /// Every connected peer: flags, rates, totals, share of the pieces.
    pub fn peer_reports(&self) -> Vec<shoal_swarm::torrent::PeerReport> {
        self.shared.lock().peer_reports(Instant::now())
    }

    /// Pieces under way and how many connected peers have each.
    pub fn piece_report(&self) -> shoal_swarm::torrent::PieceReport {
        self.shared.lock().piece_report()
    }

    /// Wait until every piece is verified. Fails if the torrent stops
    /// first (a fatal error, or [`TorrentHandle::stop`]).
    pub async fn wait_complete(&self) -> Result<(), crate::EngineError> {
        let mut complete = self.shared.complete.subscribe();
        let mut stopping = self.shared.stopping.subscribe();
        loop {
            if *complete.borrow_and_update() {
                return Ok(());
            }
            if *stopping.borrow_and_update() {
                return Err(self.error().unwrap_or(crate::EngineError::ShuttingDown));
            }
            tokio::select! {
                r = complete.changed() => if r.is_err() { return Err(crate::EngineError::ShuttingDown) },
                r = stopping.changed() => if r.is_err() { return Err(crate::EngineError::ShuttingDown) },
            }
        }
    }

    /// Wait until the torrent stops (by an error or [`TorrentHandle::stop`]).
    pub async fn wait_stopped(&self) -> Result<(), crate::EngineError> {
        let mut stopping = self.shared.stopping.subscribe();
        while !*stopping.borrow_and_update() {
            if stopping.changed().await.is_err() {
                break;
            }
        }
        match self.error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The fatal error that stopped the torrent, if any.
    pub fn error(&self) -> Option<crate::EngineError> {
        let f = self.shared.fatal.lock().ok()?;
        f.clone().map(crate::EngineError::Fatal)
    }

    /// Stop: close every connection, save resume data, send the tracker
    /// `stopped` (waiting at most a few seconds for it).
    pub async fn stop(&self) {
        let cache = self.shared.storage.cache_stats();
        info!(
            peak_cache = cache.peak_bytes,
            spilled = cache.spilled_bytes,
            "stopping torrent"
        );
        self.shared.stopping.send_replace(true);
        self.shared.lock().shut_down(Instant::now());
        save_resume(&self.shared).await;
        let tasks: Vec<_> = match self.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.shared.session.remove_torrent(&self.shared.info_hash);
    }
}
