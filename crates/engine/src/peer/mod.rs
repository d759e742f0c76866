//! Peer connections: the sans-I/O protocol state ([`state`]), how
//! connections are established (`connect`) and the tokio tasks that drive
//! an established one (`task`).

mod connect;
pub mod state;
mod task;

pub(crate) use connect::{accept, connect, DEFAULT_HANDSHAKE_TIMEOUT};
pub use state::{Effect, PeerConfig, PeerError, PeerState};
