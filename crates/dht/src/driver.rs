//! A thin tokio driver: runs a [`Node`] on its own UDP socket, or on
//! datagrams handed over by another owner of the socket (the engine shares
//! one UDP port with uTP and passes on what starts with `d`).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::compact::NodeInfo;
use crate::config::Config;
use crate::id::NodeId;
use crate::lookup::LookupId;
use crate::node::{CommandError, Event, LookupStats, Node, NodeStats};

/// The well-known bootstrap routers.
pub const DEFAULT_ROUTERS: [&str; 4] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// Datagrams queued from the socket (or the demultiplexer) to the node.
const INCOMING_QUEUE: usize = 1024;
/// Datagrams queued from the node to the socket.
const OUTGOING_QUEUE: usize = 1024;
/// Peer batches queued per `get_peers` receiver before batches are dropped.
const PEER_BATCHES: usize = 64;

/// Driver settings.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// The node's settings.
    pub node: Config,
    /// Router host names (`host:port`), resolved in the background; they
    /// help bootstrap and never enter the routing table.
    pub routers: Vec<String>,
    /// Plain DHT nodes to bootstrap from.
    pub bootstrap: Vec<SocketAddr>,
    /// State from an earlier [`Dht::save_state`], to reuse its id and nodes.
    pub state: Option<Vec<u8>>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            node: Config::default(),
            routers: DEFAULT_ROUTERS.iter().map(|s| s.to_string()).collect(),
            bootstrap: Vec::new(),
            state: None,
        }
    }
}

/// Why a DHT call failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DhtError {
    /// The DHT task has stopped.
    #[error("the DHT task has stopped")]
    Stopped,
    /// The node refused the command.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// What an announce found and did.
#[derive(Clone, Debug, Default)]
pub struct AnnounceResult {
    /// Peers found on the way.
    pub peers: Vec<SocketAddr>,
    /// Costs, and how many nodes were sent `announce_peer`.
    pub stats: LookupStats,
}

enum Command {
    GetPeers(
        NodeId,
        oneshot::Sender<Result<mpsc::Receiver<Vec<SocketAddr>>, CommandError>>,
    ),
    Announce(
        NodeId,
        Option<u16>,
        oneshot::Sender<Result<AnnounceResult, CommandError>>,
    ),
    FindNode(NodeId, oneshot::Sender<Result<Vec<NodeInfo>, CommandError>>),
    Bootstrap(Vec<SocketAddr>, oneshot::Sender<usize>),
    Routers(Vec<SocketAddr>),
    Stats(oneshot::Sender<NodeStats>),
    SaveState(oneshot::Sender<Vec<u8>>),
}

enum Waiter {
    Peers(mpsc::Sender<Vec<SocketAddr>>),
    Announce(
        Vec<SocketAddr>,
        oneshot::Sender<Result<AnnounceResult, CommandError>>,
    ),
    FindNode(oneshot::Sender<Result<Vec<NodeInfo>, CommandError>>),
}

/// A handle on a running DHT node. Cheap to clone; the task stops when
/// every handle is dropped.
#[derive(Clone, Debug)]
pub struct Dht {
    commands: mpsc::Sender<Command>,
    local_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

fn make_node(config: &DriverConfig, now: Instant) -> Node {
    if let Some(state) = &config.state {
        match Node::from_state(config.node.clone(), state, now) {
            Ok(n) => return n,
            Err(e) => warn!(error = %e, "ignoring saved DHT state"),
        }
    }
    Node::new(config.node.clone(), now)
}

impl Dht {
    /// Bind a UDP socket at `addr` and run a node on it.
    pub async fn bind(addr: SocketAddr, config: DriverConfig) -> std::io::Result<Dht> {
        let socket = UdpSocket::bind(addr).await?;
        Dht::spawn_with_socket(socket, config)
    }

