//! The session: a listening socket, global limits, and the torrents it
//! serves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_metainfo::{CreateProgress, Magnet, Torrent};
use shoal_wire::{ExtensionHandshake, PeerId};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

use crate::choker::{Choker, ChokerConfig};
use crate::limiter::RateLimiter;
use crate::peer::PeerConfig;
use crate::picker::{PickerConfig, PiecePicker};
use crate::storage::{CheckReport, Storage, StorageConfig, StorageHandle};
use crate::torrent::{Core, TorrentHandle, TorrentShared, TorrentState};
use crate::EngineError;

/// Settings of a [`Session`].
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Addresses to listen on, tried in order until one binds.
    pub listen: Vec<SocketAddr>,
    /// When the address that binds is `0.0.0.0:P`, also listen on `[::]:P`
    /// (IPv6 only), so IPv6 peers reach us on the same port.
    pub dual_stack: bool,
    /// Our peer id.
    pub peer_id: PeerId,
    /// Most peers connected per torrent.
    pub max_peers: usize,
    /// Most peer connections (connected or being dialed) across every
    /// torrent of the session.
    pub max_connections: usize,
    /// Most outgoing connection attempts under way per torrent.
    pub max_half_open: usize,
    /// Time allowed for a TCP connect.
    pub connect_timeout: Duration,
    /// Time allowed for the handshake exchange.
    pub handshake_timeout: Duration,
    /// Global upload limit, bytes/s.
    pub upload_limit: Option<u64>,
    /// Global download limit, bytes/s.
    pub download_limit: Option<u64>,
    /// Per-connection tunables.
    pub peer: PeerConfig,
    /// Storage tunables.
    pub storage: StorageConfig,
    /// Choking tunables.
    pub choker: ChokerConfig,
    /// Client name sent in the extension handshake (`v`).
    pub client_name: String,
    /// Bounds per torrent: addresses kept to dial, peers per IP address.
    pub limits: shoal_swarm::torrent::Limits,
    /// Most incoming connections from one IP address in their handshake
    /// at once (loopback exempt when `limits.exempt_loopback`).
    pub max_handshakes_per_ip: usize,
    /// Message stream encryption (MSE/PE): incoming connections may use it
    /// under `Prefer` (the default) and must under `Require`; outgoing ones
    /// use it under `Require`, and first under `Prefer` (a peer that hangs
    /// up on it is dialed again in plaintext).
    pub encryption: shoal_mse::Policy,
    /// The Mainline DHT (BEP 5), on the listen port over UDP: `None` runs
    /// none. Non-private torrents announce to it and look peers up in it,
    /// and magnet links find peers through it.
    pub dht: Option<shoal_dht::DriverConfig>,
    /// Peer exchange (BEP 11) with peers that speak it, on non-private
    /// torrents.
    pub pex: bool,
    /// Web seeds (BEP 19): on by default.
    pub web_seed: crate::webseed::WebSeedSettings,
    /// Local service discovery (BEP 14) for non-private torrents, on the
    /// multicast group 239.192.152.143:6771 (and IPv6's where it works).
    /// Off by default in the library (the `shoal` command turns it on).
    pub lsd: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            listen: (6881..=6889)
                .map(|p| SocketAddr::from(([0, 0, 0, 0], p)))
                .collect(),
            dual_stack: true,
            peer_id: PeerId::generate(),
            max_peers: 50,
            max_connections: 200,
            max_half_open: 16,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: crate::peer::DEFAULT_HANDSHAKE_TIMEOUT,
            upload_limit: None,
            download_limit: None,
            peer: PeerConfig::default(),
            storage: StorageConfig::default(),
            choker: ChokerConfig::default(),
            client_name: concat!("Shoal ", env!("CARGO_PKG_VERSION")).to_owned(),
            limits: shoal_swarm::torrent::Limits::default(),
            max_handshakes_per_ip: 4,
            encryption: shoal_mse::Policy::Prefer,
            dht: None,
            pex: true,
            web_seed: crate::webseed::WebSeedSettings::default(),
            lsd: false,
        }
    }
}

