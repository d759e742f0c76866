//! Peer connections: how they are established (`connect`; `utp` picks
//! the transport) and the tokio tasks that drive an established one
//! (`task`). Their protocol state is
//! the pure core's [`shoal_swarm::peer`].

mod connect;
mod ext_addrs;
mod task;
mod utp;

pub(crate) use connect::{accept, accept_encrypted, connect, DEFAULT_HANDSHAKE_TIMEOUT};
pub(crate) use shoal_swarm::peer::{Effect, PeerConfig, PeerState};