    /// Run a node on `socket`, which it owns from now on. Only the address
    /// family of the socket is used.
    pub fn spawn_with_socket(socket: UdpSocket, mut config: DriverConfig) -> std::io::Result<Dht> {
        let local = socket.local_addr()?;
        config.node.ipv4 = local.is_ipv4();
        config.node.ipv6 = local.is_ipv6();
        let socket = Arc::new(socket);
        let (in_tx, in_rx) = mpsc::channel(INCOMING_QUEUE);
        let reader = socket.clone();
        let reader_tx = in_tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                tokio::select! {
                    r = reader.recv_from(&mut buf) => match r {
                        Ok((n, from)) => {
                            if n > 0 && buf[0] == b'd' {
                                // Full queue: drop, as a congested link would.
                                let _ = reader_tx.try_send((from, Bytes::copy_from_slice(&buf[..n])));
                            }
                        }
                        Err(e) => debug!(error = %e, "DHT socket receive error"),
                    },
                    _ = reader_tx.closed() => break,
                }
            }
        });
        drop(in_tx);
        let (out_tx, mut out_rx) = mpsc::channel::<(SocketAddr, Vec<u8>)>(OUTGOING_QUEUE);
        let writer = socket.clone();
        tokio::spawn(async move {
            while let Some((to, bytes)) = out_rx.recv().await {
                if let Err(e) = writer.send_to(&bytes, to).await {
                    debug!(%to, error = %e, "DHT send failed");
                }
            }
        });
        let send = move |to: SocketAddr, bytes: Vec<u8>| {
            if out_tx.try_send((to, bytes)).is_err() {
                debug!(%to, "DHT send queue full; datagram dropped");
            }
        };
        let mut dht = Dht::spawn(config, in_rx, send);
        dht.local_addr = Some(local);
        Ok(dht)
    }

    /// Run a node fed by an external demultiplexer: push every datagram
    /// that starts with `d` into the returned sender; the node sends
    /// through `outgoing`.
    pub fn spawn_external(
        config: DriverConfig,
        outgoing: impl Fn(SocketAddr, Vec<u8>) + Send + 'static,
    ) -> (Dht, mpsc::Sender<(SocketAddr, Bytes)>) {
        let (in_tx, in_rx) = mpsc::channel(INCOMING_QUEUE);
        (Dht::spawn(config, in_rx, outgoing), in_tx)
    }

    fn spawn(
        config: DriverConfig,
        incoming: mpsc::Receiver<(SocketAddr, Bytes)>,
        outgoing: impl Fn(SocketAddr, Vec<u8>) + Send + 'static,
    ) -> Dht {
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let node = make_node(&config, Instant::now());
        let dht = Dht {
            commands: cmd_tx.clone(),
            local_addr: None,
        };
        if !config.routers.is_empty() {
            let routers = config.routers.clone();
            let tx = cmd_tx.downgrade();
            tokio::spawn(async move {
                let mut addrs = Vec::new();
                for r in routers {
                    match tokio::net::lookup_host(r.as_str()).await {
                        Ok(it) => addrs.extend(it),
                        Err(e) => debug!(router = %r, error = %e, "cannot resolve DHT router"),
                    }
                }
                if let Some(tx) = tx.upgrade() {
                    let _ = tx.send(Command::Routers(addrs)).await;
                }
            });
        }
        let bootstrap = config.bootstrap.clone();
        tokio::spawn(run(node, cmd_rx, incoming, outgoing, bootstrap));
        dht
    }

    /// The socket address, when the driver owns the socket.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, DhtError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| DhtError::Stopped)?;
        rx.await.map_err(|_| DhtError::Stopped)
    }

    /// Look up peers: batches arrive on the receiver, which closes when the
    /// lookup is over.
    pub async fn get_peers(
        &self,
        info_hash: NodeId,
    ) -> Result<mpsc::Receiver<Vec<SocketAddr>>, DhtError> {
        Ok(self.call(|tx| Command::GetPeers(info_hash, tx)).await??)
    }

    /// Announce on `port` (`None`: the UDP source port, `implied_port`) and
    /// wait for the lookup and the announces to be sent.
    pub async fn announce(
        &self,
        info_hash: NodeId,
        port: Option<u16>,
    ) -> Result<AnnounceResult, DhtError> {
        Ok(self
            .call(|tx| Command::Announce(info_hash, port, tx))
            .await??)
    }

    /// The closest nodes to `target` that answered.
    pub async fn find_node(&self, target: NodeId) -> Result<Vec<NodeInfo>, DhtError> {
        Ok(self.call(|tx| Command::FindNode(target, tx)).await??)
    }

    /// Bootstrap from these nodes; returns the routing-table size after.
    pub fn bootstrap(
        &self,
        addrs: Vec<SocketAddr>,
    ) -> impl Future<Output = Result<usize, DhtError>> + '_ {
        self.call(move |tx| Command::Bootstrap(addrs, tx))
    }

    /// Routing-table sizes, queries in flight and other counters.
    pub async fn stats(&self) -> Result<NodeStats, DhtError> {
        self.call(Command::Stats).await
    }

    /// Node id and good nodes, for [`DriverConfig::state`] next time.
    pub async fn save_state(&self) -> Result<Vec<u8>, DhtError> {
        self.call(Command::SaveState).await
    }
}

