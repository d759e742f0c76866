//! The tokio driver: one task owns the UDP socket and the [`Endpoint`],
//! receives datagrams (uTP to the endpoint, anything else to a channel for
//! the DHT), runs the timers and sends what the connections produce.
//! [`UtpStream`]s share the endpoint through a mutex and wake the driver
//! when they write.

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};

use crate::batch_io::{recv_batch, send_batch, RecvBatch, BATCH};
use crate::connection::{ConnectionError, State};
use crate::endpoint::{ConnectionHandle, DatagramEvent, Endpoint, EndpointConfig};

/// Socket settings.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// Endpoint (and connection) settings.
    pub endpoint: EndpointConfig,
    /// How long [`UtpSocket::connect`] waits for the handshake.
    pub connect_timeout: Duration,
    /// Non-uTP datagrams queued for [`UtpSocket::non_utp_datagrams`]
    /// before further ones are dropped.
    pub non_utp_queue: usize,
    /// After the last handle is dropped, how long the driver keeps running
    /// to finish closing connections.
    pub close_grace: Duration,
}

impl Default for SocketConfig {
    fn default() -> SocketConfig {
        SocketConfig {
            endpoint: EndpointConfig::default(),
            connect_timeout: Duration::from_secs(10),
            non_utp_queue: 256,
            close_grace: Duration::from_secs(10),
        }
    }
}

/// Kernel send and receive buffer size asked for (the kernel may cap it).
const SOCKET_BUFFER: usize = 4 << 20;

