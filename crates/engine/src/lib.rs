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

pub mod bitfield;
pub mod choker;
pub mod picker;
pub mod rate;
pub mod resume;
pub mod storage;
pub mod token_bucket;

/// Opaque identifier of a connected peer, chosen by the caller.
///
/// The engine's state machines never interpret the value; they only compare
/// and hash it. A session typically uses a connection counter, never reusing
/// a key while the old connection's state may still be referenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey(pub u64);