/// How to add a torrent.
#[derive(Debug, Clone, Default)]
pub struct AddTorrentOptions {
    /// The download directory; the content goes under its own name there.
    pub dir: PathBuf,
    /// Peers to connect to (retried for ever).
    pub peers: Vec<SocketAddr>,
    /// Announce to the torrent's trackers.
    pub use_trackers: bool,
    /// Counter of bytes hashed by the initial check, for progress display.
    pub check_progress: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// Super-seed (BEP 16) once complete: offer each new peer a few of the
    /// rarest pieces at a time instead of a bitfield.
    pub super_seed: bool,
}

/// What every task of the session shares.
#[derive(Debug)]
pub(crate) struct SessionShared {
    pub config: SessionConfig,
    pub peer_id: PeerId,
    pub local_addr: SocketAddr,
    /// Global upload limit (unlimited when not set; changed at run time by
    /// the session's settings, e.g. the alternative limits).
    pub upload_limit: Arc<RateLimiter>,
    /// Global download limit, as `upload_limit`.
    pub download_limit: Arc<RateLimiter>,
    /// The session's DHT node, if it runs one.
    pub dht: Option<shoal_dht::Dht>,
    torrents: Mutex<HashMap<[u8; 20], Arc<TorrentShared>>>,
    /// Peer connections open or being dialed, over all torrents.
    connections: AtomicUsize,
}