/// A non-blocking UDP socket bound at `addr` with `buffer`-byte kernel
/// buffers (best effort); IPv6 sockets are IPv6-only.
pub fn udp_socket(addr: SocketAddr, buffer: usize) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if let Err(e) = socket.set_recv_buffer_size(buffer) {
        tracing::debug!(error = %e, "could not enlarge the UDP receive buffer");
    }
    if let Err(e) = socket.set_send_buffer_size(buffer) {
        tracing::debug!(error = %e, "could not enlarge the UDP send buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// A datagram that was not uTP, and who sent it.
pub type Datagram = (Vec<u8>, SocketAddr);

#[derive(Default)]
struct Wakers {
    read: Option<Waker>,
    write: Option<Waker>,
}

struct Inner {
    ep: Endpoint,
    wakers: HashMap<ConnectionHandle, Wakers>,
    accept_waker: Option<Waker>,
    driver_error: Option<io::ErrorKind>,
}

impl Inner {
    fn wake_touched(&mut self) {
        while let Some(h) = self.ep.poll_touched() {
            if let Some(w) = self.wakers.get_mut(&h) {
                if let Some(w) = w.read.take() {
                    w.wake();
                }
                if let Some(w) = w.write.take() {
                    w.wake();
                }
            }
        }
    }
}

struct Shared {
    socket: Arc<UdpSocket>,
    inner: Mutex<Inner>,
    notify: Notify,
    users: AtomicUsize,
    cfg: SocketConfig,
    non_utp_rx: Mutex<Option<mpsc::Receiver<Datagram>>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the endpoint in a
        // state worse than the panic itself; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counts the user-facing handles; the driver winds down when none is left.
struct UserRef(Arc<Shared>);

impl UserRef {
    fn new(shared: &Arc<Shared>) -> UserRef {
        shared.users.fetch_add(1, Ordering::SeqCst);
        UserRef(shared.clone())
    }
}

impl Drop for UserRef {
    fn drop(&mut self) {
        self.0.users.fetch_sub(1, Ordering::SeqCst);
        self.0.notify.notify_one();
    }
}

/// A UDP socket carrying uTP connections (and, on the side, any other
/// datagrams, e.g. the DHT's). Cloning gives another handle to the same
/// socket.
#[derive(Clone)]
pub struct UtpSocket {
    user: Arc<UserRef>,
}

impl UtpSocket {
    /// Bind a UDP socket at `addr` with default settings.
    pub async fn bind(addr: SocketAddr) -> io::Result<UtpSocket> {
        UtpSocket::bind_with(addr, SocketConfig::default())
    }

    /// Bind a UDP socket at `addr`: large kernel buffers (bursts of a fast
    /// connection would overflow the default ones), IPv6 sockets IPv6-only
    /// (so `[::]` and `0.0.0.0` can share a port). Must be called within a
    /// tokio runtime.
    pub fn bind_with(addr: SocketAddr, cfg: SocketConfig) -> io::Result<UtpSocket> {
        let socket = udp_socket(addr, SOCKET_BUFFER)?;
        Ok(UtpSocket::with_socket(Arc::new(socket), cfg))
    }

    /// Run uTP over an existing socket (which the caller may also use to
    /// send, e.g. for the DHT). Must be called within a tokio runtime.
    pub fn with_socket(socket: Arc<UdpSocket>, cfg: SocketConfig) -> UtpSocket {
        let now = Instant::now();
        let seed = rand::random();
        let (tx, rx) = mpsc::channel(cfg.non_utp_queue.max(1));
        let shared = Arc::new(Shared {
            socket,
            inner: Mutex::new(Inner {
                ep: Endpoint::new(cfg.endpoint.clone(), seed, now),
                wakers: HashMap::new(),
                accept_waker: None,
                driver_error: None,
            }),
            notify: Notify::new(),
            users: AtomicUsize::new(0),
            cfg,
            non_utp_rx: Mutex::new(Some(rx)),
        });
        let user = Arc::new(UserRef::new(&shared));
        tokio::spawn(drive(shared, tx));
        UtpSocket { user }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.user.0
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared().socket.local_addr()
    }

    /// The underlying UDP socket.
    pub fn udp_socket(&self) -> &Arc<UdpSocket> {
        &self.shared().socket
    }

    /// The receiver of datagrams that are not uTP (only the first call gets
    /// it). Unread datagrams beyond [`SocketConfig::non_utp_queue`] are
    /// dropped.
    pub fn non_utp_datagrams(&self) -> Option<mpsc::Receiver<Datagram>> {
        self.shared()
            .non_utp_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Send an arbitrary datagram from this socket.
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.shared().socket.send_to(buf, target).await
    }

    /// Open a uTP connection to `remote`, failing after
    /// [`SocketConfig::connect_timeout`].
    pub async fn connect(&self, remote: SocketAddr) -> io::Result<UtpStream> {
        let shared = self.shared().clone();
        let handle = {
            let mut inner = shared.lock();
            if let Some(kind) = inner.driver_error {
                return Err(io::Error::new(kind, "uTP socket driver stopped"));
            }
            inner
                .ep
                .connect(remote, Instant::now())
                .map_err(io::Error::other)?
        };
        shared.notify.notify_one();
        let stream = UtpStream {
            user: UserRef::new(&shared),
            handle,
            remote,
        };
        let wait = poll_fn(|cx| {
            let mut inner = shared.lock();
            let state = inner
                .ep
                .connection_ref(handle)
                .map(|c| (c.state(), c.error()));
            match state {
                Some((State::SynSent, _)) => {
                    inner.wakers.entry(handle).or_default().write = Some(cx.waker().clone());
                    Poll::Pending
                }
                Some((State::Reset, err)) => Poll::Ready(Err(to_io(err))),
                Some(_) => Poll::Ready(Ok(())),
                None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            }
        });
        match tokio::time::timeout(shared.cfg.connect_timeout, wait).await {
            Ok(Ok(())) => Ok(stream),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                if let Some(c) = shared.lock().ep.connection(handle) {
                    c.reset();
                }
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "uTP connect timed out",
                ))
            }
        }
    }

    /// Wait for the next incoming connection.
    pub async fn accept(&self) -> io::Result<(UtpStream, SocketAddr)> {
        let shared = self.shared().clone();
        poll_fn(|cx| {
            let mut inner = shared.lock();
            if let Some((handle, remote)) = inner.ep.accept() {
                let stream = UtpStream {
                    user: UserRef::new(&shared),
                    handle,
                    remote,
                };
                return Poll::Ready(Ok((stream, remote)));
            }
            if let Some(kind) = inner.driver_error {
                return Poll::Ready(Err(io::Error::new(kind, "uTP socket driver stopped")));
            }
            inner.accept_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Connections currently held by the endpoint.
    pub fn connection_count(&self) -> usize {
        self.shared().lock().ep.connection_count()
    }
}

fn to_io(err: Option<ConnectionError>) -> io::Error {
    let kind = match err {
        Some(ConnectionError::Reset) | Some(ConnectionError::Aborted) => {
            io::ErrorKind::ConnectionReset
        }
        Some(ConnectionError::ConnectTimedOut)
        | Some(ConnectionError::TimedOut)
        | Some(ConnectionError::Idle) => io::ErrorKind::TimedOut,
        None => io::ErrorKind::NotConnected,
    };
    match err {
        Some(e) => io::Error::new(kind, e),
        None => kind.into(),
    }
}

/// Most datagrams collected for sending per driver round.
const SEND_ROUND: usize = 4 * BATCH;
/// Most receive batches per driver round.
const RECV_ROUNDS: usize = 4;

async fn drive(shared: Arc<Shared>, non_utp: mpsc::Sender<Datagram>) {
    let socket = shared.socket.clone();
    let mut rb = RecvBatch::default();
    let mut out: Vec<(SocketAddr, Vec<u8>)> = Vec::with_capacity(SEND_ROUND);
    let mut orphaned_since: Option<Instant> = None;
    loop {
        // Everything already received.
        for _ in 0..RECV_ROUNDS {
            match recv_batch(&socket, &mut rb) {
                Ok(0) => break,
                Ok(_) => {
                    let mut inner = shared.lock();
                    let now = Instant::now();
                    for (data, from) in rb.iter() {
                        handle_one(&mut inner, &non_utp, data, from, now);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "uTP receive failed");
                    break;
                }
            }
        }
        // Timers, and what the connections want to send.
        let now = Instant::now();
        let deadline = {
            let mut inner = shared.lock();
            if inner.ep.poll_timeout().is_some_and(|t| t <= now) {
                inner.ep.handle_timeout(now);
            }
            while out.len() < SEND_ROUND {
                match inner.ep.poll_transmit(now) {
                    Some(t) => out.push((t.destination, t.contents)),
                    None => break,
                }
            }
            inner.wake_touched();
            if shared.users.load(Ordering::SeqCst) == 0 {
                let since = *orphaned_since.get_or_insert(now);
                if inner.ep.connection_count() == 0
                    || now.saturating_duration_since(since) >= shared.cfg.close_grace
                {
                    inner.driver_error = Some(io::ErrorKind::NotConnected);
                    return;
                }
            } else {
                orphaned_since = None;
            }
            inner.ep.poll_timeout()
        };
        let more_output = out.len() == SEND_ROUND;
        while !out.is_empty() {
            match send_batch(&socket, &out) {
                Ok(0) => break,
                Ok(n) => {
                    out.drain(..n.min(out.len()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "uTP send failed");
                    out.clear();
                }
            }
        }
        if more_output && out.is_empty() {
            // Let the application tasks run between rounds.
            tokio::task::yield_now().await;
            continue;
        }
        let sleep_until = deadline
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let wake_at = if orphaned_since.is_some() {
            sleep_until.min(tokio::time::Instant::now() + Duration::from_millis(200))
        } else {
            sleep_until
        };
        tokio::select! {
            r = socket.readable() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "uTP socket not readable");
                }
            }
            _ = socket.writable(), if !out.is_empty() => {}
            _ = shared.notify.notified() => {}
            _ = tokio::time::sleep_until(wake_at) => {}
        }
    }
}

fn handle_one(
    inner: &mut Inner,
    non_utp: &mpsc::Sender<Datagram>,
    data: &[u8],
    from: SocketAddr,
    now: Instant,
) {
    match inner.ep.handle_datagram(from, data, now) {
        DatagramEvent::NotUtp if non_utp.try_send((data.to_vec(), from)).is_err() => {
            tracing::trace!(%from, "non-uTP datagram dropped (queue full or unread)");
        }
        DatagramEvent::Handled => {
            if let Some(w) = inner.accept_waker.take() {
                w.wake();
            }
        }
        _ => {}
    }
}

/// One uTP connection: a byte stream (`AsyncRead + AsyncWrite`).
/// `shutdown` sends our FIN after the data written; dropping the stream
/// closes it gracefully in the background.
pub struct UtpStream {
    user: UserRef,
    handle: ConnectionHandle,
    remote: SocketAddr,
}

impl std::fmt::Debug for UtpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UtpStream")
            .field("remote", &self.remote)
            .finish()
    }
}

