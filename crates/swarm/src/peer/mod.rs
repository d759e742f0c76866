//! One peer connection's protocol state: [`PeerState`] takes decoded
//! messages and ticks and returns bytes to send and [`Effect`]s.

mod state;

pub use state::{Effect, PeerConfig, PeerError, PeerState};
