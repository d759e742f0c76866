//! The swarm store: who is in which torrent, sans I/O.
//!
//! Time is passed in by the caller (`now`, in seconds, from any fixed
//! origin), so tests drive it with a fake clock.
//!
//! # Layout and memory
//!
//! Torrents live in a fixed number of shards (a power of two, by default
//! 256), each a `Mutex` around a `hashbrown::HashTable` keyed by info-hash
//! with a per-process random SipHash key (so crafted info-hashes cannot pile
//! into one bucket or one shard). Each torrent keeps its peers in four sorted
//! vectors — one for IPv4 and (allocated only when needed) one for IPv6,
//! each holding the seeders then the leechers, both runs sorted by address —
//! of packed entries: the compact address as
//! sent on the wire (6 or 18 bytes) followed by a 16-bit "last seen" stamp,
//! 8 bytes per IPv4 peer and 20 per IPv6 peer. No peer id is kept: peers are
//! identified by source address and port. A peer is found by binary search;
//! the vectors grow by an eighth of their length, not double, and shrink
//! when they empty out.
//!
//! The stamp is the low 16 bits of `now`; ages are computed with wrapping
//! subtraction, which is exact as long as [`Store::sweep`] runs more often
//! than every 65,536 − timeout seconds (the server sweeps every 30 s) and the
//! peer timeout is at most [`MAX_PEER_TIMEOUT`].
//!
//! # Bounds (hostile input)
//!
//! - Per client: at most `max_peers_per_ip` entries (torrent × port) per
//!   IPv4 address or IPv6 /64 prefix; past it, announces that would add a
//!   new entry fail with [`StoreError::TooManyForIp`] (re-announces of
//!   existing entries keep working). One client announcing 100,000 distinct
//!   info-hashes thus costs at most `max_peers_per_ip` entries.
//! - Globally: at most `max_peers` peer entries and `max_torrents` torrents;
//!   past either, new entries fail with [`StoreError::Full`] until expiry
//!   frees room. Memory is therefore bounded by roughly
//!   `max_torrents × 100 B + max_peers × 20 B` plus one counter per client.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use hashbrown::HashTable;
use shoal_tracker_proto::{Event, InfoHash};

/// The longest peer timeout the 16-bit stamps support safely (seconds).
pub const MAX_PEER_TIMEOUT: u32 = 4 * 3600;

/// Limits and defaults of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Number of shards (rounded up to a power of two).
    pub shards: usize,
    /// Seconds without an announce after which a peer is dropped
    /// (clamped to [`MAX_PEER_TIMEOUT`]).
    pub peer_timeout: u32,
    /// Peers returned when the client does not say (`numwant` absent/−1).
    pub default_numwant: usize,
    /// Most peers ever returned.
    pub max_numwant: usize,
    /// Most peer entries per IPv4 address or IPv6 /64 (0 = unlimited).
    pub max_peers_per_ip: u32,
    /// Most peer entries in total.
    pub max_peers: usize,
    /// Most torrents in total.
    pub max_torrents: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            shards: 256,
            peer_timeout: 2 * 1800 + 300,
            default_numwant: 50,
            max_numwant: 200,
            max_peers_per_ip: 10_000,
            max_peers: 20_000_000,
            max_torrents: 5_000_000,
        }
    }
}

/// Why an announce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The client's address already holds `max_peers_per_ip` entries.
    #[error("too many torrents from your address")]
    TooManyForIp,
    /// The tracker holds `max_peers` peers or `max_torrents` torrents.
    #[error("tracker is full, try again later")]
    Full,
}

/// One announce, as the store needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The peer: source IP of the request and the announced port.
    pub peer: SocketAddr,
    /// The event.
    pub event: Event,
    /// Whether the peer is a seeder (`left == 0`).
    pub seeder: bool,
    /// Peers wanted: `None` for the default; clamped to `max_numwant`.
    pub numwant: Option<usize>,
}