impl UtpStream {
    fn shared(&self) -> &Arc<Shared> {
        &self.user.0
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.remote
    }

    /// The local address of the socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared().socket.local_addr()
    }

    /// A snapshot of the connection's counters.
    pub fn stats(&self) -> Option<crate::connection::Stats> {
        self.shared()
            .lock()
            .ep
            .connection_ref(self.handle)
            .map(|c| c.stats().clone())
    }

    /// A snapshot of the connection's control state (window, RTT, delay).
    pub fn info(&self) -> Option<crate::connection::Info> {
        self.shared()
            .lock()
            .ep
            .connection_ref(self.handle)
            .map(|c| c.info())
    }

    /// Abort the connection (sends `ST_RESET`).
    pub fn reset(&self) {
        if let Some(c) = self.shared().lock().ep.connection(self.handle) {
            c.reset();
        }
        self.shared().notify.notify_one();
    }
}

impl AsyncRead for UtpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let shared = self.shared();
        let mut inner = shared.lock();
        let Some(conn) = inner.ep.connection(self.handle) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let n = conn.read(buf.initialize_unfilled());
        if n > 0 {
            buf.advance(n);
            if conn.has_pending_ack() {
                shared.notify.notify_one();
            }
            return Poll::Ready(Ok(()));
        }
        if conn.is_eof() || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if conn.state() == State::Reset {
            return Poll::Ready(Err(to_io(conn.error())));
        }
        inner.wakers.entry(self.handle).or_default().read = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for UtpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let shared = self.shared();
        let mut inner = shared.lock();
        let Some(conn) = inner.ep.connection(self.handle) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if conn.state() == State::Reset {
            return Poll::Ready(Err(to_io(conn.error())));
        }
        if !matches!(conn.state(), State::SynSent | State::Connected) || conn.is_write_closed() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = conn.write(data);
        if n > 0 || data.is_empty() {
            drop(inner);
            shared.notify.notify_one();
            return Poll::Ready(Ok(n));
        }
        inner.wakers.entry(self.handle).or_default().write = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let shared = self.shared();
        if let Some(c) = shared.lock().ep.connection(self.handle) {
            c.close();
        }
        shared.notify.notify_one();
        Poll::Ready(Ok(()))
    }
}

impl Drop for UtpStream {
    fn drop(&mut self) {
        let shared = self.user.0.clone();
        let mut inner = shared.lock();
        inner.wakers.remove(&self.handle);
        inner.ep.release(self.handle, Instant::now());
        drop(inner);
        shared.notify.notify_one();
    }
}
