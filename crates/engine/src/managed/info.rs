//! Snapshots the session hands out: a torrent's summary, its files,
//! peers, trackers and pieces, and the session's totals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use shoal_metainfo::InfoHash;

use super::types::{FilePriority, TorrentId, TorrentSettings, TorrentStatus};

/// A torrent as listed: identity, state, progress, rates, totals.
#[derive(Debug, Clone, PartialEq)]
pub struct TorrentSummary {
    /// Its id.
    pub id: TorrentId,
    /// Its v1 info-hash.
    pub info_hash: InfoHash,
    /// Its name.
    pub name: String,
    /// What it is doing.
    pub status: TorrentStatus,
    /// Why it stopped, when `status` is [`TorrentStatus::Error`].
    pub error: Option<String>,
    /// The download directory (the content is under its name there).
    pub download_dir: PathBuf,
    /// The torrent's metadata is known (false while a magnet link fetches
    /// it: sizes are 0 meanwhile).
    pub has_metadata: bool,
    /// Size of every file.
    pub total_size: u64,
    /// Size of the wanted files' pieces.
    pub wanted_size: u64,
    /// Bytes of verified pieces.
    pub have_bytes: u64,
    /// Bytes of wanted pieces not verified yet.
    pub left_until_done: u64,
    /// Verified share of the wanted bytes, 0.0 to 1.0.
    pub progress: f64,
    /// Pieces verified.
    pub pieces_have: u32,
    /// Pieces in the torrent.
    pub piece_count: u32,
    /// Piece length.
    pub piece_length: u64,
    /// Download rate now, bytes/s.
    pub download_rate: u64,
    /// Upload rate now, bytes/s.
    pub upload_rate: u64,
    /// Payload downloaded over the torrent's life in this session.
    pub downloaded: u64,
    /// Payload uploaded over the torrent's life in this session.
    pub uploaded: u64,
    /// `uploaded` / size of the wanted data (0 before metadata).
    pub ratio: f64,
    /// Connected peers.
    pub peers: usize,
    /// Estimated seconds until done at the current rate (`None`: unknown
    /// or done).
    pub eta: Option<Duration>,
    /// Its queue place (0 first).
    pub queue_position: u32,
    /// When it was added.
    pub added_at: SystemTime,
    /// When every wanted piece was first verified.
    pub done_at: Option<SystemTime>,
    /// Time spent downloading.
    pub seconds_downloading: u64,
    /// Time spent seeding.
    pub seconds_seeding: u64,
    /// Its settings (labels, limits, seeding goals, sequential).
    pub settings: TorrentSettings,
    /// Private torrent (BEP 27).
    pub private: bool,
    /// The torrent's comment.
    pub comment: Option<String>,
    /// The torrent's creator.
    pub created_by: Option<String>,
    /// The torrent's creation date (Unix seconds).
    pub creation_date: Option<i64>,
    /// Tracker tiers.
    pub trackers: Vec<Vec<String>>,
    /// A magnet link for it.
    pub magnet: String,
}

/// One file of a torrent.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// Its index in the torrent.
    pub index: usize,
    /// Path relative to the download directory (with the torrent's folder
    /// for a multi-file torrent), `/`-separated.
    pub path: String,
    /// Its length.
    pub length: u64,
    /// Bytes of it in verified pieces.
    pub have: u64,
    /// Whether and how early it is downloaded.
    pub priority: FilePriority,
}

/// One connected peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    /// Its address (its listening address when it told us).
    pub address: SocketAddr,
    /// Its client name.
    pub client: String,
    /// We dialed it.
    pub outgoing: bool,
    /// Download rate from it, bytes/s.
    pub download_rate: u64,
    /// Upload rate to it, bytes/s.
    pub upload_rate: u64,
    /// Payload received from it.
    pub downloaded: u64,
    /// Payload sent to it.
    pub uploaded: u64,
    /// Its share of the pieces, 0.0 to 1.0.
    pub progress: f64,
    /// We are interested in it.
    pub am_interested: bool,
    /// We choke it.
    pub am_choking: bool,
    /// It is interested in us.
    pub peer_interested: bool,
    /// It chokes us.
    pub peer_choking: bool,
}

/// One tracker of a torrent.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerInfo {
    /// Its URL.
    pub url: String,
    /// Its tier (0 first).
    pub tier: usize,
    /// It answered the last announce.
    pub is_current: bool,
    /// When the last announce to the torrent's trackers ended.
    pub last_announce: Option<SystemTime>,
    /// Whether it succeeded, and with how many peers (for the current
    /// tracker), or why not.
    pub last_result: Option<Result<usize, String>>,
    /// When the next announce is due.
    pub next_announce: Option<SystemTime>,
}

/// Which pieces a torrent has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceMap {
    /// Pieces in the torrent.
    pub piece_count: u32,
    /// Pieces verified.
    pub have: u32,
    /// BEP 3 bitfield (most significant bit first) of the verified pieces.
    pub bitfield: Vec<u8>,
}

/// The whole session's figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionStats {
    /// Torrents in the session.
    pub torrents: usize,
    /// Torrents running (checking, fetching metadata, downloading or
    /// seeding).
    pub active: usize,
    /// Paused torrents.
    pub paused: usize,
    /// Queued torrents.
    pub queued: usize,
    /// Torrents seeding.
    pub seeding: usize,
    /// Torrents downloading.
    pub downloading: usize,
    /// Torrents in error.
    pub errored: usize,
    /// Download rate over every torrent, bytes/s.
    pub download_rate: u64,
    /// Upload rate over every torrent, bytes/s.
    pub upload_rate: u64,
    /// Payload downloaded since the session started (torrents removed
    /// meanwhile included).
    pub downloaded: u64,
    /// Payload uploaded since the session started.
    pub uploaded: u64,
    /// Connected peers over every torrent.
    pub peers: usize,
    /// Time since the session started.
    pub uptime: Duration,
}
