//! One torrent's state: every peer's [`crate::peer::PeerState`], the
//! picker, the choker, bans, smart-ban, super-seeding and the addresses to
//! dial, driven by events and `now`; what the driver must do comes back as
//! [`Action`]s and return values.

mod report;
mod smartban;
mod source;
mod state;
mod superseed;

pub use report::{PeerReport, PieceReport};
pub use source::{PeerSource, SourceCounts};
pub use state::{
    Action, Candidate, Contribution, Limits, PeerSlot, Refusal, TorrentState, WebSeedBlock,
};
