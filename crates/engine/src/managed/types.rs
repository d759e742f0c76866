//! The public vocabulary of the multi-torrent session: ids, what to add,
//! settings, states and events.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use shoal_metainfo::{InfoHash, Torrent};

pub use shoal_swarm::queue::QueueMove;

/// A torrent's id in its session: small, never reused by the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TorrentId(pub u64);

impl fmt::Display for TorrentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a torrent comes from.
#[derive(Debug, Clone)]
pub enum TorrentSource {
    /// The bytes of a `.torrent` file.
    Bytes(Vec<u8>),
    /// A `.torrent` file on this machine.
    File(PathBuf),
    /// A magnet link (`magnet:?xt=urn:btih:...`): the torrent is fetched
    /// from peers (trackers, DHT, `x.pe`) once it runs.
    Magnet(String),
    /// A parsed torrent.
    Torrent(Box<Torrent>),
}

/// How to add a torrent with [`crate::Session::add`].
#[derive(Debug, Clone)]
pub struct AddOptions {
    /// The download directory (the content goes under its own name
    /// there); `None`: the session's [`SessionSettings::download_dir`].
    pub download_dir: Option<PathBuf>,
    /// Add it stopped.
    pub paused: bool,
    /// Labels (free text, for the application).
    pub labels: Vec<String>,
    /// Peers to connect to, besides trackers and the DHT.
    pub peers: Vec<SocketAddr>,
    /// Announce to the torrent's trackers.
    pub use_trackers: bool,
    /// Download new pieces in index order.
    pub sequential: bool,
    /// Which files to download, by index (missing entries: wanted).
    pub files_wanted: Vec<bool>,
}

impl Default for AddOptions {
    fn default() -> Self {
        AddOptions {
            download_dir: None,
            paused: false,
            labels: Vec::new(),
            peers: Vec::new(),
            use_trackers: true,
            sequential: false,
            files_wanted: Vec::new(),
        }
    }
}

/// A torrent's own setting that may defer to the session's.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Limit<T> {
    /// Follow the session's setting.
    #[default]
    Global,
    /// This torrent's own value.
    Single(T),
    /// No limit for this torrent.
    Unlimited,
}

impl<T: Copy> Limit<T> {
    /// The effective value given the session's.
    pub fn resolve(&self, global: Option<T>) -> Option<T> {
        match self {
            Limit::Global => global,
            Limit::Single(v) => Some(*v),
            Limit::Unlimited => None,
        }
    }
}

/// A torrent's settings (see [`crate::Session::update_torrent`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TorrentSettings {
    /// Upload limit of this torrent, bytes/s (`None`: only the session's).
    pub upload_limit: Option<u64>,
    /// Download limit of this torrent, bytes/s.
    pub download_limit: Option<u64>,
    /// Stop seeding at this ratio (uploaded / size).
    pub seed_ratio: Limit<f64>,
    /// Stop seeding after this long without uploading.
    pub seed_idle: Limit<Duration>,
    /// Download new pieces in index order.
    pub sequential: bool,
    /// Labels.
    pub labels: Vec<String>,
}

/// A change to a torrent's settings: each `Some` field is applied.
#[derive(Debug, Clone, Default)]
pub struct TorrentUpdate {
    /// New upload limit (`Some(None)`: no limit of its own).
    pub upload_limit: Option<Option<u64>>,
    /// New download limit.
    pub download_limit: Option<Option<u64>>,
    /// New seed-ratio goal.
    pub seed_ratio: Option<Limit<f64>>,
    /// New seed-idle goal.
    pub seed_idle: Option<Limit<Duration>>,
    /// Sequential mode on or off.
    pub sequential: Option<bool>,
    /// New labels.
    pub labels: Option<Vec<String>>,
}

