//! Live list updates for the web UI: on each tick of `/api/events`, the
//! summaries of the torrents that changed since the previous tick go out as
//! one `update` event, so a page showing thousands of torrents keeps its
//! rates and progress current without reading the whole list again.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde_json::Value;

/// What one event-stream client last saw of each torrent: a hash of its
/// summary's JSON (16 bytes a torrent, whatever the summary holds).
#[derive(Debug, Default)]
pub struct SeenSummaries {
    seen: HashMap<u64, u64>,
}

impl SeenSummaries {
    /// Starts from `current` (id, summary): the client has just read the
    /// list, so only later changes are sent.
    pub fn new(current: &[(u64, Value)]) -> SeenSummaries {
        let seen = current.iter().map(|(id, v)| (*id, digest(v))).collect();
        SeenSummaries { seen }
    }

    /// The summaries in `current` that differ from (or were not among) the
    /// last ones seen; torrents no longer in `current` are forgotten.
    pub fn changed(&mut self, current: Vec<(u64, Value)>) -> Vec<Value> {
        let mut next = HashMap::with_capacity(current.len());
        let mut out = Vec::new();
        for (id, v) in current {
            let d = digest(&v);
            if self.seen.get(&id) != Some(&d) {
                out.push(v);
            }
            next.insert(id, d);
        }
        self.seen = next;
        out
    }
}

fn digest(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(id: u64, rate: u64) -> (u64, Value) {
        (id, json!({ "id": id, "download_rate": rate }))
    }

    #[test]
    fn only_changed_and_new_torrents_are_sent() {
        let mut seen = SeenSummaries::new(&[t(1, 0), t(2, 10)]);
        assert!(seen.changed(vec![t(1, 0), t(2, 10)]).is_empty());
        let out = seen.changed(vec![t(1, 0), t(2, 20), t(3, 0)]);
        let ids: Vec<u64> = out.iter().filter_map(|v| v["id"].as_u64()).collect();
        assert_eq!(ids, vec![2, 3]);
        assert!(seen.changed(vec![t(1, 0), t(2, 20), t(3, 0)]).is_empty());
    }

    #[test]
    fn a_removed_torrent_is_forgotten_and_sent_whole_if_it_comes_back() {
        let mut seen = SeenSummaries::new(&[t(1, 5)]);
        assert!(seen.changed(vec![]).is_empty());
        assert_eq!(seen.changed(vec![t(1, 5)]).len(), 1);
    }
}
