//! Which transports carry peer connections: TCP, uTP (BEP 29), or both.

pub use shoal_swarm::torrent::Transport;

/// Which transports the session uses for peer connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportMode {
    /// TCP only: peers are dialed over TCP and incoming uTP connections are
    /// refused (the UDP port still serves the DHT).
    Tcp,
    /// uTP only: peers are dialed over uTP and incoming TCP connections are
    /// refused (the TCP port stays bound, holding the listen port).
    Utp,
    /// Both, as libtorrent does: a peer is dialed over uTP first, and over
    /// TCP too once the uTP attempt fails or has not connected within
    /// [`crate::SessionConfig::utp_fallback`]; whichever connects first
    /// carries the connection. Incoming connections are taken on both.
    #[default]
    Both,
}

impl TransportMode {
    /// Whether uTP connections are made and taken.
    pub fn uses_utp(self) -> bool {
        matches!(self, TransportMode::Utp | TransportMode::Both)
    }

    /// Whether TCP connections are made and taken.
    pub fn uses_tcp(self) -> bool {
        matches!(self, TransportMode::Tcp | TransportMode::Both)
    }
}