/// One of the session's [`SessionConfig::max_connections`], held while a
/// connection is dialed or open; given back on drop.
#[derive(Debug)]
pub(crate) struct ConnectionSlot(Arc<SessionShared>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SessionShared {
    /// Take a connection slot, if the session has one free.
    pub fn reserve_connection(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let max = self.config.max_connections;
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionSlot(self.clone()))
    }

    /// The torrent with this info-hash, if the session has it.
    pub fn torrent(&self, info_hash: &[u8; 20]) -> Option<Arc<TorrentShared>> {
        self.torrents.lock().ok()?.get(info_hash).cloned()
    }

    /// The info-hashes of every torrent, for telling which one an MSE
    /// initiator wants.
    pub fn info_hashes(&self) -> Vec<[u8; 20]> {
        self.torrents
            .lock()
            .map(|t| t.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Forget a torrent (in every swarm it joined).
    pub fn remove_torrent(&self, info_hash: &[u8; 20]) {
        if let Ok(mut t) = self.torrents.lock() {
            t.retain(|_, v| v.info_hash != *info_hash);
        }
    }

    /// Whether `addr` is (very likely) our own listening address.
    pub fn is_own_addr(&self, addr: SocketAddr) -> bool {
        let local = self.local_addr;
        addr.port() == local.port()
            && (addr.ip() == local.ip() || (local.ip().is_unspecified() && addr.ip().is_loopback()))
    }
}

/// A BitTorrent session: listens for peers and runs torrents.
#[derive(Debug)]
pub struct Session {
    pub(crate) shared: Arc<SessionShared>,
    listener: tokio::task::JoinHandle<()>,
    listen_addrs: Vec<SocketAddr>,
    /// The torrents added with [`Session::add`], and their manager task.
    pub(crate) registry: Arc<crate::managed::Registry>,
    pub(crate) manager: tokio::task::JoinHandle<()>,
    /// Local service discovery, if on.
    lsd: Option<tokio::task::JoinHandle<()>>,
}

impl Session {
    /// Bind the listening socket and start accepting connections.
    pub async fn start(config: SessionConfig) -> Result<Session, EngineError> {
        let addrs = config
            .listen
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let listeners = crate::listen::bind(&config.listen, config.dual_stack)
            .await
            .map_err(|source| EngineError::Listen {
                addrs: addrs.clone(),
                source,
            })?;
        let listen_addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| EngineError::Listen {
                addrs: addrs.clone(),
                source,
            })?;
        let local_addr = listen_addrs[0];
        let dht = match &config.dht {
            Some(cfg) => start_dht(local_addr, cfg.clone()).await,
            None => None,
        };
        let shared = Arc::new(SessionShared {
            dht,
            peer_id: config.peer_id,
            local_addr,
            upload_limit: Arc::new(limiter(config.upload_limit)),
            download_limit: Arc::new(limiter(config.download_limit)),
            config,
            torrents: Mutex::new(HashMap::new()),
            connections: AtomicUsize::new(0),
        });
        info!(addrs = ?listen_addrs, "listening");
        let listener = tokio::spawn(accept_loop(shared.clone(), listeners));
        let registry = Arc::new(crate::managed::Registry::new(
            crate::managed::types::SessionSettings {
                upload_limit: shared.config.upload_limit,
                download_limit: shared.config.download_limit,
                ..Default::default()
            },
        ));
        let manager = tokio::spawn(crate::managed::run_manager(
            registry.clone(),
            shared.clone(),
        ));
        let lsd = shared
            .config
            .lsd
            .then(|| tokio::spawn(crate::lsd::run(shared.clone())));
        Ok(Session {
            shared,
            listener,
            listen_addrs,
            registry,
            manager,
            lsd,
        })
    }

    /// The address the session listens on (the first, with dual stack).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// Every address the session listens on: [`Session::local_addr`], then
    /// `[::]` on the same port when dual stack added it.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.listen_addrs
    }

    /// Our peer id.
    pub fn peer_id(&self) -> PeerId {
        self.shared.peer_id
    }

    /// Add a torrent: open its storage under `opts.dir`, check what is
    /// already there (trusting a matching resume file), then start
    /// connecting to peers. Returns the handle and the check's report.
    pub async fn add_torrent(
        &self,
        torrent: Torrent,
        opts: AddTorrentOptions,
    ) -> Result<(TorrentHandle, CheckReport), EngineError> {
        self.shared.start_torrent(Arc::new(torrent), opts).await
    }

    /// Get the torrent of a magnet link from peers (BEP 9): `peers`, the
    /// magnet's own `x.pe` peers and, if `use_trackers`, those its trackers
    /// return. The torrent gets the magnet's trackers, one tier each.
    pub async fn fetch_magnet(
        &self,
        magnet: &Magnet,
        peers: &[SocketAddr],
        use_trackers: bool,
        timeout: Duration,
    ) -> Result<Torrent, EngineError> {
        self.shared
            .fetch_magnet(magnet, peers, use_trackers, timeout)
            .await
    }

    /// Stop accepting connections.
    pub fn close(&self) {
        self.listener.abort();
    }
}

