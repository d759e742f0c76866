//! Read-only pictures of a torrent for a user interface: each connected
//! peer's flags, rates, totals and progress, and per piece whether it is
//! being downloaded and how many connected peers have it.

use std::net::SocketAddr;
use std::time::Instant;

use super::state::TorrentState;

/// A connected peer as a status display shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerReport {
    /// Its address (its listening address when it told us).
    pub addr: SocketAddr,
    /// Its client's name.
    pub client: String,
    /// We dialed it (else it connected to us).
    pub outgoing: bool,
    /// Payload bytes per second received from it.
    pub download_rate: u64,
    /// Payload bytes per second sent to it.
    pub upload_rate: u64,
    /// Payload bytes received from it over this connection.
    pub downloaded: u64,
    /// Payload bytes sent to it over this connection.
    pub uploaded: u64,
    /// Share of the torrent's pieces it has, 0.0..=1.0.
    pub progress: f64,
    /// We choke it.
    pub am_choking: bool,
    /// We are interested in it.
    pub am_interested: bool,
    /// It chokes us.
    pub peer_choking: bool,
    /// It is interested in us.
    pub peer_interested: bool,
    /// It leaves our requests unanswered.
    pub snubbed: bool,
}

/// Per-piece picture of a torrent (index = piece).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceReport {
    /// Pieces with blocks requested or received but not yet verified.
    pub downloading: Vec<u32>,
    /// How many connected peers have each piece.
    pub availability: Vec<u32>,
}

impl TorrentState {
    /// Every connected peer, in no particular order.
    pub fn peer_reports(&self, now: Instant) -> Vec<PeerReport> {
        let count = self.picker.piece_count().max(1) as f64;
        self.peers
            .values()
            .map(|slot| {
                let st = &slot.state;
                let has = self
                    .picker
                    .peer_pieces(st.key())
                    .map_or(0, |b| b.count_ones());
                PeerReport {
                    addr: slot.public_addr(),
                    client: slot.client(),
                    outgoing: slot.outgoing,
                    download_rate: st.download_rate(now),
                    upload_rate: st.upload_rate(now),
                    downloaded: st.downloaded(),
                    uploaded: st.uploaded(),
                    progress: (has as f64 / count).min(1.0),
                    am_choking: st.am_choking(),
                    am_interested: st.am_interested(),
                    peer_choking: st.peer_choking(),
                    peer_interested: st.peer_interested(),
                    snubbed: st.is_snubbed(),
                }
            })
            .collect()
    }

    /// Which pieces are under way and how many peers have each.
    pub fn piece_report(&self) -> PieceReport {
        let n = self.picker.piece_count();
        PieceReport {
            downloading: (0..n).filter(|&p| self.picker.is_downloading(p)).collect(),
            availability: (0..n).map(|p| self.picker.availability(p)).collect(),
        }
    }
}