/// Swarm counts after an announce, or for a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SwarmCounts {
    /// Seeders.
    pub seeders: u32,
    /// Leechers.
    pub leechers: u32,
    /// Completed downloads counted.
    pub downloaded: u32,
}

/// Totals over the whole store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreTotals {
    /// Torrents with at least one peer.
    pub torrents: usize,
    /// Seeders over all torrents.
    pub seeders: usize,
    /// Leechers over all torrents.
    pub leechers: usize,
    /// Bytes held by peer vectors (capacity, not just length).
    pub peer_bytes: usize,
}

/// A packed peer entry: compact address then a 16-bit stamp.
trait Entry: Copy + Ord {
    fn new(addr: &[u8], stamp: u16) -> Self;
    fn addr(&self) -> &[u8];
    fn stamp(&self) -> u16;
    fn set_stamp(&mut self, s: u16);
}

macro_rules! entry {
    ($name:ident, $n:expr) => {
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        struct $name {
            a: [u8; $n],
            s: [u8; 2],
        }
        impl Entry for $name {
            fn new(addr: &[u8], stamp: u16) -> Self {
                let mut a = [0u8; $n];
                a.copy_from_slice(addr);
                $name {
                    a,
                    s: stamp.to_ne_bytes(),
                }
            }
            fn addr(&self) -> &[u8] {
                &self.a
            }
            fn stamp(&self) -> u16 {
                u16::from_ne_bytes(self.s)
            }
            fn set_stamp(&mut self, s: u16) {
                self.s = s.to_ne_bytes();
            }
        }
    };
}
entry!(P4, 6);
entry!(P6, 18);

/// Seeders and leechers of one address family in one allocation:
/// `v[..seeds]` are the seeders and `v[seeds..]` the leechers, each run
/// sorted by address.
struct Lists<P> {
    v: Vec<P>,
    seeds: u32,
}

impl<P> Default for Lists<P> {
    fn default() -> Self {
        Lists {
            v: Vec::new(),
            seeds: 0,
        }
    }
}

fn find<P: Entry>(v: &[P], addr: &[u8]) -> Result<usize, usize> {
    v.binary_search_by(|p| p.addr().cmp(addr))
}

fn insert_at<P: Entry>(v: &mut Vec<P>, i: usize, p: P) {
    if v.len() == v.capacity() {
        // Grow by an eighth (at least 2): swarms are mostly small and
        // stable, so slack costs more memory than the rare reallocation
        // costs time (and allocators often grow in place).
        v.reserve_exact((v.len() / 8).max(2));
    }
    v.insert(i, p);
}

fn shrink<P>(v: &mut Vec<P>) {
    if v.capacity() > 2 * v.len() + 4 {
        v.shrink_to(v.len() + v.len() / 2);
    }
}

/// Where the announcing peer was found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Found {
    Seed(usize),
    Leech(usize),
    No,
}

impl<P: Entry> Lists<P> {
    fn seeds(&self) -> &[P] {
        &self.v[..self.seeds as usize]
    }

    fn leech(&self) -> &[P] {
        &self.v[self.seeds as usize..]
    }

    fn locate(&self, addr: &[u8]) -> Found {
        if let Ok(i) = find(self.seeds(), addr) {
            Found::Seed(i)
        } else if let Ok(i) = find(self.leech(), addr) {
            Found::Leech(i)
        } else {
            Found::No
        }
    }

    fn len(&self) -> usize {
        self.v.len()
    }

    fn bytes(&self) -> usize {
        self.v.capacity() * std::mem::size_of::<P>()
    }

    fn remove(&mut self, at: Found) {
        match at {
            Found::Seed(i) => {
                self.v.remove(i);
                self.seeds -= 1;
            }
            Found::Leech(i) => {
                self.v.remove(self.seeds as usize + i);
            }
            Found::No => {}
        }
    }

    /// Insert a seeder; returns its index among the seeders.
    fn insert_seed(&mut self, p: P) -> usize {
        let j = find(self.seeds(), p.addr()).unwrap_or_else(|j| j);
        insert_at(&mut self.v, j, p);
        self.seeds += 1;
        j
    }