impl SessionShared {
    /// Open, check and start a torrent (see [`Session::add_torrent`]).
    pub(crate) async fn start_torrent(
        self: &Arc<Self>,
        torrent: Arc<Torrent>,
        opts: AddTorrentOptions,
    ) -> Result<(TorrentHandle, CheckReport), EngineError> {
        let info_hash = torrent.info_hash.0;
        if self.torrent(&info_hash).is_some() {
            return Err(EngineError::Duplicate(torrent.info_hash.to_hex()));
        }
        let piece_length = u32::try_from(torrent.layout.piece_length)
            .map_err(|_| EngineError::InvalidTorrent("piece length over 4 GiB".into()))?;
        let layout = &torrent.layout;
        let storage_cfg = self.config.storage.clone();
        let dir = opts.dir.clone();
        let t2 = torrent.clone();
        let storage = tokio::task::spawn_blocking(move || Storage::open(t2, &dir, storage_cfg))
            .await
            .map_err(|e| EngineError::Fatal(e.to_string()))??;
        let storage = StorageHandle::new(storage);
        // The check runs on the blocking pool and does not stop when this
        // future is dropped (a caller gave up, e.g. on Ctrl-C) unless told.
        let cancel = Arc::new(AtomicBool::new(false));
        let _stop_check_if_dropped = SetOnDrop(cancel.clone());
        let report = storage
            .check(CreateProgress {
                hashed: opts.check_progress.clone().unwrap_or_default(),
                cancel,
            })
            .await?;
        let mut rng = StdRng::from_entropy();
        let mut picker = PiecePicker::new(
            layout.piece_count,
            piece_length,
            layout.total_length,
            PickerConfig {
                seed: rng.gen(),
                ..PickerConfig::default()
            },
        )
        .map_err(|e| EngineError::InvalidTorrent(e.to_string()))?;
        for p in storage.verified().iter_ones() {
            let _ = picker.mark_have(p as u32);
        }
        let complete = picker.is_finished();
        let now = Instant::now();
        let mut state =
            TorrentState::new(picker, Choker::new(self.config.choker.clone()), rng, now);
        state.metadata = bytes::Bytes::copy_from_slice(&torrent.info_bytes);
        state.limits = self.config.limits.clone();
        if opts.super_seed {
            state.enable_super_seeding();
        }
        // BEP 27: a private torrent's peers come from its trackers only.
        let pex = self.config.pex && !torrent.private;
        if pex {
            state.pex = Some(shoal_swarm::pex::PexConfig::default());
        }
        let mut ext = ExtensionHandshake {
            v: Some(self.config.client_name.clone()),
            p: Some(self.local_addr.port()),
            reqq: Some(self.config.peer.max_upload_queue as u32),
            metadata_size: Some(torrent.info_bytes.len() as u64),
            ..ExtensionHandshake::default()
        };
        ext.m.insert(
            shoal_swarm::ut_metadata::UT_METADATA.into(),
            shoal_swarm::ut_metadata::UT_METADATA_ID,
        );
        if pex {
            ext.m
                .insert(shoal_swarm::pex::UT_PEX.into(), shoal_swarm::pex::UT_PEX_ID);
        }
        let shared = Arc::new(TorrentShared {
            torrent: torrent.clone(),
            info_hash,
            session: self.clone(),
            storage,
            state: Mutex::new(Core::new(state)),
            ext,
            half_open: AtomicUsize::new(0),
            complete: watch::Sender::new(complete),
            stopping: watch::Sender::new(false),
            fatal: Mutex::new(None),
            poke: Notify::new(),
            limits: crate::torrent::TorrentLimits::default(),
            trackers: Mutex::new(crate::torrent::TrackerLog::default()),
        });
        {
            let mut map = self
                .torrents
                .lock()
                .map_err(|_| EngineError::ShuttingDown)?;
            let swarms = crate::swarm_hashes::swarm_hashes(&torrent);
            if swarms.iter().any(|h| map.contains_key(h)) {
                return Err(EngineError::Duplicate(torrent.info_hash.to_hex()));
            }
            for h in swarms {
                map.insert(h, shared.clone());
            }
        }
        let mut tasks = vec![tokio::spawn(crate::torrent::run_housekeeping(
            shared.clone(),
        ))];
        // A hybrid torrent announces in both of its swarms.
        for swarm in crate::swarm_hashes::swarm_hashes(&torrent) {
            if opts.use_trackers && !torrent.trackers.is_empty() {
                tasks.push(tokio::spawn(crate::announce::run(shared.clone(), swarm)));
            }
            // BEP 27: a private torrent's peers come from its trackers only.
            if let (Some(dht), false) = (&self.dht, torrent.private) {
                tasks.push(tokio::spawn(crate::dht_announce::run(
                    shared.clone(),
                    dht.clone(),
                    swarm,
                )));
            }
        }
        tasks.extend(crate::webseed::spawn(&shared));
        shared.add_peers(&opts.peers, true);
        debug!(info_hash = %torrent.info_hash, complete, "torrent added");
        Ok((
            TorrentHandle {
                shared,
                tasks: Arc::new(Mutex::new(tasks)),
            },
            report,
        ))
    }

