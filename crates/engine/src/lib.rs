//! Shoal BitTorrent session engine.
//!
//! The modules below are *sans-I/O* building blocks: pure state machines with
//! no sockets, no async runtime and no clock of their own. Time is always
//! passed in as a [`std::time::Instant`], and randomness comes from a seeded
//! RNG, so every behaviour is reproducible in tests.
//!
//! * [`bitfield`] — BEP 3 piece bitfields.
//! * [`picker`] — which blocks to request from which peer (rarest first,
//!   endgame, smart-ban bookkeeping).
//! * [`choker`] — whom to upload to (tit-for-tat, optimistic unchoke,
//!   anti-snubbing).
//! * [`rate`] — sliding-window transfer rate estimation.
//! * [`token_bucket`] — rate limiting.
//! * [`peer`] — the protocol state of one connection ([`peer::PeerState`])
//!   and the tokio tasks that drive it.
//!
//! On top of them, [`Session`] is the tokio engine: it listens for peers,
//! and for each torrent ([`TorrentHandle`]) dials tracker and user peers,
//! downloads with the picker, uploads under the choker, verifies through
//! [`storage`] and announces to trackers; [`webseed`] adds HTTP sources
//! (BEP 19).

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod announce;
mod dht_announce;
mod error;
mod hash_exchange;
mod layer_fetch;
pub mod limiter;
mod listen;
mod metadata_fetch;
pub mod peer;
pub mod resume;
mod session;
pub mod storage;
mod swarm_hashes;
pub mod torrent;
pub mod webseed;

pub use shoal_swarm::{bitfield, choker, picker, rate, ut_metadata, PeerKey};

pub use error::EngineError;
pub use session::{AddTorrentOptions, Session, SessionConfig};
pub use shoal_dht::DriverConfig as DhtConfig;
pub use shoal_mse::Policy as EncryptionPolicy;
pub use torrent::{Contribution, PeerSource, SourceCounts, TorrentHandle, TorrentStats};
pub use webseed::{WebSeedInfo, WebSeedSettings, WebSeedStatus};
