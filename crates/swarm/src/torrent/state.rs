//! The state of one torrent: the picker, the choker, every peer's
//! [`PeerState`], bans and statistics. A pure state machine: the driver
//! passes events and `now` in, and carries out the [`Action`]s it asks for
//! (wake a peer's writer, close a connection) after each call.

use crate::fixed_hash::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use shoal_wire::PeerId;
use tracing::{debug, info, warn};

use super::smartban::SmartBan;
use super::source::{PeerSource, SourceCounts};
use super::superseed::SuperSeed;
use crate::choker::{Choker, PeerStats};
use crate::peer::{Effect, PeerError, PeerState};
use crate::pex::{PexConfig, PexPeer, FLAG_REACHABLE, FLAG_SEED};
use crate::picker::{PiecePicker, BLOCK_SIZE};
use crate::rate::RateEstimator;
use crate::webseed::WebSeeds;
use crate::PeerKey;
use webseed_state::Sender;
pub use webseed_state::WebSeedBlock;

/// What the driver must do for a peer after a call into [`TorrentState`]
/// (see [`TorrentState::drain_actions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The peer has something to send: wake its writer.
    Wake(PeerKey),
    /// The peer was removed: close its connection.
    Close(PeerKey),
}

/// One connected peer.
#[derive(Debug)]
pub struct PeerSlot {
    /// Its protocol state.
    pub state: PeerState,
    /// The connection's remote address.
    pub addr: SocketAddr,
    /// Its peer id from the handshake.
    pub peer_id: PeerId,
    /// We dialed it.
    pub outgoing: bool,
    /// Where we learned its address ([`PeerSource::Incoming`] if it
    /// connected to us).
    pub source: PeerSource,
}

impl PeerSlot {
    /// The peer's address for reports: its listening address when it told
    /// us (an incoming connection's port is ephemeral).
    pub fn public_addr(&self) -> SocketAddr {
        match self.state.listen_port() {
            Some(p) if !self.outgoing => SocketAddr::new(self.addr.ip(), p),
            _ => self.addr,
        }
    }

    /// A display name for the peer's client.
    pub fn client(&self) -> String {
        client_name(&self.state, &self.peer_id)
    }
}

fn client_name(state: &PeerState, id: &PeerId) -> String {
    state
        .client()
        .map(str::to_owned)
        .or_else(|| id.client_name())
        .unwrap_or_else(|| id.0[..8].escape_ascii().to_string())
}

/// How long before a seed we dropped (being a seed ourselves) is dialed
/// again.
const SEED_REDIAL: Duration = Duration::from_secs(600);

/// How long before a peer dropped as idle (to make room) is dialed again.
const EVICTED_REDIAL: Duration = Duration::from_secs(300);

/// How long a peer with no interest either way keeps its place when the
/// torrent is full and another peer wants in. Ten seconds is ample for a
/// bitfield and an `interested` to cross even a slow link; a peer that has
/// sent neither by then is not trading with us.
pub(crate) const IDLE_BEFORE_EVICTION: Duration = Duration::from_secs(10);

/// How much one peer gave us over the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// The peer's address.
    pub peer: SocketAddr,
    /// Its client name.
    pub client: String,
    /// Payload bytes received from it and stored.
    pub bytes: u64,
    /// Where its address came from.
    pub source: PeerSource,
}

/// A peer address we may connect to.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Given by the user (`--peer`): retried for ever.
    pub explicit: bool,
    /// Failed attempts in a row.
    pub failures: u32,
    /// Not dialed before this.
    pub next_attempt: Instant,
    /// A connection attempt or connection is under way.
    pub busy: bool,
    /// It turned out to be ourselves.
    pub is_self: bool,
    /// Where the address came from first.
    pub source: PeerSource,
}

/// Bounds on what the network can make a torrent hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most addresses kept to dial (libtorrent's `max_peerlist_size`). A
    /// full list makes room by dropping the address that failed most; an
    /// address nobody has tried is never dropped for another.
    pub max_candidates: usize,
    /// Most connected peers from one IP address (libtorrent allows one),
    /// so one host cannot take every peer slot.
    pub max_peers_per_ip: usize,
    /// Loopback addresses are exempt from `max_peers_per_ip`: every peer
    /// on them is a process of this machine (local test swarms run many).
    pub exempt_loopback: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_candidates: 2000,
            max_peers_per_ip: 1,
            exempt_loopback: true,
        }
    }
}

impl Limits {
    /// Whether the per-address limit applies to `ip`.
    fn limits_ip(&self, ip: IpAddr) -> bool {
        !(self.exempt_loopback && ip.is_loopback())
    }
}