    /// Insert a leecher; returns its index among the leechers.
    fn insert_leech(&mut self, p: P) -> usize {
        let j = find(self.leech(), p.addr()).unwrap_or_else(|j| j);
        insert_at(&mut self.v, self.seeds as usize + j, p);
        j
    }

    /// Write up to `want` peers (compact form) into `out`, a stratified
    /// random sample: seeders get leechers only, leechers get both, and the
    /// announcing peer (at `me`) is never included.
    fn sample(&self, seeder: bool, me: Found, want: usize, rng: &mut Rng, out: &mut Vec<u8>) {
        let (a, b): (&[P], &[P]) = if seeder {
            (&[], self.leech())
        } else {
            (self.seeds(), self.leech())
        };
        // Index of "me" in the virtual list a ++ b.
        let me_idx = match me {
            Found::Seed(i) if !seeder => Some(i),
            Found::Leech(i) => Some(a.len() + i),
            _ => None,
        };
        let total = a.len() + b.len();
        let n = total - usize::from(me_idx.is_some());
        let at = |v: usize| -> &P {
            let v = match me_idx {
                Some(m) if v >= m => v + 1,
                _ => v,
            };
            if v < a.len() {
                &a[v]
            } else {
                &b[v - a.len()]
            }
        };
        if n <= want {
            for v in 0..n {
                out.extend_from_slice(at(v).addr());
            }
        } else {
            for i in 0..want {
                let lo = i * n / want;
                let hi = (i + 1) * n / want;
                let v = lo + rng.below(hi - lo);
                out.extend_from_slice(at(v).addr());
            }
        }
    }

    /// Drop entries older than `timeout`; returns the removed addresses'
    /// count and calls `gone` with each.
    fn expire(&mut self, now: u16, timeout: u16, gone: &mut impl FnMut(&[u8])) -> usize {
        let before = self.v.len();
        let seeds = self.seeds as usize;
        let mut seeds_left = 0u32;
        let mut i = 0usize;
        self.v.retain(|p| {
            let keep = now.wrapping_sub(p.stamp()) <= timeout;
            if keep {
                seeds_left += u32::from(i < seeds);
            } else {
                gone(p.addr());
            }
            i += 1;
            keep
        });
        self.seeds = seeds_left;
        shrink(&mut self.v);
        before - self.v.len()
    }
}

/// One torrent.
#[derive(Default)]
struct Swarm {
    v4: Lists<P4>,
    v6: Option<Box<Lists<P6>>>,
    downloaded: u32,
}

impl Swarm {
    fn counts(&self) -> SwarmCounts {
        let (s6, l6) = self
            .v6
            .as_ref()
            .map_or((0, 0), |l| (l.seeds, l.leech().len()));
        SwarmCounts {
            seeders: self.v4.seeds + s6,
            leechers: u32::try_from(self.v4.leech().len() + l6).unwrap_or(u32::MAX),
            downloaded: self.downloaded,
        }
    }

    fn is_empty(&self) -> bool {
        self.v4.len() == 0 && self.v6.as_ref().is_none_or(|l| l.len() == 0)
    }
}

/// A small, fast PRNG (xorshift64*), one per shard.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough integer in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
}

struct Shard {
    table: HashTable<(InfoHash, Swarm)>,
    rng: Rng,
}

/// Cache-line padding so shard locks do not share lines.
#[repr(align(128))]
struct Padded<T>(T);

/// The IPv4 address or the IPv6 /64 prefix a per-client count is kept for.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4([u8; 4]),
    V6([u8; 8]),
}

fn client_key_of(addr: &[u8]) -> ClientKey {
    if addr.len() == 6 {
        ClientKey::V4([addr[0], addr[1], addr[2], addr[3]])
    } else {
        let mut p = [0u8; 8];
        p.copy_from_slice(&addr[..8]);
        ClientKey::V6(p)
    }
}

/// Entries held per client, one shard of them.
type ClientCounts = Mutex<HashMap<ClientKey, u32>>;

