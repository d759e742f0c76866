//! Shoal's BitTorrent engine: the tokio driver around the pure core
//! ([`shoal_swarm`]), with sockets, storage, trackers, the DHT and a
//! multi-torrent [`Session`] an application embeds.
//!
//! # Embedding
//!
//! A [`Session`] listens on one port and runs any number of torrents,
//! sharing its connection limits, rate limiters and DHT node:
//!
//! * [`Session::start`] binds the port ([`SessionConfig`]); the session's
//!   changeable settings (download directory, global and alternative
//!   "turtle" rate limits, queue sizes, seeding goals) are
//!   [`SessionSettings`], read with [`Session::settings`] and changed with
//!   [`Session::set_settings`].
//! * [`Session::add`] takes a [`TorrentSource`] (`.torrent` bytes or file,
//!   magnet link, parsed [`Torrent`](shoal_metainfo::Torrent)) and
//!   [`AddOptions`], and returns the torrent's [`TorrentId`] at once; the
//!   torrent is then checked and run in the background.
//! * Operations by id: [`Session::pause`], [`Session::resume`],
//!   [`Session::start_now`] (bypasses the queue), [`Session::remove`]
//!   (with or without its data), [`Session::recheck`],
//!   [`Session::reannounce`], [`Session::move_data`],
//!   [`Session::update_torrent`] (per-torrent limits, seeding goals,
//!   sequential mode, labels), [`Session::set_file_priority`] (file
//!   selection and priorities), [`Session::queue_move`].
//! * Reading: [`Session::list`] / [`Session::get`] ([`TorrentSummary`]:
//!   status, progress, rates, ratio, eta, error...), [`Session::files`],
//!   [`Session::peers`], [`Session::trackers`], [`Session::pieces`],
//!   [`Session::stats`] (the whole session), [`Session::ids`] and
//!   [`Session::find`] (by info-hash).
//! * [`Session::subscribe`] gives a [`tokio::sync::broadcast`] receiver of
//!   [`SessionEvent`]s: added, metadata received, state changed,
//!   completed, error, removed.
//! * [`Session::shutdown`] stops every torrent, tells the trackers and
//!   saves resume data; dropping the session stops every torrent and
//!   saves resume data without waiting for trackers.
//!
//! Queueing: at most [`SessionSettings::max_active_downloads`] torrents
//! download and [`SessionSettings::max_active_seeds`] seed at once, in
//! queue order; the others are [`TorrentStatus::Queued`]. A seeding
//! torrent that reaches its ratio or idle goal is paused.
//!
//! ```no_run
//! use shoal_engine::{AddOptions, EventKind, Session, SessionConfig, TorrentSource};
//!
//! # async fn run() -> Result<(), shoal_engine::EngineError> {
//! let session = Session::start(SessionConfig::default()).await?;
//! let mut events = session.subscribe();
//! let id = session
//!     .add(
//!         TorrentSource::Magnet("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a".into()),
//!         AddOptions {
//!             download_dir: Some("/srv/downloads".into()),
//!             labels: vec!["tv".into()],
//!             ..AddOptions::default()
//!         },
//!     )
//!     .await?;
//! while let Ok(event) = events.recv().await {
//!     let summary = session.get(event.id)?;
//!     println!("{} {:?}: {:.0}%", event.name, event.kind, summary.progress * 100.0);
//!     if event.id == id && event.kind == EventKind::Completed {
//!         break;
//!     }
//! }
//! session.pause(id).await?;
//! session.remove(id, false).await?;
//! session.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! A program that runs a single torrent directly (the `shoal download`
//! command) may use [`Session::add_torrent`] instead, which returns a
//! [`TorrentHandle`] once the data is checked; such torrents are not in
//! the session's list.
//!
//! # Lower-level building blocks
//!
//! [`storage`] (a torrent's data on disk: bounded write cache, hashing,
//! never outside its directory) and [`resume`] (the resume file format)
//! are public for tools and tests that work on data without a session.
//! Web seeds (BEP 19) are configured through
//! [`SessionConfig::web_seed`] and reported as [`WebSeedInfo`].

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod announce;
mod dht_announce;
mod error;
mod hash_exchange;
mod layer_fetch;
mod limiter;
mod listen;
mod lsd;
mod managed;
mod metadata_fetch;
mod peer;
pub mod resume;
mod session;
pub mod storage;
mod swarm_hashes;
mod torrent;
pub mod webseed;

pub use shoal_swarm::bitfield;
pub(crate) use shoal_swarm::{choker, picker, PeerKey};

pub use error::EngineError;
pub use managed::info::{FileInfo, PeerInfo, PieceMap, SessionStats, TorrentSummary, TrackerInfo};
pub use managed::types::{
    AddOptions, EventKind, FilePriority, Limit, QueueMove, SessionEvent, SessionSettings,
    TorrentId, TorrentSettings, TorrentSource, TorrentStatus, TorrentUpdate,
};
pub use session::{AddTorrentOptions, Session, SessionConfig};
pub use shoal_dht::DriverConfig as DhtConfig;
pub use shoal_mse::Policy as EncryptionPolicy;
pub use shoal_swarm::choker::ChokerConfig;
pub use shoal_swarm::peer::PeerConfig;
pub use shoal_swarm::torrent::Limits as PeerLimits;
pub use storage::StorageConfig;
pub use torrent::{Contribution, PeerSource, SourceCounts, TorrentHandle, TorrentStats};
pub use webseed::{WebSeedInfo, WebSeedSettings, WebSeedStatus};