/// Why a handshaken connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its address is banned.
    Banned,
    /// Already connected to that peer id (the other connection is kept).
    Duplicate,
    /// No room, and no idle peer to give up.
    Full,
    /// The torrent is stopping.
    ShuttingDown,
    /// As many peers from its IP address as [`Limits::max_peers_per_ip`]
    /// are connected already.
    TooManyFromAddress,
}

/// Mutable state of a torrent.
#[derive(Debug)]
pub struct TorrentState {
    /// Which blocks to request from whom.
    pub picker: PiecePicker,
    /// Whom to upload to.
    pub choker: Choker,
    /// The torrent's seeded randomness.
    pub rng: StdRng,
    /// Connected peers.
    pub peers: HashMap<PeerKey, PeerSlot>,
    next_key: u64,
    /// Addresses banned for sending corrupt data: whatever port or peer id
    /// they come back with, they stay out.
    banned: HashSet<IpAddr>,
    smartban: SmartBan<Sender>,
    /// Web seeds (BEP 19), registered in the picker as peers with every
    /// piece.
    web_seeds: WebSeeds,
    /// Addresses we may dial.
    pub candidates: HashMap<SocketAddr, Candidate>,
    /// Bounds on what peers and trackers can make us hold.
    pub limits: Limits,
    contributions: HashMap<SocketAddr, Contribution>,
    /// Peer exchange (BEP 11) settings; `None` speaks none (private
    /// torrents, BEP 27).
    pub pex: Option<PexConfig>,
    /// New candidate addresses taken, per source.
    learned: SourceCounts,
    peers_seen: HashSet<PeerId>,
    /// Payload bytes received and stored.
    pub downloaded: u64,
    /// Payload bytes sent.
    pub uploaded: u64,
    /// Download rate of the whole torrent.
    pub down_rate: RateEstimator,
    /// Upload rate of the whole torrent.
    pub up_rate: RateEstimator,
    /// Pieces verified since resume data was last saved.
    pub verified_since_save: u32,
    /// The torrent is stopping: nothing new is admitted or dialed.
    pub shutting_down: bool,
    /// The info dictionary, served to peers fetching it (BEP 9).
    pub metadata: bytes::Bytes,
    /// Super-seeding (BEP 16), if enabled: in effect once we are complete.
    super_seed: Option<SuperSeed>,
    /// Managed peers that lack nothing we could offer them.
    super_seed_exhausted: HashSet<PeerKey>,
    /// When [`TorrentState::make_room`] last dropped a peer.
    last_turnover: Option<Instant>,
    /// What the driver must do, in order.
    actions: Vec<Action>,
}

impl TorrentState {
    /// A torrent with no peers yet; `picker` knows which pieces we have.
    pub fn new(picker: PiecePicker, choker: Choker, rng: StdRng, now: Instant) -> TorrentState {
        TorrentState {
            picker,
            choker,
            rng,
            peers: HashMap::default(),
            next_key: 1,
            banned: HashSet::default(),
            smartban: SmartBan::default(),
            web_seeds: WebSeeds::default(),
            candidates: HashMap::default(),
            limits: Limits::default(),
            contributions: HashMap::default(),
            pex: None,
            learned: SourceCounts::default(),
            peers_seen: HashSet::default(),
            downloaded: 0,
            uploaded: 0,
            down_rate: RateEstimator::new(now),
            up_rate: RateEstimator::new(now),
            verified_since_save: 0,
            shutting_down: false,
            metadata: bytes::Bytes::new(),
            super_seed: None,
            super_seed_exhausted: HashSet::default(),
            last_turnover: None,
            actions: Vec::new(),
        }
    }

