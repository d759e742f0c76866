//! User commands and lookup bookkeeping: starting, stepping and finishing
//! iterative lookups over each address family.

use super::*;

impl Node {
    /// Look up peers for `info_hash`: [`Event::Peers`] batches, then
    /// [`Event::LookupDone`].
    pub fn get_peers(&mut self, info_hash: NodeId, now: Instant) -> Result<LookupId, CommandError> {
        self.start_lookup(info_hash, LookupKind::GetPeers, false, false, now)
    }

    /// Look up `info_hash` and announce ourselves to the 8 closest nodes
    /// that answered, on `port` (`None`: `implied_port`, the UDP source
    /// port). Found peers are reported as for `get_peers`.
    pub fn announce(
        &mut self,
        info_hash: NodeId,
        port: Option<u16>,
        now: Instant,
    ) -> Result<LookupId, CommandError> {
        self.start_lookup(info_hash, LookupKind::Announce(port), false, false, now)
    }

    /// Find the nodes closest to `target` ([`Event::LookupDone`]).
    pub fn find_node(&mut self, target: NodeId, now: Instant) -> Result<LookupId, CommandError> {
        self.start_lookup(target, LookupKind::FindNode, false, false, now)
    }

    /// Join the DHT through these nodes (any DHT node's address): a lookup
    /// of our own id, then [`Event::Bootstrapped`].
    pub fn bootstrap(&mut self, addrs: &[SocketAddr], now: Instant) {
        for a in addrs {
            if self.saved.len() < MAX_BOOTSTRAP && !self.saved.iter().any(|(_, addr)| addr == a) {
                self.saved.push((None, *a));
            }
        }
        self.start_bootstrap(now);
    }

    /// Routers (such as router.bittorrent.com): used to bootstrap, never
    /// entered in the routing table.
    pub fn add_routers(&mut self, addrs: &[SocketAddr], now: Instant) {
        for a in addrs {
            if self.routers.len() < MAX_BOOTSTRAP && !self.routers.contains(a) {
                self.routers.push(*a);
            }
        }
        self.start_bootstrap(now);
    }

    pub(super) fn start_bootstrap(&mut self, now: Instant) {
        self.last_bootstrap = Some(now);
        let id = self.id;
        let _ = self.start_lookup(id, LookupKind::FindNode, true, true, now);
    }

    pub(super) fn seeds(
        &self,
        f: Family,
        target: &NodeId,
        now: Instant,
    ) -> Vec<(Option<NodeId>, SocketAddr)> {
        let table = match f {
            Family::V4 => &self.table4,
            Family::V6 => &self.table6,
        };
        let mut seeds: Vec<(Option<NodeId>, SocketAddr)> = table
            .closest(target, 2 * K, now)
            .into_iter()
            .map(|n| (Some(n.id), n.addr))
            .collect();
        if seeds.len() < K {
            for (id, addr) in &self.saved {
                if Family::of(addr) == f {
                    seeds.push((*id, *addr));
                }
            }
            for r in &self.routers {
                if Family::of(r) == f {
                    seeds.push((None, *r));
                }
            }
        }
        seeds
    }

    pub(super) fn start_lookup(
        &mut self,
        target: NodeId,
        kind: LookupKind,
        internal: bool,
        bootstrap: bool,
        now: Instant,
    ) -> Result<LookupId, CommandError> {
        self.now = now;
        let user_running = self.meta.values().filter(|m| !m.internal).count();
        if (!internal && user_running >= self.config.max_lookups)
            || self.meta.len() >= 2 * self.config.max_lookups
        {
            return Err(CommandError::TooManyLookups);
        }
        let lid = self.next_lookup;
        self.next_lookup += 1;
        let families: Vec<Family> = [Family::V4, Family::V6]
            .into_iter()
            .filter(|f| self.family_enabled(*f))
            .collect();
        self.meta.insert(
            lid,
            LookupMeta {
                target,
                remaining: families.len() as u8,
                internal,
                bootstrap,
                closest: Vec::new(),
                stats: LookupStats::default(),
            },
        );
        for f in families.iter().copied() {
            let seeds = self.seeds(f, &target, now);
            let lookup = Lookup::new(target, kind, self.id, seeds);
            self.lookups.insert((lid, f), lookup);
            self.step_lookup(lid, f, now);
        }
        if families.is_empty() {
            self.finish_meta(lid);
        }
        Ok(LookupId(lid))
    }

    pub(super) fn step_lookup(&mut self, lid: u64, f: Family, now: Instant) {
        loop {
            let Some(lookup) = self.lookups.get(&(lid, f)) else {
                return;
            };
            if lookup.is_done() {
                self.finish_lookup(lid, f, now);
                return;
            }
            let Some((id, addr)) = lookup.next_to_query() else {
                return;
            };
            let target = lookup.target();
            let kind = match lookup.kind() {
                LookupKind::FindNode => QueryKind::FindNode { target, want: None },
                _ => QueryKind::GetPeers {
                    info_hash: target,
                    want: None,
                },
            };
            if !self.send_query(addr, id, kind, Purpose::Lookup(lid, f), now) {
                // Out of query slots: a timeout or answer will free one.
                return;
            }
            if let Some(lookup) = self.lookups.get_mut(&(lid, f)) {
                lookup.sent(&addr);
            }
        }
    }

    pub(super) fn finish_lookup(&mut self, lid: u64, f: Family, now: Instant) {
        let Some(lookup) = self.lookups.remove(&(lid, f)) else {
            return;
        };
        let closest = lookup.closest_responded();
        let mut announced = 0;
        if let LookupKind::Announce(port) = lookup.kind() {
            for (node, token) in &closest {
                let Some(token) = token else { continue };
                let kind = QueryKind::AnnouncePeer {
                    info_hash: lookup.target(),
                    port: port.unwrap_or(0),
                    implied_port: port.is_none(),
                    token: token.clone(),
                };
                if self.send_query(node.addr, Some(node.id), kind, Purpose::Announce, now) {
                    announced += 1;
                }
            }
        }
        if let Some(m) = self.meta.get_mut(&lid) {
            m.closest.extend(closest.iter().map(|(n, _)| *n));
            m.stats.queries += lookup.queries;
            m.stats.responses += lookup.responses;
            m.stats.failures += lookup.failures;
            m.stats.hops = m.stats.hops.max(lookup.hops());
            m.stats.announced += announced;
            m.remaining = m.remaining.saturating_sub(1);
            if m.remaining == 0 {
                self.finish_meta(lid);
            }
        }
    }

    pub(super) fn finish_meta(&mut self, lid: u64) {
        let Some(m) = self.meta.remove(&lid) else {
            return;
        };
        debug!(lookup = lid, target = %m.target, ?m.stats, "lookup done");
        if m.bootstrap {
            let nodes = self.table4.len() + self.table6.len();
            self.event(Event::Bootstrapped { nodes });
        }
        if !m.internal {
            self.event(Event::LookupDone {
                lookup: LookupId(lid),
                target: m.target,
                closest: m.closest,
                stats: m.stats,
            });
        }
    }
}
