//! Shoal's pure BitTorrent core.
//!
//! Everything here is a *sans-I/O* state machine: no sockets, no async
//! runtime, no filesystem and no clock of its own. Time is always passed in
//! as a [`std::time::Instant`], and randomness comes from a seeded RNG, so
//! every behaviour is reproducible in tests and in the swarm simulator.
//!
//! * [`bitfield`] — BEP 3 piece bitfields.
//! * [`picker`] — which blocks to request from which peer (rarest first,
//!   endgame, smart-ban bookkeeping).
//! * [`choker`] — whom to upload to (tit-for-tat, optimistic unchoke,
//!   anti-snubbing).
//! * [`rate`] — sliding-window rate estimation and token buckets.
//! * [`peer`] — the protocol state of one connection.
//! * [`lsd`] — local service discovery (BEP 14): messages and schedule.
//! * [`pex`] — peer exchange (BEP 11): messages and per-peer bounds.
//! * [`torrent`] — one torrent's peers, bans, smart-ban and super-seeding.
//! * [`queue`] — a multi-torrent session's queueing and seeding goals.
//! * [`ut_metadata`] — BEP 9 metadata messages; [`ut_metadata_fetch`]
//!   assembles the info dictionary of a magnet link from several peers.
//! * [`hash_request`] — BEP 52 hash requests: answering them from piece
//!   layers, and fetching a magnet link's piece layers with proofs.
//! * [`webseed`] — web seeds (BEP 19): HTTP sources taking blocks through
//!   the picker like peers, backed off and dropped when they fail.
//!
//! The engine (`shoal-engine`) drives these with sockets and storage.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod bitfield;
pub mod choker;
pub mod fixed_hash;
pub mod hash_request;
pub mod lsd;
pub mod peer;
pub mod pex;
pub mod picker;
pub mod queue;
pub mod rate;
pub mod sim;
pub mod torrent;
pub mod ut_metadata;
pub mod ut_metadata_fetch;
pub mod webseed;

/// Opaque identifier of a connected peer, chosen by the caller.
///
/// The state machines never interpret the value; they only compare and
/// hash it. A session typically uses a connection counter, never reusing a
/// key while the old connection's state may still be referenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey(pub u64);