async fn run(
    mut node: Node,
    mut commands: mpsc::Receiver<Command>,
    mut incoming: mpsc::Receiver<(SocketAddr, Bytes)>,
    outgoing: impl Fn(SocketAddr, Vec<u8>),
    bootstrap: Vec<SocketAddr>,
) {
    let mut waiters: HashMap<LookupId, Waiter> = HashMap::new();
    let mut bootstrap_waiters: Vec<oneshot::Sender<usize>> = Vec::new();
    let mut incoming_open = true;
    node.bootstrap(&bootstrap, Instant::now());
    loop {
        while let Some((to, bytes)) = node.poll_transmit() {
            outgoing(to, bytes);
        }
        while let Some(e) = node.poll_event() {
            dispatch(e, &mut waiters, &mut bootstrap_waiters);
        }
        let deadline = node.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { break };
                let now = Instant::now();
                match cmd {
                    Command::GetPeers(ih, reply) => {
                        match node.get_peers(ih, now) {
                            Ok(id) => {
                                let (tx, rx) = mpsc::channel(PEER_BATCHES);
                                waiters.insert(id, Waiter::Peers(tx));
                                let _ = reply.send(Ok(rx));
                            }
                            Err(e) => { let _ = reply.send(Err(e)); }
                        }
                    }
                    Command::Announce(ih, port, reply) => match node.announce(ih, port, now) {
                        Ok(id) => { waiters.insert(id, Waiter::Announce(Vec::new(), reply)); }
                        Err(e) => { let _ = reply.send(Err(e)); }
                    },
                    Command::FindNode(t, reply) => match node.find_node(t, now) {
                        Ok(id) => { waiters.insert(id, Waiter::FindNode(reply)); }
                        Err(e) => { let _ = reply.send(Err(e)); }
                    },
                    Command::Bootstrap(addrs, reply) => {
                        bootstrap_waiters.push(reply);
                        node.bootstrap(&addrs, now);
                    }
                    Command::Routers(addrs) => {
                        let family: Vec<SocketAddr> = addrs.into_iter().collect();
                        node.add_routers(&family, now);
                    }
                    Command::Stats(reply) => { let _ = reply.send(node.stats()); }
                    Command::SaveState(reply) => { let _ = reply.send(node.save_state()); }
                }
            }
            pkt = incoming.recv(), if incoming_open => match pkt {
                Some((from, bytes)) => node.handle_datagram(from, &bytes, Instant::now()),
                None => incoming_open = false,
            },
            _ = sleep => node.handle_timeout(Instant::now()),
        }
    }
}

fn dispatch(
    e: Event,
    waiters: &mut HashMap<LookupId, Waiter>,
    bootstrap_waiters: &mut Vec<oneshot::Sender<usize>>,
) {
    match e {
        Event::Peers { lookup, peers, .. } => match waiters.get_mut(&lookup) {
            Some(Waiter::Peers(tx)) => {
                let sent = tx.try_send(peers);
                if sent.is_err() {
                    debug!("get_peers receiver full or gone; batch dropped");
                }
            }
            Some(Waiter::Announce(found, _)) => found.extend(peers),
            _ => {}
        },
        Event::LookupDone {
            lookup,
            closest,
            stats,
            ..
        } => match waiters.remove(&lookup) {
            Some(Waiter::Announce(peers, reply)) => {
                let _ = reply.send(Ok(AnnounceResult { peers, stats }));
            }
            Some(Waiter::FindNode(reply)) => {
                let _ = reply.send(Ok(closest));
            }
            Some(Waiter::Peers(_)) | None => {}
        },
        Event::Bootstrapped { nodes } => {
            for w in bootstrap_waiters.drain(..) {
                let _ = w.send(nodes);
            }
        }
        Event::IdChanged { id, external_ip } => {
            debug!(%id, %external_ip, "DHT node id follows the external address (BEP 42)");
        }
    }
}