/// The swarm store. See the module docs for layout and bounds.
pub struct Store {
    cfg: StoreConfig,
    shards: Box<[Padded<Mutex<Shard>>]>,
    clients: Box<[Padded<ClientCounts>]>,
    hasher: RandomState,
    peers: AtomicUsize,
    torrents: AtomicUsize,
}

/// The compact wire form of a peer: 6 bytes (IPv4) or 18 (IPv6); an
/// IPv4-mapped IPv6 address counts as IPv4.
fn compact(peer: SocketAddr) -> ([u8; 18], usize) {
    let mut b = [0u8; 18];
    match peer.ip().to_canonical() {
        IpAddr::V4(ip) => {
            b[..4].copy_from_slice(&ip.octets());
            b[4..6].copy_from_slice(&peer.port().to_be_bytes());
            (b, 6)
        }
        IpAddr::V6(ip) => {
            b[..16].copy_from_slice(&ip.octets());
            b[16..18].copy_from_slice(&peer.port().to_be_bytes());
            (b, 18)
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a shard lock leaves the shard consistent enough
    // (every mutation is a single Vec operation), so keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// A new, empty store.
    pub fn new(mut cfg: StoreConfig) -> Store {
        cfg.shards = cfg.shards.clamp(1, 1 << 16).next_power_of_two();
        cfg.peer_timeout = cfg.peer_timeout.clamp(1, MAX_PEER_TIMEOUT);
        cfg.max_numwant = cfg.max_numwant.max(1);
        let hasher = RandomState::new();
        let seed = hasher.hash_one(0x5eed_u64) | 1;
        let shards = (0..cfg.shards)
            .map(|i| {
                Padded(Mutex::new(Shard {
                    table: HashTable::new(),
                    rng: Rng(seed.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1),
                }))
            })
            .collect();
        let clients = (0..64)
            .map(|_| Padded(Mutex::new(HashMap::new())))
            .collect();
        Store {
            cfg,
            shards,
            clients,
            hasher,
            peers: AtomicUsize::new(0),
            torrents: AtomicUsize::new(0),
        }
    }

    /// The configuration in force (after clamping).
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    fn shard_of(&self, h: &InfoHash) -> (u64, &Mutex<Shard>) {
        let hash = self.hasher.hash_one(h);
        let i = (hash >> 32) as usize & (self.shards.len() - 1);
        (hash, &self.shards[i].0)
    }

    fn client_slot(&self, k: &ClientKey) -> &ClientCounts {
        let i = (self.hasher.hash_one(k) >> 40) as usize % self.clients.len();
        &self.clients[i].0
    }

    /// Reserve one entry for the client owning `addr` (checks both caps).
    fn reserve(&self, addr: &[u8]) -> Result<(), StoreError> {
        if self.peers.load(Ordering::Relaxed) >= self.cfg.max_peers {
            return Err(StoreError::Full);
        }
        if self.cfg.max_peers_per_ip > 0 {
            let k = client_key_of(addr);
            let mut m = lock(self.client_slot(&k));
            let c = m.entry(k).or_insert(0);
            if *c >= self.cfg.max_peers_per_ip {
                return Err(StoreError::TooManyForIp);
            }
            *c += 1;
        }
        self.peers.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Give back the entry of the client owning `addr`.
    fn release(&self, addr: &[u8]) {
        self.peers.fetch_sub(1, Ordering::Relaxed);
        if self.cfg.max_peers_per_ip > 0 {
            let k = client_key_of(addr);
            let mut m = lock(self.client_slot(&k));
            if let Some(c) = m.get_mut(&k) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    m.remove(&k);
                }
            }
        }
    }

    /// Entries currently held for the client at `ip` (its /64 for IPv6).
    pub fn entries_for(&self, ip: IpAddr) -> u32 {
        let (b, n) = compact(SocketAddr::new(ip, 0));
        let k = client_key_of(&b[..n]);
        lock(self.client_slot(&k)).get(&k).copied().unwrap_or(0)
    }

    /// Record an announce at time `now` and append the compact peers to give
    /// back (6-byte entries for an IPv4 peer, 18-byte for IPv6) to `out`,
    /// at most `max_out` of them (a datagram's room). Returns the counts after
    /// the update.
    ///
    /// Rules: `stopped` removes the peer at once (and returns no peers); a
    /// `completed` from a peer not yet a seeder counts one download; the peer
    /// never gets itself back; a seeder gets only leechers; the sample is
    /// random; `numwant` is clamped to `max_numwant`.
    pub fn announce(
        &self,
        a: &Announce,
        now: u32,
        max_out: usize,
        out: &mut Vec<u8>,
    ) -> Result<SwarmCounts, StoreError> {
        let (buf, n) = compact(a.peer);
        let addr = &buf[..n];
        let want = a
            .numwant
            .unwrap_or(self.cfg.default_numwant)
            .min(self.cfg.max_numwant)
            .min(max_out);
        let (hash, shard) = self.shard_of(&a.info_hash);
        let mut g = lock(shard);
        let Shard { table, rng } = &mut *g;
        let stamp = now as u16;
        let eq = |e: &(InfoHash, Swarm)| e.0 == a.info_hash;
        let swarm = match table.find_mut(hash, eq) {
            Some(e) => &mut e.1,
            None => {
                if a.event == Event::Stopped {
                    return Ok(SwarmCounts::default());
                }
                if self.torrents.load(Ordering::Relaxed) >= self.cfg.max_torrents {
                    return Err(StoreError::Full);
                }
                self.reserve(addr)?;
                self.torrents.fetch_add(1, Ordering::Relaxed);
                let hasher = &self.hasher;
                let e = table.insert_unique(hash, (a.info_hash, Swarm::default()), |e| {
                    hasher.hash_one(e.0)
                });
                // The entry was just reserved for this peer: insert it below
                // without reserving again.
                let sw = &mut e.into_mut().1;
                return Ok(self.update(sw, a, addr, stamp, want, rng, out));
            }
        };
        let r = self.update_checked(swarm, a, addr, stamp, want, rng, out);
        if swarm.is_empty() {
            let _ = table.find_entry(hash, eq).map(|e| e.remove());
            self.torrents.fetch_sub(1, Ordering::Relaxed);
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn update_checked(
        &self,
        sw: &mut Swarm,
        a: &Announce,
        addr: &[u8],
        stamp: u16,
        want: usize,
        rng: &mut Rng,
        out: &mut Vec<u8>,
    ) -> Result<SwarmCounts, StoreError> {
        let present = if addr.len() == 6 {
            sw.v4.locate(addr) != Found::No
        } else {
            sw.v6.as_ref().is_some_and(|l| l.locate(addr) != Found::No)
        };
        if !present && a.event != Event::Stopped {
            self.reserve(addr)?;
        }
        Ok(self.update(sw, a, addr, stamp, want, rng, out))
    }

    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        sw: &mut Swarm,
        a: &Announce,
        addr: &[u8],
        stamp: u16,
        want: usize,
        rng: &mut Rng,
        out: &mut Vec<u8>,
    ) -> SwarmCounts {
        let mut completed = false;
        if addr.len() == 6 {
            upsert(
                &mut sw.v4,
                a,
                addr,
                stamp,
                &mut completed,
                want,
                rng,
                out,
                &mut |x| self.release(x),
            );
        } else {
            let l = sw.v6.get_or_insert_with(Box::default);
            upsert(
                l,
                a,
                addr,
                stamp,
                &mut completed,
                want,
                rng,
                out,
                &mut |x| self.release(x),
            );
            if l.len() == 0 {
                sw.v6 = None;
            }
        }
        if completed {
            sw.downloaded = sw.downloaded.saturating_add(1);
        }
        sw.counts()
    }

    /// The counts of one torrent (zeros if unknown).
    pub fn scrape(&self, h: &InfoHash) -> SwarmCounts {
        let (hash, shard) = self.shard_of(h);
        let g = lock(shard);
        g.table
            .find(hash, |e| e.0 == *h)
            .map(|e| e.1.counts())
            .unwrap_or_default()
    }

    /// Drop peers not seen for `peer_timeout` seconds and torrents left
    /// empty; returns the number of peers dropped. Call it regularly (the
    /// server does every 30 s).
    pub fn sweep(&self, now: u32) -> usize {
        let now16 = now as u16;
        let timeout = self.cfg.peer_timeout as u16;
        let mut removed = 0;
        for s in self.shards.iter() {
            let mut gone: Vec<([u8; 18], usize)> = Vec::new();
            {
                let mut g = lock(&s.0);
                let mut dropped_torrents = 0;
                g.table.retain(|(_, sw)| {
                    let mut cb = |x: &[u8]| {
                        let mut b = [0u8; 18];
                        b[..x.len()].copy_from_slice(x);
                        gone.push((b, x.len()));
                    };
                    sw.v4.expire(now16, timeout, &mut cb);
                    if let Some(l) = sw.v6.as_mut() {
                        l.expire(now16, timeout, &mut cb);
                        if l.len() == 0 {
                            sw.v6 = None;
                        }
                    }
                    let keep = !sw.is_empty();
                    dropped_torrents += usize::from(!keep);
                    keep
                });
                if g.table.capacity() > 2 * g.table.len() + 16 {
                    let hasher = &self.hasher;
                    g.table.shrink_to(0, |e| hasher.hash_one(e.0));
                }
                self.torrents.fetch_sub(dropped_torrents, Ordering::Relaxed);
            }
            removed += gone.len();
            for (b, n) in gone {
                self.release(&b[..n]);
            }
        }
        removed
    }

    /// Totals over all shards (walks every shard: for stats, not hot paths).
    pub fn totals(&self) -> StoreTotals {
        let mut t = StoreTotals::default();
        for s in self.shards.iter() {
            let g = lock(&s.0);
            t.torrents += g.table.len();
            for (_, sw) in g.table.iter() {
                let c = sw.counts();
                t.seeders += c.seeders as usize;
                t.leechers += c.leechers as usize;
                t.peer_bytes += sw.v4.bytes() + sw.v6.as_ref().map_or(0, |l| l.bytes());
            }
        }
        t
    }

    /// Peer entries held (all torrents), from the running counter.
    pub fn peer_count(&self) -> usize {
        self.peers.load(Ordering::Relaxed)
    }

    /// Torrents held, from the running counter.
    pub fn torrent_count(&self) -> usize {
        self.torrents.load(Ordering::Relaxed)
    }
}

/// Apply an announce to one family's lists and sample peers.
#[allow(clippy::too_many_arguments)]
fn upsert<P: Entry>(
    l: &mut Lists<P>,
    a: &Announce,
    addr: &[u8],
    stamp: u16,
    completed: &mut bool,
    want: usize,
    rng: &mut Rng,
    out: &mut Vec<u8>,
    release: &mut impl FnMut(&[u8]),
) {
    let found = l.locate(addr);
    if a.event == Event::Stopped {
        if found != Found::No {
            l.remove(found);
            shrink(&mut l.v);
            release(addr);
        }
        return;
    }
    let p = P::new(addr, stamp);
    let me = match (found, a.seeder) {
        (Found::Seed(i), true) => {
            l.v[i].set_stamp(stamp);
            Found::Seed(i)
        }
        (Found::Leech(i), false) => {
            let s = l.seeds as usize;
            l.v[s + i].set_stamp(stamp);
            Found::Leech(i)
        }
        (Found::Leech(_), true) | (Found::No, true) => {
            *completed = a.event == Event::Completed;
            l.remove(found);
            Found::Seed(l.insert_seed(p))
        }
        (Found::Seed(_), false) | (Found::No, false) => {
            l.remove(found);
            Found::Leech(l.insert_leech(p))
        }
    };
    if want > 0 {
        l.sample(a.seeder, me, want, rng, out);
    }
}
