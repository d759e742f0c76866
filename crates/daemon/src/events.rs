//! Events the daemon publishes (`/api/events`).

use serde::Serialize;

use crate::registry::State;
use crate::store::Record;

/// Something that happened to a torrent.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `added`, `metadata`, `state`, `completed`, `error` or `removed`.
    #[serde(skip)]
    pub kind: &'static str,
    /// Torrent id.
    pub id: u64,
    /// Info-hash, hex.
    pub info_hash: String,
    /// Name.
    pub name: String,
    /// New state (`state` events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// Error message (`error` events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Event {
    fn new(kind: &'static str, rec: &Record) -> Event {
        Event {
            kind,
            id: rec.id,
            info_hash: rec.info_hash.clone(),
            name: rec.name.clone(),
            state: None,
            error: None,
        }
    }

    /// A torrent was added.
    pub fn added(rec: &Record) -> Event {
        Event::new("added", rec)
    }

    /// A magnet link's metadata arrived.
    pub fn metadata(rec: &Record) -> Event {
        Event::new("metadata", rec)
    }

    /// A torrent changed state.
    pub fn state(rec: &Record, state: State) -> Event {
        Event {
            state: Some(state),
            ..Event::new("state", rec)
        }
    }

    /// A torrent completed.
    pub fn completed(rec: &Record) -> Event {
        Event::new("completed", rec)
    }

    /// A torrent stopped on an error.
    pub fn error(rec: &Record, msg: &str) -> Event {
        Event {
            error: Some(msg.to_owned()),
            ..Event::new("error", rec)
        }
    }

    /// A torrent was removed.
    pub fn removed(rec: &Record) -> Event {
        Event::new("removed", rec)
    }
}
