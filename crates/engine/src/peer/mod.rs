//! Peer connections: how they are established (`connect`) and the tokio
//! tasks that drive an established one (`task`). Their protocol state is
//! the pure core's [`shoal_swarm::peer`].

mod connect;
mod ext_addrs;
mod task;

pub(crate) use connect::{accept, connect, DEFAULT_HANDSHAKE_TIMEOUT};
pub(crate) use shoal_swarm::peer::{Effect, PeerConfig, PeerState};