    /// Get the torrent of a magnet link from peers (see
    /// [`Session::fetch_magnet`]).
    pub(crate) async fn fetch_magnet(
        self: &Arc<Self>,
        magnet: &Magnet,
        peers: &[SocketAddr],
        use_trackers: bool,
        timeout: Duration,
    ) -> Result<Torrent, EngineError> {
        let mut addrs: Vec<SocketAddr> = peers.to_vec();
        for p in &magnet.peers {
            if let Ok(mut a) = std::net::ToSocketAddrs::to_socket_addrs(p.as_str()) {
                addrs.extend(a.next());
            }
        }
        let tiers: Vec<Vec<String>> = magnet.trackers.iter().map(|t| vec![t.clone()]).collect();
        if use_trackers && !tiers.is_empty() {
            let mut client = shoal_tracker_client::TrackerClient::new(
                tiers.clone(),
                magnet.info_hash.0,
                self.peer_id.0,
                self.local_addr.port(),
            );
            let params = shoal_tracker_client::AnnounceParams {
                left: 1,
                event: shoal_tracker_client::Event::Started,
                numwant: Some(50),
                ..Default::default()
            };
            match tokio::time::timeout(Duration::from_secs(30), client.announce(params)).await {
                Ok(Ok(r)) => addrs.extend(r.peers),
                Ok(Err(e)) => warn!(error = %e, "announce for the magnet's metadata failed"),
                Err(_) => warn!("announce for the magnet's metadata timed out"),
            }
        }
        if let Some(dht) = &self.dht {
            if addrs.is_empty() {
                addrs.extend(
                    crate::dht_announce::find_peers(
                        dht,
                        magnet.info_hash.0,
                        Duration::from_secs(20),
                    )
                    .await,
                );
            }
        }
        addrs.retain(|a| !self.is_own_addr(*a));
        addrs.sort_unstable();
        addrs.dedup();
        let addrs_for_layers = addrs.clone();
        let info = crate::metadata_fetch::fetch_metadata(self, magnet.info_hash.0, addrs, timeout)
            .await
            .map_err(|e| EngineError::Fatal(e.to_string()))?;
        let mut torrent = Torrent::from_info_bytes(&info)
            .map_err(|e| EngineError::InvalidTorrent(e.to_string()))?;
        // BEP 52: a v2 dictionary has no piece layers; ask peers for them.
        crate::layer_fetch::fetch_piece_layers(
            &mut torrent,
            magnet.info_hash.0,
            self.peer_id,
            &addrs_for_layers,
            timeout,
        )
        .await
        .map_err(EngineError::Fatal)?;
        torrent.trackers = tiers;
        Ok(torrent)
    }
}

