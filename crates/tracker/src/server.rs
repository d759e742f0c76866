//! The I/O edge: sockets, threads and the tokio runtime around [`Tracker`].
//!
//! - UDP: one socket per worker thread, all bound to the same address with
//!   `SO_REUSEPORT` so the kernel spreads clients over cores; each worker
//!   reads and writes in batches (`recvmmsg`/`sendmmsg` on Linux) and calls
//!   the sans-I/O [`Tracker::handle_udp`].
//! - HTTP: a tokio multi-thread runtime; each connection runs the minimal
//!   keep-alive parser of [`crate::http`] and [`Tracker::handle_http`].
//! - A clock thread keeps a coarse "now" (seconds) that handlers read
//!   without a syscall, and sweeps expired peers every [`SWEEP_SECS`].
//!
//! [`Server::shutdown`] stops everything within about a quarter second.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http::{parse_head, write_response, HeadError};
use crate::Tracker;

/// Seconds between sweeps of expired peers.
pub const SWEEP_SECS: u32 = 30;
/// Idle keep-alive connections are closed after this long.
pub const HTTP_IDLE: Duration = Duration::from_secs(60);
/// Most concurrent HTTP connections; more are closed at once.
pub const MAX_HTTP_CONNECTIONS: usize = 20_000;

/// Where and how to serve.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// HTTP listen addresses.
    pub http: Vec<SocketAddr>,
    /// UDP listen addresses.
    pub udp: Vec<SocketAddr>,
    /// Worker threads (0 = one per available core).
    pub threads: usize,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An address could not be bound.
    #[error("cannot bind {proto} {addr}{hint}", hint = if source.kind() == io::ErrorKind::AddrInUse { " (address in use: is another tracker running there?)" } else { "" })]
    Bind {
        /// "http" or "udp".
        proto: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// Any other I/O error at start.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The coarse clock: seconds since the server started.
struct Clock {
    start: Instant,
    now: AtomicU32,
}

impl Clock {
    fn now(&self) -> u32 {
        self.now.load(Ordering::Relaxed)
    }
    fn tick(&self) -> u32 {
        let n = u32::try_from(self.start.elapsed().as_secs()).unwrap_or(u32::MAX);
        self.now.store(n, Ordering::Relaxed);
        n
    }
}

/// A running server.
pub struct Server {
    tracker: Arc<Tracker>,
    http_addrs: Vec<SocketAddr>,
    udp_addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    http_stop: Option<tokio::sync::watch::Sender<bool>>,
}

fn udp_socket(addr: SocketAddr, reuse: bool) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if reuse {
        #[cfg(unix)]
        s.set_reuse_port(true)?;
    }
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

impl Server {
    /// Bind every address and start serving. Binding happens before this
    /// returns, so an address in use is reported here.
    pub fn start(tracker: Tracker, opts: &ServerOptions) -> Result<Server, ServerError> {
        let threads = if opts.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            opts.threads
        };
        let tracker = Arc::new(tracker);
        let stop = Arc::new(AtomicBool::new(false));
        let clock = Arc::new(Clock {
            start: Instant::now(),
            now: AtomicU32::new(0),
        });

        // Bind everything first.
        let mut udp_sockets = Vec::new();
        let mut udp_addrs = Vec::new();
        for &addr in &opts.udp {
            let bind_err = |source| ServerError::Bind {
                proto: "udp",
                addr,
                source,
            };
            let first = udp_socket(addr, true).map_err(bind_err)?;
            let bound = first.local_addr()?;
            udp_sockets.push(first);
            for _ in 1..threads {
                udp_sockets.push(udp_socket(bound, true).map_err(bind_err)?);
            }
            udp_addrs.push(bound);
        }
        let mut listeners = Vec::new();
        let mut http_addrs = Vec::new();
        for &addr in &opts.http {
            let l = tcp_listener(addr).map_err(|source| ServerError::Bind {
                proto: "http",
                addr,
                source,
            })?;
            http_addrs.push(l.local_addr()?);
            listeners.push(l);
        }

        let mut handles = Vec::new();
        {
            let (clock, stop, tracker) = (clock.clone(), stop.clone(), tracker.clone());
            handles.push(
                std::thread::Builder::new()
                    .name("tracker-clock".into())
                    .spawn(move || {
                        let mut last_sweep = 0;
                        while !stop.load(Ordering::Relaxed) {
                            let now = clock.tick();
                            if now.wrapping_sub(last_sweep) >= SWEEP_SECS {
                                last_sweep = now;
                                let n = tracker.store().sweep(now);
                                if n > 0 {
                                    tracing::debug!(expired = n, "swept expired peers");
                                }
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    })?,
            );
        }
        for (i, sock) in udp_sockets.into_iter().enumerate() {
            let (clock, stop, tracker) = (clock.clone(), stop.clone(), tracker.clone());
            handles.push(
                std::thread::Builder::new()
                    .name(format!("tracker-udp-{i}"))
                    .spawn(move || udp_worker(sock, &tracker, &clock, &stop))?,
            );
        }

        let (mut runtime, mut http_stop) = (None, None);
        if !listeners.is_empty() {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("tracker-http")
                .enable_all()
                .build()?;
            let (tx, rx) = tokio::sync::watch::channel(false);
            for l in listeners {
                let (clock, tracker, rx) = (clock.clone(), tracker.clone(), rx.clone());
                let _guard = rt.enter();
                let l = tokio::net::TcpListener::from_std(l)?;
                rt.spawn(accept_loop(l, tracker, clock, rx));
            }
            runtime = Some(rt);
            http_stop = Some(tx);
        }
        tracing::info!(?http_addrs, ?udp_addrs, threads, "tracker serving");
        Ok(Server {
            tracker,
            http_addrs,
            udp_addrs,
            stop,
            threads: handles,
            runtime,
            http_stop,
        })
    }

    /// The bound HTTP addresses (ports resolved when 0 was asked for).
    pub fn http_addrs(&self) -> &[SocketAddr] {
        &self.http_addrs
    }

    /// The bound UDP addresses.
    pub fn udp_addrs(&self) -> &[SocketAddr] {
        &self.udp_addrs
    }

    /// The tracker being served.
    pub fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }

    /// Stop serving: close listeners and sockets and join the threads.
    pub fn shutdown(mut self) {
        tracing::info!("tracker shutting down");
        self.stop.store(true, Ordering::Relaxed);
        if let Some(tx) = self.http_stop.take() {
            let _ = tx.send(true);
        }
        if let Some(rt) = self.runtime.take() {
            // Dropping a runtime inside another runtime's context panics, so
            // shut it down from a plain thread.
            let h = std::thread::spawn(move || rt.shutdown_timeout(Duration::from_secs(1)));
            let _ = h.join();
        }
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

async fn accept_loop(
    l: tokio::net::TcpListener,
    tracker: Arc<Tracker>,
    clock: Arc<Clock>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = tokio::select! {
            r = l.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        if open.load(Ordering::Relaxed) >= MAX_HTTP_CONNECTIONS {
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (tracker, clock, open) = (tracker.clone(), clock.clone(), open.clone());
        tokio::spawn(async move {
            if let Err(e) = serve_conn(stream, peer, &tracker, &clock).await {
                tracing::trace!(%peer, error = %e, "http connection ended");
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve_conn(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tracker: &Tracker,
    clock: &Clock,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    // Small to start (most requests are ~300 bytes, answers ~100): idle
    // keep-alive connections should cost little; they grow when needed.
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut out: Vec<u8> = Vec::with_capacity(512);
    let mut body: Vec<u8> = Vec::with_capacity(256);
    loop {
        let mut used = 0;
        let mut close = false;
        while used < buf.len() {
            match parse_head(&buf[used..]) {
                Ok(Some(h)) => {
                    let total = h.head_len + h.body_len;
                    if buf.len() - used < total {
                        break;
                    }
                    let target = &buf[used + h.target.start..used + h.target.end];
                    let a = tracker.handle_http(target, peer.ip(), clock.now(), &mut body);
                    write_response(
                        &mut out,
                        a.status,
                        a.content_type,
                        &body,
                        h.keep_alive,
                        h.head_only,
                    );
                    used += total;
                    if !h.keep_alive {
                        close = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracker.stats().add(crate::Kind::HttpError);
                    body.clear();
                    shoal_tracker_proto::http::write_failure(&mut body, &e.to_string());
                    write_response(&mut out, e.status(), "text/plain", &body, false, false);
                    close = true;
                    break;
                }
            }
        }
        buf.drain(..used);
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if close {
            let _ = stream.shutdown().await;
            return Ok(());
        }
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(1024);
        }
        match tokio::time::timeout(HTTP_IDLE, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
        if buf.len() > crate::http::MAX_HEAD + crate::http::MAX_BODY {
            // parse_head will refuse it on the next pass; never buffer more.
            if let Err(HeadError::TooLarge) = parse_head(&buf) {
                continue;
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod batch {
    //! `recvmmsg`/`sendmmsg` batching for the UDP workers.
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

    /// Datagrams per batch.
    pub const BATCH: usize = 32;
    /// Receive buffer per datagram (a full 70-hash scrape is 1,416 bytes).
    pub const RBUF: usize = 2048;

    pub fn from_storage(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
        match i32::from(s.ss_family) {
            libc::AF_INET => {
                // SAFETY: ss_family says this storage holds a sockaddr_in,
                // and sockaddr_storage is large and aligned enough for it.
                let a = unsafe { &*(s as *const _ as *const libc::sockaddr_in) };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let a = unsafe { &*(s as *const _ as *const libc::sockaddr_in6) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// Fixed buffers for one worker; the pointers inside the headers are
    /// refreshed before every call, so the struct may move between calls.
    pub struct Batch {
        pub rbufs: Vec<[u8; RBUF]>,
        pub addrs: Vec<libc::sockaddr_storage>,
        pub iovs: Vec<libc::iovec>,
        pub hdrs: Vec<libc::mmsghdr>,
        pub outs: Vec<Vec<u8>>,
        pub out_addr: Vec<usize>,
    }

    impl Batch {
        pub fn new() -> Batch {
            Batch {
                rbufs: vec![[0u8; RBUF]; BATCH],
                // SAFETY: all-zero is a valid sockaddr_storage/iovec/mmsghdr.
                addrs: vec![unsafe { zeroed() }; BATCH],
                iovs: vec![unsafe { zeroed() }; BATCH],
                hdrs: vec![unsafe { zeroed() }; BATCH],
                outs: (0..BATCH).map(|_| Vec::with_capacity(1500)).collect(),
                out_addr: vec![0; BATCH],
            }
        }

        /// Receive up to BATCH datagrams (blocking for the first).
        pub fn recv(&mut self, fd: i32, flags: i32) -> std::io::Result<usize> {
            for i in 0..BATCH {
                self.iovs[i] = libc::iovec {
                    iov_base: self.rbufs[i].as_mut_ptr().cast(),
                    iov_len: RBUF,
                };
                let h = &mut self.hdrs[i].msg_hdr;
                h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
                h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = &mut self.iovs[i];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
                self.hdrs[i].msg_len = 0;
            }
            // SAFETY: every header points at live buffers owned by self,
            // sized as declared; the kernel writes within those bounds.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    flags,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(n as usize)
        }

        /// Send `outs[..m]` to `addrs[out_addr[..m]]`.
        pub fn send(&mut self, fd: i32, m: usize) {
            for j in 0..m {
                let a = self.out_addr[j];
                let len = if i32::from(self.addrs[a].ss_family) == libc::AF_INET {
                    size_of::<libc::sockaddr_in>()
                } else {
                    size_of::<libc::sockaddr_in6>()
                };
                self.iovs[j] = libc::iovec {
                    iov_base: self.outs[j].as_mut_ptr().cast(),
                    iov_len: self.outs[j].len(),
                };
                let h = &mut self.hdrs[j].msg_hdr;
                h.msg_name = (&mut self.addrs[a] as *mut libc::sockaddr_storage).cast();
                h.msg_namelen = len as libc::socklen_t;
                h.msg_iov = &mut self.iovs[j];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
            }
            let mut sent = 0;
            while sent < m {
                // SAFETY: headers sent..m point at live buffers owned by self.
                let n = unsafe {
                    libc::sendmmsg(
                        fd,
                        self.hdrs[sent..].as_mut_ptr(),
                        (m - sent) as libc::c_uint,
                        0,
                    )
                };
                if n <= 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    // Skip the datagram that failed (e.g. unreachable
                    // destination) and go on with the rest.
                    tracing::trace!(error = %e, "sendmmsg failed");
                    sent += 1;
                } else {
                    sent += n as usize;
                }
            }
        }
    }
}

/// How long a UDP worker keeps polling after a batch before it blocks
/// (`SHOAL_TRACKER_UDP_SPIN_US`, default 50 µs; 0 turns spinning off).
#[cfg(target_os = "linux")]
fn udp_spin() -> Duration {
    let us = std::env::var("SHOAL_TRACKER_UDP_SPIN_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50u64);
    Duration::from_micros(us)
}

#[cfg(target_os = "linux")]
fn udp_worker(sock: std::net::UdpSocket, tracker: &Tracker, clock: &Clock, stop: &AtomicBool) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let mut b = batch::Batch::new();
    let spin = udp_spin();
    // After a batch, poll without blocking for up to `spin` before going back
    // to a blocking receive: waking a sleeping thread (and, in a VM, an idle
    // vCPU) costs far more than a short spin when requests keep coming.
    let mut busy_until: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let flags = if busy_until.is_some() {
            libc::MSG_DONTWAIT
        } else {
            libc::MSG_WAITFORONE
        };
        let n = match b.recv(fd, flags) {
            Ok(n) => {
                if !spin.is_zero() {
                    busy_until = Some(Instant::now() + spin);
                }
                n
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && busy_until.is_some() => {
                if busy_until.is_some_and(|t| Instant::now() >= t) {
                    busy_until = None;
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            Err(e) => {
                if !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) {
                    tracing::warn!(error = %e, "udp receive failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
        };
        let now = clock.now();
        let mut m = 0;
        for i in 0..n {
            let len = (b.hdrs[i].msg_len as usize).min(batch::RBUF);
            let Some(src) = batch::from_storage(&b.addrs[i]) else {
                continue;
            };
            tracker.handle_udp(&b.rbufs[i][..len], src, now, &mut b.outs[m]);
            if !b.outs[m].is_empty() {
                b.out_addr[m] = i;
                m += 1;
            }
        }
        if m > 0 {
            b.send(fd, m);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn udp_worker(sock: std::net::UdpSocket, tracker: &Tracker, clock: &Clock, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    let mut out = Vec::with_capacity(1500);
    while !stop.load(Ordering::Relaxed) {
        let (n, src) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue,
        };
        tracker.handle_udp(&buf[..n], src, clock.now(), &mut out);
        if !out.is_empty() {
            let _ = sock.send_to(&out, src);
        }
    }
}
