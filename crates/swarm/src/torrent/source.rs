//! Where peer addresses come from, and how many each source gave.

/// Where a peer address was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerSource {
    /// Given by the user (`--peer`).
    User,
    /// A tracker's announce reply.
    Tracker,
    /// The Mainline DHT.
    Dht,
    /// Peer exchange (BEP 11).
    Pex,
    /// Local service discovery (BEP 14).
    Lsd,
    /// The peer connected to us.
    Incoming,
}

impl PeerSource {
    /// Every source, in display order.
    pub const ALL: [PeerSource; 6] = [
        PeerSource::Tracker,
        PeerSource::Dht,
        PeerSource::Pex,
        PeerSource::Lsd,
        PeerSource::User,
        PeerSource::Incoming,
    ];

    /// A short lower-case name (`tracker`, `dht`, `pex`, `lsd`, `user`,
    /// `incoming`).
    pub fn name(self) -> &'static str {
        match self {
            PeerSource::User => "user",
            PeerSource::Tracker => "tracker",
            PeerSource::Dht => "dht",
            PeerSource::Pex => "pex",
            PeerSource::Lsd => "lsd",
            PeerSource::Incoming => "incoming",
        }
    }
}

/// A count per [`PeerSource`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceCounts {
    counts: [u64; 6],
}

impl SourceCounts {
    fn index(source: PeerSource) -> usize {
        match source {
            PeerSource::User => 0,
            PeerSource::Tracker => 1,
            PeerSource::Dht => 2,
            PeerSource::Pex => 3,
            PeerSource::Lsd => 4,
            PeerSource::Incoming => 5,
        }
    }

    /// The count for `source`.
    pub fn get(&self, source: PeerSource) -> u64 {
        self.counts[Self::index(source)]
    }

    /// Add one for `source`.
    pub fn add(&mut self, source: PeerSource) {
        let c = &mut self.counts[Self::index(source)];
        *c = c.saturating_add(1);
    }

    /// `(source, count)` for every source, in display order.
    pub fn iter(&self) -> impl Iterator<Item = (PeerSource, u64)> + '_ {
        PeerSource::ALL.into_iter().map(|s| (s, self.get(s)))
    }

    /// `tracker 3, dht 2` (sources with a count only; `none` if all are 0).
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{} {n}", s.name()))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_source_and_summarises() {
        let mut c = SourceCounts::default();
        assert_eq!(c.summary(), "none");
        c.add(PeerSource::Dht);
        c.add(PeerSource::Dht);
        c.add(PeerSource::Pex);
        assert_eq!(c.get(PeerSource::Dht), 2);
        assert_eq!(c.get(PeerSource::Tracker), 0);
        assert_eq!(c.summary(), "dht 2, pex 1");
    }
}