/// The session-wide settings (see [`crate::Session::set_settings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSettings {
    /// Where torrents go when added without a directory.
    pub download_dir: PathBuf,
    /// Global upload limit, bytes/s.
    pub upload_limit: Option<u64>,
    /// Global download limit, bytes/s.
    pub download_limit: Option<u64>,
    /// The alternative ("turtle") upload limit, in force while
    /// `alt_enabled`.
    pub alt_upload_limit: Option<u64>,
    /// The alternative download limit.
    pub alt_download_limit: Option<u64>,
    /// Use the alternative limits instead of the normal ones.
    pub alt_enabled: bool,
    /// Most torrents downloading at once (the rest wait, queued).
    pub max_active_downloads: Option<usize>,
    /// Most torrents seeding at once.
    pub max_active_seeds: Option<usize>,
    /// Stop seeding at this ratio (torrents whose goal is
    /// [`Limit::Global`]).
    pub seed_ratio_limit: Option<f64>,
    /// Stop seeding after this long without uploading.
    pub seed_idle_limit: Option<Duration>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            download_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            upload_limit: None,
            download_limit: None,
            alt_upload_limit: Some(50 * 1024),
            alt_download_limit: Some(50 * 1024),
            alt_enabled: false,
            max_active_downloads: None,
            max_active_seeds: None,
            seed_ratio_limit: None,
            seed_idle_limit: None,
        }
    }
}

impl SessionSettings {
    /// The upload and download limits in force.
    pub fn effective_limits(&self) -> (Option<u64>, Option<u64>) {
        if self.alt_enabled {
            (self.alt_upload_limit, self.alt_download_limit)
        } else {
            (self.upload_limit, self.download_limit)
        }
    }
}

/// What a torrent is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TorrentStatus {
    /// Wants to run, waiting for a download or seed slot.
    Queued,
    /// Hashing its data (at start, or asked to recheck).
    Checking,
    /// A magnet link fetching its torrent from peers.
    Metadata,
    /// Downloading.
    Downloading,
    /// Every wanted piece verified; uploading.
    Seeding,
    /// Stopped by the user (or by reaching its seeding goal).
    Paused,
    /// Stopped by an error (see [`TorrentSummary::error`]).
    Error,
}

impl TorrentStatus {
    /// Lower-case name (`queued`, `checking`, `metadata`, `downloading`,
    /// `seeding`, `paused`, `error`).
    pub fn as_str(&self) -> &'static str {
        match self {
            TorrentStatus::Queued => "queued",
            TorrentStatus::Checking => "checking",
            TorrentStatus::Metadata => "metadata",
            TorrentStatus::Downloading => "downloading",
            TorrentStatus::Seeding => "seeding",
            TorrentStatus::Paused => "paused",
            TorrentStatus::Error => "error",
        }
    }
}

impl fmt::Display for TorrentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a torrent (see [`crate::Session::subscribe`]).
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// It was added.
    Added,
    /// A magnet link's torrent arrived from peers.
    MetadataReceived,
    /// Its status changed.
    StateChanged(TorrentStatus),
    /// Every wanted piece is verified.
    Completed,
    /// It stopped on an error.
    Error(String),
    /// It was removed.
    Removed,
}

/// An event of the session, about one torrent.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    /// The torrent.
    pub id: TorrentId,
    /// Its v1 info-hash.
    pub info_hash: InfoHash,
    /// Its name (the magnet's display name or hash before metadata).
    pub name: String,
    /// What happened.
    pub kind: EventKind,
}

/// Whether a file is downloaded, and before or after the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilePriority {
    /// Not downloaded: its pieces are not fetched (except those it shares
    /// with wanted files) and it is not written beyond them.
    Skip,
    /// After the normal ones.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before the others.
    High,
}

impl FilePriority {
    /// The picker's piece priority for this file priority.
    pub(crate) fn piece_priority(self) -> u8 {
        use shoal_swarm::picker::{PRIORITY_HIGH, PRIORITY_LOW, PRIORITY_NORMAL, PRIORITY_SKIP};
        match self {
            FilePriority::Skip => PRIORITY_SKIP,
            FilePriority::Low => PRIORITY_LOW,
            FilePriority::Normal => PRIORITY_NORMAL,
            FilePriority::High => PRIORITY_HIGH,
        }
    }
}