    /// Take the actions queued by the calls since the last drain: the
    /// driver carries them out in order (after releasing any lock).
    pub fn drain_actions(&mut self) -> std::vec::Drain<'_, Action> {
        self.actions.drain(..)
    }

    /// Whether actions are waiting (see [`Self::drain_actions`]).
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }

    /// Turn super-seeding (BEP 16) on: once complete, peers that connect
    /// are sent no bitfield, only a few pieces at a time, the rarest first.
    pub fn enable_super_seeding(&mut self) {
        let pieces = self.picker.piece_count();
        self.super_seed = Some(SuperSeed::new(pieces, SuperSeed::DEFAULT_PER_PEER));
    }

    /// Whether a peer connecting now is super-seeded: sent no bitfield.
    pub fn super_seeding(&self) -> bool {
        self.super_seed.is_some() && self.is_complete()
    }

    /// The write loop took `blocks` from `key`'s upload queue to send:
    /// under super-seeding, offers sent in full make room for new ones.
    pub fn on_uploads_taken(
        &mut self,
        key: PeerKey,
        blocks: &[crate::picker::BlockRequest],
        now: Instant,
    ) {
        let Some(ss) = self.super_seed.as_mut() else {
            return;
        };
        let mut freed = false;
        for b in blocks {
            if b.piece < self.picker.piece_count() {
                freed |= ss.on_block_sent(key, *b, self.picker.piece_size(b.piece));
            }
        }
        if freed {
            self.super_seed_top_up(key, false, now);
        }
    }

    /// Offer a super-seeded peer more pieces if its offers ran low; `force`
    /// also offers to a peer that has not yet told us what it has.
    fn super_seed_top_up(&mut self, key: PeerKey, force: bool, now: Instant) {
        let Some(ss) = self.super_seed.as_mut() else {
            return;
        };
        let Some(slot) = self.peers.get_mut(&key) else {
            return;
        };
        if !ss.manages(key) {
            return;
        }
        // Close the offers it fulfilled (from us or from others), even when
        // it lacks nothing more that we could offer: they no longer count
        // as copies on the way.
        ss.prune(key, &self.picker);
        if self.super_seed_exhausted.contains(&key) {
            return;
        }
        if !force && !slot.state.sent_bitfield_or_more() {
            return;
        }
        if !ss.wants_more(key) {
            return;
        }
        let offers = ss.top_up(key, &self.picker, &mut self.rng);
        if ss.wants_more(key) {
            // Offers fall short only when the peer lacks nothing else.
            self.super_seed_exhausted.insert(key);
        }
        if !offers.is_empty() {
            for piece in offers {
                slot.state.send(&shoal_wire::Message::Have { piece }, now);
            }
            self.actions.push(Action::Wake(key));
        }
    }

    /// Whether we have every piece.
    pub fn is_complete(&self) -> bool {
        self.picker.is_finished()
    }

    /// Add a candidate address given by the user (`explicit`) or a
    /// tracker; see [`Self::add_candidate_from`].
    pub fn add_candidate(&mut self, addr: SocketAddr, explicit: bool, now: Instant) -> bool {
        let source = if explicit {
            PeerSource::User
        } else {
            PeerSource::Tracker
        };
        self.add_candidate_from(addr, source, now)
    }

    /// Add a candidate address learned from `source`. Returns whether it
    /// is (now or already) on the list: a full list takes a new address
    /// only in place of one that failed to connect, and user-given
    /// ([`PeerSource::User`]) addresses always get in.
    pub fn add_candidate_from(
        &mut self,
        addr: SocketAddr,
        source: PeerSource,
        now: Instant,
    ) -> bool {
        let explicit = source == PeerSource::User;
        if self.banned.contains(&addr.ip()) {
            return false;
        }
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.explicit |= explicit;
            return true;
        }
        if self.candidates.len() >= self.limits.max_candidates
            && !self.drop_worst_candidate()
            && !explicit
        {
            return false;
        }
        self.candidates.insert(
            addr,
            Candidate {
                explicit,
                failures: 0,
                next_attempt: now,
                busy: false,
                is_self: false,
                source,
            },
        );
        self.learned.add(source);
        true
    }

    /// Make room on the candidate list by dropping the address that failed
    /// most (not one being dialed, nor one the user gave). Returns false
    /// if no address has failed.
    fn drop_worst_candidate(&mut self) -> bool {
        let worst = self
            .candidates
            .iter()
            .filter(|(_, c)| !c.busy && !c.explicit && (c.failures > 0 || c.is_self))
            .max_by_key(|(a, c)| (c.is_self, c.failures, **a))
            .map(|(a, _)| *a);
        match worst {
            Some(a) => {
                self.candidates.remove(&a);
                true
            }
            None => false,
        }
    }

    /// Every address a connected peer is reachable at (the connection's
    /// and, for incoming ones, its listen port), built once per call so
    /// candidate scans stay linear.
    fn connected_addrs(&self) -> HashSet<SocketAddr> {
        let mut set = HashSet::with_capacity_and_hasher(self.peers.len() * 2, Default::default());
        for p in self.peers.values() {
            set.insert(p.addr);
            if let Some(port) = p.state.listen_port() {
                set.insert(SocketAddr::new(p.addr.ip(), port));
            }
        }
        set
    }

    /// Connected peers per IP address, for addresses the per-IP limit
    /// applies to.
    fn peers_per_ip(&self) -> HashMap<IpAddr, usize> {
        let mut m = HashMap::default();
        for p in self.peers.values() {
            if self.limits.limits_ip(p.addr.ip()) {
                *m.entry(p.addr.ip()).or_insert(0) += 1;
            }
        }
        m
    }

    /// Whether candidate `addr` may be dialed now: not under way, not
    /// ourselves, its backoff over, not banned, not connected already, its
    /// address below the per-IP limit.
    fn dialable(
        &self,
        addr: SocketAddr,
        c: &Candidate,
        now: Instant,
        connected: &HashSet<SocketAddr>,
        per_ip: &HashMap<IpAddr, usize>,
    ) -> bool {
        !c.busy
            && !c.is_self
            && c.next_attempt <= now
            && !self.banned.contains(&addr.ip())
            && !connected.contains(&addr)
            && per_ip.get(&addr.ip()).copied().unwrap_or(0) < self.limits.max_peers_per_ip
    }

    /// Candidates to dial now, marked busy; at most `max`. Those that
    /// failed least go first, in random order among equals, so no address
    /// range is always first (linear in candidates plus peers).
    pub fn take_candidates(&mut self, now: Instant, max: usize) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        if max == 0 || self.shutting_down {
            return out;
        }
        let connected = self.connected_addrs();
        let mut per_ip = self.peers_per_ip();
        let mut ready: Vec<(u32, SocketAddr)> = self
            .candidates
            .iter()
            .filter(|(a, c)| self.dialable(**a, c, now, &connected, &per_ip))
            .map(|(a, c)| (c.failures, *a))
            .collect();
        // Sorted first, so the order depends on the seeded RNG only (not on
        // the map's hashing): the same seed dials in the same order.
        ready.sort_unstable();
        ready.shuffle(&mut self.rng);
        ready.sort_by_key(|(failures, _)| *failures);
        let limits = &self.limits;
        let picked = ready.into_iter().map(|(_, a)| a).filter(|a| {
            // One dial per address at a time toward the per-IP limit.
            if !limits.limits_ip(a.ip()) {
                return true;
            }
            let n = per_ip.entry(a.ip()).or_insert(0);
            if *n >= limits.max_peers_per_ip {
                return false;
            }
            *n += 1;
            true
        });
        let picked: Vec<SocketAddr> = picked.take(max).collect();
        for addr in picked {
            if let Some(c) = self.candidates.get_mut(&addr) {
                c.busy = true;
                out.push(addr);
            }
        }
        out
    }

    /// Give back a candidate taken by [`Self::take_candidates`] but not
    /// dialed, with no penalty.
    pub fn release_candidate(&mut self, addr: SocketAddr) {
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.busy = false;
        }
    }

    /// A dial attempt to `addr` ended (failed, or the connection closed).
    pub fn candidate_done(&mut self, addr: SocketAddr, success: bool, is_self: bool, now: Instant) {
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.busy = false;
            c.is_self |= is_self;
            if success {
                c.failures = 0;
                c.next_attempt = c.next_attempt.max(now + Duration::from_secs(5));
            } else {
                c.failures = c.failures.saturating_add(1);
                let backoff = Duration::from_secs(2u64 << c.failures.min(7));
                let cap = if c.explicit {
                    Duration::from_secs(30)
                } else {
                    Duration::from_secs(300)
                };
                c.next_attempt = now + backoff.min(cap);
                if !c.explicit && c.failures > 8 {
                    self.candidates.remove(&addr);
                }
            }
        }
    }

    /// Admit a connection that completed its handshake.
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        addr: SocketAddr,
        peer_id: PeerId,
        outgoing: bool,
        our_id: PeerId,
        max_peers: usize,
        make_state: impl FnOnce(PeerKey) -> PeerState,
        now: Instant,
    ) -> Result<PeerKey, Refusal> {
        if self.shutting_down {
            return Err(Refusal::ShuttingDown);
        }
        if self.banned.contains(&addr.ip()) {
            return Err(Refusal::Banned);
        }
        if self.limits.limits_ip(addr.ip())
            && self
                .peers
                .values()
                .filter(|p| p.addr.ip() == addr.ip())
                .count()
                >= self.limits.max_peers_per_ip
            && !self.peers.values().any(|p| p.peer_id == peer_id)
        {
            return Err(Refusal::TooManyFromAddress);
        }
        if let Some((&old, slot)) = self.peers.iter().find(|(_, p)| p.peer_id == peer_id) {
            // Both ends connected at once: keep the connection initiated by
            // the side with the lower peer id, so both ends agree.
            let initiator = |out: bool| if out { our_id } else { peer_id };
            let keep_new = initiator(outgoing) < initiator(slot.outgoing);
            if !keep_new {
                return Err(Refusal::Duplicate);
            }
            self.remove_peer(old, "replaced by a simultaneous connection", now);
        }
        if self.peers.len() >= max_peers {
            // Keep the peers that trade: a newcomer takes the place of one
            // that has long had nothing to give us nor to take from us.
            let Some(victim) = self.least_useful_peer(now) else {
                return Err(Refusal::Full);
            };
            self.evict(victim, now);
        }
        let key = PeerKey(self.next_key);
        self.next_key += 1;
        let mut state = make_state(key);
        if let Some(cfg) = &self.pex {
            state.enable_pex(cfg.clone());
        }
        let source = match self.candidates.get(&addr) {
            Some(c) if outgoing => c.source,
            _ if outgoing => PeerSource::User,
            _ => PeerSource::Incoming,
        };
        if self.super_seeding() {
            if let Some(ss) = self.super_seed.as_mut() {
                ss.add_peer(key);
            }
        }
        self.picker.add_peer(key);
        self.peers_seen.insert(peer_id);
        self.peers.insert(
            key,
            PeerSlot {
                state,
                addr,
                peer_id,
                outgoing,
                source,
            },
        );
        Ok(key)
    }

    /// The connected peer that gives the least, if any is worth giving up:
    /// connected for [`IDLE_BEFORE_EVICTION`] at least, with no interest
    /// either way; among those, the one that moved the fewest bytes.
    fn least_useful_peer(&self, now: Instant) -> Option<PeerKey> {
        self.peers
            .iter()
            .filter(|(_, p)| {
                now.saturating_duration_since(p.state.connected_at()) >= IDLE_BEFORE_EVICTION
                    && !p.state.am_interested()
                    && !p.state.peer_interested()
            })
            .min_by_key(|(k, p)| (p.state.downloaded() + p.state.uploaded(), **k))
            .map(|(k, _)| *k)
    }

    /// When the torrent is full and addresses wait to be dialed, give up
    /// the least useful peer (see [`Self::least_useful_peer`]), at most
    /// once per [`IDLE_BEFORE_EVICTION`], so the swarm gets a chance to
    /// offer better ones. Returns whether a peer was dropped.
    pub fn make_room(&mut self, now: Instant, max_peers: usize) -> bool {
        if self.peers.len() < max_peers
            || self.shutting_down
            || self
                .last_turnover
                .is_some_and(|t| now.saturating_duration_since(t) < IDLE_BEFORE_EVICTION)
        {
            return false;
        }
        let connected = self.connected_addrs();
        let per_ip = self.peers_per_ip();
        let waiting = self
            .candidates
            .iter()
            .any(|(a, c)| self.dialable(*a, c, now, &connected, &per_ip));
        if !waiting {
            return false;
        }
        let Some(victim) = self.least_useful_peer(now) else {
            return false;
        };
        self.last_turnover = Some(now);
        self.evict(victim, now);
        true
    }

    /// Drop an idle peer to make room, and leave its address alone for a
    /// while (else the same idle peers would take turns).
    fn evict(&mut self, victim: PeerKey, now: Instant) {
        if let Some(addr) = self.peers.get(&victim).map(|p| p.public_addr()) {
            self.hold_off_redial(addr, now + EVICTED_REDIAL);
        }
        self.remove_peer(victim, "making room for a new peer", now);
    }

    /// Dial candidate `addr` again no sooner than `until`.
    fn hold_off_redial(&mut self, addr: SocketAddr, until: Instant) {
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.next_attempt = c.next_attempt.max(until);
        }
    }

    /// Drop a peer: release its requests, keep its contribution, close
    /// its tasks. No effect if already gone. A seed dropped while we seed
    /// too, by either side, is not dialed again for [`SEED_REDIAL`].
    pub fn remove_peer(&mut self, key: PeerKey, reason: &str, now: Instant) {
        let Some(mut slot) = self.peers.remove(&key) else {
            return;
        };
        debug!(peer = %slot.addr, %reason, "peer removed");
        // Two seeds have nothing to trade, whichever side hung up first:
        // leave its address alone for long (it will still be a seed).
        if self.is_complete()
            && self
                .picker
                .peer_pieces(key)
                .is_some_and(|b| b.is_complete())
        {
            self.hold_off_redial(slot.public_addr(), now + SEED_REDIAL);
        }
        if let Some(ss) = self.super_seed.as_mut() {
            ss.on_peer_gone(key);
            self.super_seed_exhausted.remove(&key);
        }
        slot.state.on_disconnect(&mut self.picker);
        self.actions.push(Action::Close(key));
        self.record_contribution(&slot);
        // Blocks it held may now be picked by others.
        self.refill_all(now);
    }

    fn record_contribution(&mut self, slot: &PeerSlot) {
        if slot.state.downloaded() == 0 {
            return;
        }
        let client = slot.client();
        let e = self
            .contributions
            .entry(slot.public_addr())
            .or_insert_with(|| Contribution {
                peer: slot.public_addr(),
                client: client.clone(),
                bytes: 0,
                source: slot.source,
            });
        e.client = client;
        e.bytes += slot.state.downloaded();
    }

    /// Per-peer contributions: departed peers and connected ones.
    pub fn contributions(&self) -> Vec<Contribution> {
        let mut all = self.contributions.clone();
        for slot in self.peers.values() {
            if slot.state.downloaded() > 0 {
                let e = all
                    .entry(slot.public_addr())
                    .or_insert_with(|| Contribution {
                        peer: slot.public_addr(),
                        client: slot.client(),
                        bytes: 0,
                        source: slot.source,
                    });
                e.bytes += slot.state.downloaded();
            }
        }
        let mut v: Vec<Contribution> = all.into_values().collect();
        v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.peer.cmp(&b.peer)));
        v
    }

    /// Distinct peers connected over the session.
    pub fn peers_seen(&self) -> usize {
        self.peers_seen.len()
    }

    /// Apply a batch of messages from `key`; `effects` is left holding
    /// the blocks to store (also on error, when the peer is removed).
    pub fn on_messages(
        &mut self,
        key: PeerKey,
        msgs: &mut Vec<shoal_wire::Message>,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) -> Result<(), PeerError> {
        let Some(slot) = self.peers.get_mut(&key) else {
            msgs.clear();
            return Ok(());
        };
        let mut result = Ok(());
        for msg in msgs.drain(..) {
            if let Err(e) = slot.state.on_message(msg, &mut self.picker, now, effects) {
                result = Err(e);
                break;
            }
        }
        msgs.clear();
        if result.is_ok() {
            slot.state.update_interest(&self.picker, now);
            slot.state.fill_requests(&mut self.picker, now);
        }
        // Even when the peer misbehaved, blocks it sent before are marked
        // received in the picker: they must still be stored (the hash check
        // vouches for them), or their pieces would never complete.
        let mut interest_changed = false;
        let mut pex_learned = Vec::new();
        let mut bytes = 0u64;
        let sender = self.peers.get(&key).map(|s| s.addr.ip());
        // With a single source no piece can be mixed: no fingerprint needed.
        let fingerprint = self.peers.len() + self.web_seeds.active() > 1;
        effects.retain(|e| match e {
            Effect::Cancel { peer, block } => {
                if let Some(other) = self.peers.get_mut(peer) {
                    other.state.cancel_request(*block, now);
                    self.actions.push(Action::Wake(*peer));
                }
                false
            }
            Effect::InterestChanged => {
                interest_changed = true;
                false
            }
            Effect::MetadataRequest { piece } => {
                if let Some(slot) = self.peers.get_mut(&key) {
                    slot.state.send_metadata(&self.metadata, *piece, now);
                }
                false
            }
            Effect::PexPeers(peers) => {
                pex_learned.extend(peers.iter().copied());
                false
            }
            Effect::Store { block, data, .. } => {
                bytes += u64::from(block.length);
                if let Some(id) = sender {
                    let blocks = self.picker.blocks_in_piece(block.piece);
                    let data = fingerprint.then_some(&data[..]);
                    self.smartban.record(
                        block.piece,
                        block.begin / BLOCK_SIZE,
                        blocks,
                        Sender::Peer(id),
                        data,
                    );
                }
                true
            }
        });
        if bytes > 0 {
            self.downloaded += bytes;
            self.down_rate.record(now, bytes);
        }
        if self.pex.is_some() {
            for p in pex_learned {
                self.add_candidate_from(p.addr, PeerSource::Pex, now);
            }
        }
        if let Err(e) = result {
            self.remove_peer(key, &e.to_string(), now);
            return Err(e);
        }
        if interest_changed {
            self.unchoke_if_free(key, now);
        }
        self.super_seed_top_up(key, false, now);
        if self.peers.get(&key).is_some_and(|s| s.state.has_output()) {
            self.actions.push(Action::Wake(key));
        }
        Ok(())
    }

    /// Unchoke an interested peer at once if an upload slot is free,
    /// rather than waiting for the next rechoke; when `key` lost interest,
    /// the slot it held goes to a waiting peer.
    fn unchoke_if_free(&mut self, key: PeerKey, now: Instant) {
        let slots = self.choker.config().regular_slots + self.choker.config().optimistic_slots;
        let busy = self
            .peers
            .values()
            .filter(|p| !p.state.am_choking() && p.state.peer_interested())
            .count();
        if busy >= slots {
            return;
        }
        let Some(slot) = self.peers.get(&key) else {
            return;
        };
        let candidate = if slot.state.peer_interested() {
            Some(key)
        } else {
            // Its slot is free: give it to a waiting peer, if any.
            self.peers
                .iter()
                .filter(|(_, p)| p.state.peer_interested() && p.state.am_choking())
                .map(|(k, _)| *k)
                .min()
        };
        if let Some(k) = candidate {
            if let Some(slot) = self.peers.get_mut(&k) {
                if slot.state.am_choking() {
                    slot.state.set_choking(false, now);
                    self.actions.push(Action::Wake(k));
                }
            }
        }
    }

    /// Periodic work: per-peer timeouts, rechoking. Returns the peers
    /// dropped.
    pub fn tick(&mut self, now: Instant) -> Vec<(PeerKey, PeerError)> {
        let mut dropped = Vec::new();
        for (&key, slot) in self.peers.iter_mut() {
            match slot.state.on_tick(&mut self.picker, now) {
                Ok(()) => {
                    if slot.state.has_output() {
                        self.actions.push(Action::Wake(key));
                    }
                }
                Err(e) => dropped.push((key, e)),
            }
        }
        for (key, e) in &dropped {
            self.remove_peer(*key, &e.to_string(), now);
        }
        if self.super_seed.is_some() {
            // Top up every super-seeded peer; one with nothing to say (no
            // pieces, no fast extension) gets its first offers after a
            // grace period.
            let quiet: Vec<PeerKey> = self
                .peers
                .iter()
                .filter(|(_, p)| {
                    now.saturating_duration_since(p.state.connected_at()) >= Duration::from_secs(2)
                })
                .map(|(k, _)| *k)
                .collect();
            for key in quiet {
                self.super_seed_top_up(key, true, now);
            }
        }
        // Two seeds have nothing to say to each other.
        if self.is_complete() {
            let seeds: Vec<PeerKey> = self
                .peers
                .iter()
                .filter(|(k, _)| {
                    self.picker
                        .peer_pieces(**k)
                        .is_some_and(|b| b.is_complete())
                })
                .map(|(k, _)| *k)
                .collect();
            for k in seeds {
                self.remove_peer(k, "both seeds", now);
            }
        }
        if self.choker.is_due(now) {
            self.rechoke(now);
        }
        self.send_pex(now);
        dropped
    }

    /// Send peer exchange messages to the peers they are due to: each
    /// hears of our other peers whose listening address we know.
    fn send_pex(&mut self, now: Instant) {
        if self.pex.is_none() || !self.peers.values().any(|p| p.state.pex_due(now)) {
            return;
        }
        let mut current: Vec<(PeerKey, PexPeer)> = self
            .peers
            .iter()
            .filter_map(|(k, p)| {
                // An incoming peer's port is ephemeral unless it told us
                // its listening port.
                let addr = if p.outgoing {
                    p.addr
                } else {
                    SocketAddr::new(p.addr.ip(), p.state.listen_port()?)
                };
                let mut flags = 0;
                if p.outgoing {
                    flags |= FLAG_REACHABLE;
                }
                if self.picker.peer_pieces(*k).is_some_and(|b| b.is_complete()) {
                    flags |= FLAG_SEED;
                }
                Some((*k, PexPeer { addr, flags }))
            })
            .collect();
        current.sort_unstable_by_key(|(k, _)| *k);
        let mut others = Vec::with_capacity(current.len());
        for (&key, slot) in self.peers.iter_mut() {
            if !slot.state.pex_due(now) {
                continue;
            }
            others.clear();
            others.extend(current.iter().filter(|(k, _)| *k != key).map(|(_, p)| *p));
            if slot.state.send_pex(&others, now) {
                self.actions.push(Action::Wake(key));
            }
        }
    }

    /// New candidate addresses taken over the session, per source.
    pub fn learned_by_source(&self) -> SourceCounts {
        self.learned
    }

    /// Connected peers per source.
    pub fn connected_by_source(&self) -> SourceCounts {
        let mut c = SourceCounts::default();
        for p in self.peers.values() {
            c.add(p.source);
        }
        c
    }

    fn rechoke(&mut self, now: Instant) {
        let stats: Vec<PeerStats> = self
            .peers
            .iter()
            .map(|(&key, p)| PeerStats {
                key,
                interested: p.state.peer_interested(),
                download_rate: p.state.download_rate(now),
                upload_rate: p.state.upload_rate(now),
                last_block_received: p.state.last_block(),
                connected_since: p.state.connected_at(),
                is_seed: self
                    .picker
                    .peer_pieces(key)
                    .is_some_and(|b| b.is_complete()),
                choked: p.state.am_choking(),
            })
            .collect();
        let seeding = self.is_complete();
        let decision = self.choker.rechoke(now, &stats, seeding, &mut self.rng);
        for (&key, slot) in self.peers.iter_mut() {
            let unchoke = decision.is_unchoked(key);
            if unchoke == slot.state.am_choking() {
                slot.state.set_choking(!unchoke, now);
                self.actions.push(Action::Wake(key));
            }
        }
    }

    /// Set every piece's priority (see [`PiecePicker::set_piece_priority`];
    /// `priorities` has one entry per piece, extra or missing ones are
    /// ignored): peers' interest follows, and peers request what became
    /// wanted. Returns whether the torrent is now complete (every wanted
    /// piece verified).
    pub fn set_piece_priorities(&mut self, priorities: &[u8], now: Instant) -> bool {
        let was_complete = self.is_complete();
        let mut changed = false;
        for (i, &p) in priorities.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            if self.picker.piece_priority(i) != p && self.picker.set_piece_priority(i, p).is_ok() {
                changed = true;
            }
        }
        if changed {
            for (&key, slot) in self.peers.iter_mut() {
                slot.state.update_interest(&self.picker, now);
                self.actions.push(Action::Wake(key));
            }
            self.refill_all(now);
        }
        if was_complete && !self.is_complete() {
            // Seeds dropped while we were complete may be dialed again at
            // once: we want something from them now.
            for c in self.candidates.values_mut() {
                if c.failures == 0 {
                    c.next_attempt = c.next_attempt.min(now);
                }
            }
        }
        self.is_complete()
    }

    /// Give every peer a chance to request blocks that became free.
    pub fn refill_all(&mut self, now: Instant) {
        for (&key, slot) in self.peers.iter_mut() {
            let before = slot.state.outstanding();
            slot.state.fill_requests(&mut self.picker, now);
            if slot.state.outstanding() != before {
                self.actions.push(Action::Wake(key));
            }
        }
    }

    /// Storage verified `piece`: record it, tell every peer, update
    /// interest. Returns whether the torrent is now complete.
    pub fn on_piece_verified(&mut self, piece: u32, now: Instant) -> bool {
        if self.picker.has_piece(piece) {
            return self.is_complete();
        }
        if let Err(e) = self.picker.on_piece_verified(piece) {
            warn!(piece, error = %e, "verified piece unknown to the picker");
            return self.is_complete();
        }
        self.verified_since_save += 1;
        for sender in self.smartban.on_verified(piece) {
            self.blame(sender, piece, now);
        }
        for (&key, slot) in self.peers.iter_mut() {
            slot.state.announce_have(piece, now);
            slot.state.update_interest(&self.picker, now);
            self.actions.push(Action::Wake(key));
        }
        let complete = self.is_complete();
        if complete {
            info!("download complete");
        }
        complete
    }

    /// Storage found `piece` corrupt: re-download it, and ban whoever
    /// smart-ban proves sent bad data (see [`SmartBan`]).
    pub fn on_piece_failed(&mut self, piece: u32, now: Instant) {
        match self.picker.on_piece_failed(piece) {
            Ok(c) => warn!(
                piece,
                peers = c.peers().len(),
                "piece failed its hash check"
            ),
            Err(e) => {
                warn!(piece, error = %e, "failed piece unknown to the picker");
                return;
            }
        }
        for sender in self.smartban.on_failed(piece) {
            self.blame(sender, piece, now);
        }
        self.refill_all(now);
    }

    /// Ban an address for sending corrupt data: disconnect every peer
    /// from it and forget its candidate addresses.
    fn ban(&mut self, ip: IpAddr, now: Instant) {
        if !self.banned.insert(ip) {
            // Pieces it sent before the ban may fail afterwards: one ban,
            // one record.
            return;
        }
        warn!(%ip, "banning peer address for sending corrupt data");
        let keys: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.addr.ip() == ip)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.remove_peer(key, "sent corrupt data", now);
        }
        self.candidates.retain(|a, _| a.ip() != ip);
    }

    /// Whether `ip` is banned from this torrent.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.banned.contains(&ip)
    }

    /// Banned addresses.
    pub fn banned(&self) -> impl Iterator<Item = &IpAddr> {
        self.banned.iter()
    }

    /// An estimate of the memory the torrent's peer bookkeeping holds, in
    /// bytes: every peer's state (outbox and queues), the candidate list,
    /// bans and smart-ban records.
    pub fn peer_memory(&self) -> usize {
        use std::mem::size_of;
        let peers: usize = self
            .peers
            .values()
            .map(|p| p.state.memory() + size_of::<PeerSlot>())
            .sum();
        let candidates =
            self.candidates.capacity() * (size_of::<SocketAddr>() + size_of::<Candidate>());
        let bans = self.banned.capacity() * size_of::<IpAddr>();
        let smartban = self.smartban.tracked_pieces()
            * (size_of::<u32>() + self.picker.blocks_in_piece(0) as usize * 40);
        peers + candidates + bans + smartban
    }

    /// Whether some connected peer lacks pieces (or has not said yet
    /// what it has), and so may ask us for the pieces we verify next.
    pub fn some_peer_lacks_pieces(&self) -> bool {
        let count = self.picker.piece_count() as usize;
        self.peers.keys().any(|&k| {
            self.picker
                .peer_pieces(k)
                .is_none_or(|b| b.count_ones() < count)
        })
    }

    /// Number of connected peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Begin shutting down: close every peer.
    pub fn shut_down(&mut self, now: Instant) {
        self.shutting_down = true;
        self.drop_web_seeds();
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.remove_peer(k, "shutting down", now);
        }
    }
}

#[path = "webseed_state.rs"]
mod webseed_state;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