impl Drop for Session {
    /// Stops every torrent at once: connections close and resume data is
    /// saved (here, synchronously); trackers are not told (see
    /// [`Session::shutdown`]).
    fn drop(&mut self) {
        self.listener.abort();
        if let Some(l) = &self.lsd {
            l.abort();
        }
        self.manager.abort();
        let torrents: Vec<Arc<TorrentShared>> = match self.shared.torrents.lock() {
            Ok(t) => t.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        for t in torrents {
            t.stopping.send_replace(true);
            t.lock().shut_down(Instant::now());
            t.lock().verified_since_save = 0;
            if let Err(e) = t.storage.storage().save_resume() {
                warn!(error = %e, "could not save resume data");
            }
        }
    }
}

/// A limiter at `rate` bytes/s, or an unlimited one.
fn limiter(rate: Option<u64>) -> RateLimiter {
    match rate {
        Some(r) if r > 0 => RateLimiter::new(r),
        _ => RateLimiter::unlimited(),
    }
}

/// Bind a UDP socket on the TCP listen address and run the DHT there; a
/// failure leaves the session without a DHT (logged).
async fn start_dht(local: SocketAddr, mut cfg: shoal_dht::DriverConfig) -> Option<shoal_dht::Dht> {
    // The node's randomness (and so its id, when none is saved) must differ
    // between nodes.
    cfg.node.seed = rand::random();
    let socket = match tokio::net::UdpSocket::bind(local).await {
        Ok(s) => s,
        Err(e) => {
            warn!(%local, error = %e, "no DHT: cannot bind its UDP socket");
            return None;
        }
    };
    match shoal_dht::Dht::spawn_with_socket(socket, cfg) {
        Ok(d) => {
            info!(%local, "DHT running");
            Some(d)
        }
        Err(e) => {
            warn!(error = %e, "no DHT");
            None
        }
    }
}

/// Most incoming connections in their handshake at once; more are closed
/// at once (a connection flood costs us nothing).
const MAX_INCOMING_HANDSHAKES: usize = 64;

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Incoming handshakes under way per IP address; a [`HandshakeSlot`] holds
/// one.
#[derive(Debug, Default)]
struct HandshakesPerIp(Mutex<HashMap<std::net::IpAddr, usize>>);

/// One incoming handshake of an address, given back on drop.
#[derive(Debug)]
pub(crate) struct HandshakeSlot {
    _global: tokio::sync::OwnedSemaphorePermit,
    per_ip: Option<(Arc<HandshakesPerIp>, std::net::IpAddr)>,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        if let Some((map, ip)) = self.per_ip.take() {
            if let Ok(mut m) = map.0.lock() {
                if let Some(n) = m.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        m.remove(&ip);
                    }
                }
            }
        }
    }
}

impl HandshakesPerIp {
    /// Take a slot for `ip` if it has fewer than `max` handshakes under way.
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, max: usize) -> Option<Arc<Self>> {
        let mut m = self.0.lock().ok()?;
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(self.clone())
    }
}

async fn accept_loop(shared: Arc<SessionShared>, listeners: Vec<TcpListener>) {
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_INCOMING_HANDSHAKES));
    let per_ip = Arc::new(HandshakesPerIp::default());
    for turn in 0usize.. {
        match crate::listen::accept_any(&listeners, turn).await {
            Ok((stream, addr)) => {
                // One host cannot take every handshake slot: past a few at
                // once from its address, its connections are closed.
                let ip = addr.ip();
                let limits = &shared.config.limits;
                let ip_slot = if limits.exempt_loopback && ip.is_loopback() {
                    None
                } else {
                    match per_ip.take(ip, shared.config.max_handshakes_per_ip) {
                        Some(map) => Some((map, ip)),
                        None => {
                            debug!(%addr, "too many handshakes from this address: connection closed");
                            continue;
                        }
                    }
                };
                let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                    debug!(%addr, "too many incoming handshakes: connection closed");
                    continue;
                };
                let slot = HandshakeSlot {
                    _global: permit,
                    per_ip: ip_slot,
                };
                tokio::spawn(crate::peer::accept(shared.clone(), stream, addr, slot));
            }
            Err(e) => {
                // Out of descriptors and the like: back off a little.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_are_bounded_and_given_back_on_drop() {
        let shared = Arc::new(SessionShared {
            config: SessionConfig {
                max_connections: 3,
                ..SessionConfig::default()
            },
            peer_id: PeerId::generate(),
            local_addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            upload_limit: Arc::new(RateLimiter::unlimited()),
            download_limit: Arc::new(RateLimiter::unlimited()),
            dht: None,
            torrents: Mutex::new(HashMap::new()),
            connections: AtomicUsize::new(0),
        });
        let held: Vec<ConnectionSlot> = (0..5).map_while(|_| shared.reserve_connection()).collect();
        assert_eq!(held.len(), 3);
        assert!(shared.reserve_connection().is_none());
        drop(held);
        assert!(shared.reserve_connection().is_some());
        assert_eq!(shared.connections.load(Ordering::Acquire), 0);
    }
}
