//! Peer connections: the sans-I/O protocol state ([`state`]) and the tokio
//! tasks that drive it ([`task`]).

pub mod state;
pub(crate) mod task;

pub use state::{Effect, PeerConfig, PeerError, PeerState};
pub(crate) use task::{accept, connect};
