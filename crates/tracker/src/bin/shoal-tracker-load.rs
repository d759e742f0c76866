//! `shoal-tracker-load`: a load generator for BitTorrent trackers.
//!
//! Announces a population of peers (default 100,000 in 10,000 torrents)
//! to a tracker over UDP (BEP 15, many requests in flight, batched with
//! `sendmmsg`/`recvmmsg`) or HTTP (keep-alive connections, reconnecting
//! when the server closes). Peers come from many loopback source addresses
//! (127.1.x.y), as real clients come from many addresses.
//!
//! Phases: *fill* announces every peer once with `started` (a quarter of
//! them seeders); then the tracker's RSS is read from /proc (`--pid`);
//! then *load* runs for `--duration` seconds with a realistic mix: random
//! peers re-announcing (about 90 %), `completed` (3 %), `stopped` (3 %) and
//! `started` again for stopped peers. It prints announces/s, p50/p99
//! latency, errors and lost requests, and one JSON line for scripts.
//!
//! `--write-hashes FILE` writes the info-hashes (hex, one a line, as
//! opentracker's whitelist wants) and exits.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: shoal-tracker-load (--udp ADDR | --http ADDR | --write-hashes FILE) \
[--torrents N] [--peers N] [--duration SECS] [--inflight N] [--sources N] [--pid PID] [--label NAME]";

struct Opts {
    udp: Option<SocketAddr>,
    http: Option<SocketAddr>,
    write_hashes: Option<String>,
    torrents: u32,
    peers: u32,
    duration: f64,
    inflight: usize,
    sources: u32,
    pid: Option<u32>,
    label: String,
}

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        udp: None,
        http: None,
        write_hashes: None,
        torrents: 10_000,
        peers: 100_000,
        duration: 10.0,
        inflight: 256,
        sources: 64,
        pid: None,
        label: "tracker".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        let bad = |e: &dyn std::fmt::Display| format!("bad value for {a}: {e}");
        match a.as_str() {
            "--udp" => o.udp = Some(v()?.parse().map_err(|e| bad(&e))?),
            "--http" => o.http = Some(v()?.parse().map_err(|e| bad(&e))?),
            "--write-hashes" => o.write_hashes = Some(v()?),
            "--torrents" => o.torrents = v()?.parse().map_err(|e| bad(&e))?,
            "--peers" => o.peers = v()?.parse().map_err(|e| bad(&e))?,
            "--duration" => o.duration = v()?.parse().map_err(|e| bad(&e))?,
            "--inflight" => o.inflight = v()?.parse().map_err(|e| bad(&e))?,
            "--sources" => o.sources = v()?.parse().map_err(|e| bad(&e))?,
            "--pid" => o.pid = Some(v()?.parse().map_err(|e| bad(&e))?),
            "--label" => o.label = v()?,
            "-h" | "--help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        }
    }
    o.sources = o.sources.clamp(1, 60_000);
    o.torrents = o.torrents.max(1);
    o.peers = o.peers.max(o.sources);
    Ok(o)
}

/// splitmix64, for reproducible hashes and a fast RNG.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn info_hash(t: u32) -> [u8; 20] {
    let mut h = [0u8; 20];
    for (i, c) in h.chunks_mut(8).enumerate() {
        let v = mix(u64::from(t) << 8 | i as u64).to_le_bytes();
        c.copy_from_slice(&v[..c.len()]);
    }
    h
}

fn source_ip(s: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (s / 250) as u8, (s % 250 + 1) as u8)
}

/// What one request announces.
#[derive(Clone, Copy)]
struct Req {
    peer: u32,
    event: u32, // BEP 15 numbering
    left: u64,
}

/// The peer population and the event mix.
struct Population {
    torrents: u32,
    /// Request streams (UDP sockets or HTTP connections); peer j is served
    /// by stream j % sources.
    sources: u32,
    /// Distinct source addresses; peer j comes from address j % ips.
    ips: u32,
    per_source: u32,
    active: Vec<bool>,
    seeder: Vec<bool>,
    rng: u64,
}

impl Population {
    fn new(o: &Opts) -> Population {
        let per_source = o.peers / o.sources;
        let n = (per_source * o.sources) as usize;
        Population {
            torrents: o.torrents,
            sources: o.sources,
            ips: o.sources,
            per_source,
            active: vec![false; n],
            seeder: (0..n).map(|j| j % 4 == 0).collect(),
            rng: 0x1234_5678,
        }
    }
    fn peers(&self) -> u32 {
        self.per_source * self.sources
    }
    fn rand(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(1);
        mix(self.rng)
    }
    /// Peer `i` of source `s`.
    fn peer_of(&self, s: u32, i: u32) -> u32 {
        i * self.sources + s
    }
    fn torrent(&self, peer: u32) -> u32 {
        peer % self.torrents
    }
    fn port(&self, peer: u32) -> u16 {
        (1024 + peer / self.ips) as u16
    }
    fn fill(&mut self, peer: u32) -> Req {
        self.active[peer as usize] = true;
        let left = if self.seeder[peer as usize] {
            0
        } else {
            1_000_000
        };
        Req {
            peer,
            event: 2,
            left,
        }
    }
    fn next(&mut self, s: u32) -> Req {
        let r = self.rand();
        let i = (r % u64::from(self.per_source)) as u32;
        let peer = self.peer_of(s, i);
        let p = peer as usize;
        let dice = (r >> 40) % 100;
        if !self.active[p] {
            self.active[p] = true;
            return Req {
                peer,
                event: 2,
                left: if self.seeder[p] { 0 } else { 1_000_000 },
            };
        }
        if dice < 3 {
            self.active[p] = false;
            return Req {
                peer,
                event: 3,
                left: 0,
            };
        }
        if dice < 6 && !self.seeder[p] {
            self.seeder[p] = true;
            return Req {
                peer,
                event: 1,
                left: 0,
            };
        }
        Req {
            peer,
            event: 0,
            left: if self.seeder[p] { 0 } else { 1_000_000 },
        }
    }
}

#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    lost: u64,
    reconnects: u64,
    lat_us: Vec<u32>,
}

impl Tally {
    fn pct(&mut self, p: f64) -> u32 {
        if self.lat_us.is_empty() {
            return 0;
        }
        self.lat_us.sort_unstable();
        let i = ((self.lat_us.len() as f64 - 1.0) * p).round() as usize;
        self.lat_us[i]
    }
}

fn rss_kb(pid: Option<u32>) -> u64 {
    status_kb(pid, "VmRSS:")
}

/// Anonymous resident memory (heap, stacks): RSS without the mapped
/// program and libraries, which differ in size between trackers.
fn anon_kb(pid: Option<u32>) -> u64 {
    status_kb(pid, "RssAnon:")
}

fn status_kb(pid: Option<u32>, field: &str) -> u64 {
    let Some(pid) = pid else { return 0 };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system, all threads) of a process, in seconds.
fn cpu_secs(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return 0.0 };
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall.
    let Some(rest) = s.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks / if hz > 0 { hz as f64 } else { 100.0 }
}

fn poll_in(fds: &[i32], timeout_ms: i32) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: p is a valid array of pollfd of the given length.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
}

/// Which of `p` are readable now (a non-blocking poll).
fn ready(p: &mut [libc::pollfd]) -> bool {
    for x in p.iter_mut() {
        x.revents = 0;
    }
    // SAFETY: p is a valid array of pollfd of the given length.
    let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, 0) };
    n > 0
}

// ---------------------------------------------------------------- UDP

const BATCH: usize = 64;
/// How long the generator spins on an empty poll before sleeping.
const SPIN_US: u64 = 20;

struct USock {
    sock: UdpSocket,
    conn: u64,
    slots: Vec<(Instant, u16, bool)>, // sent, generation, busy
    free: Vec<u16>,
    gen: u16,
    reconnect: bool,
}

fn udp_connect(sock: &UdpSocket) -> std::io::Result<u64> {
    sock.set_nonblocking(false)?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut buf = [0u8; 64];
    for _ in 0..10 {
        let mut pkt = Vec::with_capacity(16);
        pkt.extend_from_slice(&0x0417_2710_1980u64.to_be_bytes());
        pkt.extend_from_slice(&0u32.to_be_bytes());
        pkt.extend_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
        sock.send(&pkt)?;
        loop {
            match sock.recv(&mut buf) {
                Ok(n) if n >= 16 && buf[..8] == [0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF] => {
                    sock.set_nonblocking(true)?;
                    let mut c = [0u8; 8];
                    c.copy_from_slice(&buf[8..16]);
                    return Ok(u64::from_be_bytes(c));
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no connect response",
    ))
}

fn udp_announce_pkt(out: &mut [u8; 98], conn: u64, tid: u32, pop: &Population, r: &Req) {
    out[0..8].copy_from_slice(&conn.to_be_bytes());
    out[8..12].copy_from_slice(&1u32.to_be_bytes());
    out[12..16].copy_from_slice(&tid.to_be_bytes());
    out[16..36].copy_from_slice(&info_hash(pop.torrent(r.peer)));
    let mut pid = *b"-LT0000-000000000000";
    pid[8..16].copy_from_slice(&u64::from(r.peer).to_be_bytes());
    out[36..56].copy_from_slice(&pid);
    out[56..64].copy_from_slice(&0u64.to_be_bytes());
    out[64..72].copy_from_slice(&r.left.to_be_bytes());
    out[72..80].copy_from_slice(&0u64.to_be_bytes());
    out[80..84].copy_from_slice(&r.event.to_be_bytes());
    out[84..88].copy_from_slice(&0u32.to_be_bytes());
    out[88..92].copy_from_slice(&r.peer.to_be_bytes());
    out[92..96].copy_from_slice(&(-1i32).to_be_bytes());
    out[96..98].copy_from_slice(&pop.port(r.peer).to_be_bytes());
}

/// Run one UDP phase: `fill` announces every peer once; otherwise random
/// requests until `duration` passes.
fn udp_phase(
    socks: &mut [USock],
    pop: &mut Population,
    window: usize,
    fill: bool,
    duration: Duration,
) -> (Tally, f64) {
    let k = socks.len();
    let per_sock = (window / k).clamp(1, 4096);
    let mut t = Tally::default();
    let mut next_fill = vec![0u32; k];
    let fds: Vec<i32> = socks.iter().map(|s| s.sock.as_raw_fd()).collect();
    let mut rbufs = vec![[0u8; 1500]; BATCH];
    let mut sbufs = vec![[0u8; 98]; BATCH];
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let start = Instant::now();
    let mut last_sweep = start;
    let mut idle_since: Option<Instant> = None;
    let mut first = true;
    loop {
        let elapsed = start.elapsed();
        let sending = if fill {
            next_fill.iter().any(|&n| n < pop.per_source)
        } else {
            elapsed < duration
        };
        let inflight: usize = socks.iter().map(|s| s.slots.len() - s.free.len()).sum();
        // One non-blocking poll tells which sockets have answers.
        ready(&mut pfds);
        if !sending && inflight == 0 {
            break;
        }
        if !sending && elapsed > duration + Duration::from_secs(2) && !fill {
            break;
        }
        let mut progress = false;
        for (si, s) in socks.iter_mut().enumerate() {
            let room = s.slots.len() - s.free.len() < per_sock;
            let readable = pfds[si].revents & libc::POLLIN != 0;
            if !(readable || s.reconnect || first || (sending && room)) {
                continue;
            }
            // Receive.
            let n = if readable {
                recv_batch(&s.sock, &mut rbufs)
            } else {
                0
            };
            if n > 0 {
                progress = true;
            }
            let now = Instant::now();
            for b in rbufs.iter().take(n) {
                let action = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                let tid = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                let slot = (tid & 0xFFFF) as usize;
                let gen = (tid >> 16) as u16;
                let Some(st) = s.slots.get_mut(slot) else {
                    continue;
                };
                if !st.2 || st.1 != gen {
                    continue;
                }
                st.2 = false;
                s.free.push(slot as u16);
                t.lat_us.push(
                    now.duration_since(st.0)
                        .as_micros()
                        .min(u128::from(u32::MAX)) as u32,
                );
                if action == 1 {
                    t.ok += 1;
                } else {
                    t.errors += 1;
                    if action == 3 {
                        s.reconnect = true;
                    }
                }
            }
            if s.reconnect {
                // Let in-flight requests finish or time out first.
                if s.free.len() == s.slots.len() {
                    if let Ok(c) = udp_connect(&s.sock) {
                        s.conn = c;
                        t.reconnects += 1;
                    }
                    s.reconnect = false;
                }
                continue;
            }
            // Send.
            let mut m = 0;
            while sending && m < BATCH && s.slots.len() - s.free.len() < per_sock {
                let req = if fill {
                    if next_fill[si] >= pop.per_source {
                        break;
                    }
                    let peer = pop.peer_of(si as u32, next_fill[si]);
                    next_fill[si] += 1;
                    pop.fill(peer)
                } else {
                    pop.next(si as u32)
                };
                let slot = match s.free.pop() {
                    Some(x) => x as usize,
                    None => {
                        s.slots.push((now, 0, false));
                        s.slots.len() - 1
                    }
                };
                s.gen = s.gen.wrapping_add(1);
                s.slots[slot] = (now, s.gen, true);
                let tid = u32::from(s.gen) << 16 | slot as u32;
                udp_announce_pkt(&mut sbufs[m], s.conn, tid, pop, &req);
                m += 1;
            }
            if m > 0 {
                send_batch(&s.sock, &sbufs[..m]);
                progress = true;
            }
        }
        if last_sweep.elapsed() > Duration::from_millis(200) {
            last_sweep = Instant::now();
            for s in socks.iter_mut() {
                for (i, st) in s.slots.iter_mut().enumerate() {
                    if st.2 && st.0.elapsed() > Duration::from_secs(1) {
                        st.2 = false;
                        s.free.push(i as u16);
                        t.lost += 1;
                    }
                }
            }
        }
        first = false;
        if progress {
            idle_since = None;
        } else {
            // Spin very briefly (answers are usually microseconds away),
            // then sleep in poll.
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_micros(SPIN_US) {
                poll_in(&fds, 1);
                idle_since = None;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    (t, secs)
}

fn recv_batch(sock: &UdpSocket, bufs: &mut [[u8; 1500]]) -> usize {
    let n = bufs.len();
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: zeroed mmsghdr is valid; pointers set below point into iovs.
    let mut hdrs: Vec<libc::mmsghdr> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
    for (h, iov) in hdrs.iter_mut().zip(iovs.iter_mut()) {
        h.msg_hdr.msg_iov = iov;
        h.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: hdrs/iovs/bufs outlive the call and are sized as declared.
    let r = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as u32,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if r <= 0 {
        return 0;
    }
    // Short datagrams are treated as empty (action 0 → not counted).
    for (h, b) in hdrs.iter().zip(bufs.iter_mut()).take(r as usize) {
        if h.msg_len < 8 {
            b[..8].fill(0xFF);
        }
    }
    r as usize
}

fn send_batch(sock: &UdpSocket, bufs: &[[u8; 98]]) {
    let mut iovs: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut _,
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: as in recv_batch.
    let mut hdrs: Vec<libc::mmsghdr> = (0..bufs.len())
        .map(|_| unsafe { std::mem::zeroed() })
        .collect();
    for (h, iov) in hdrs.iter_mut().zip(iovs.iter_mut()) {
        h.msg_hdr.msg_iov = iov;
        h.msg_hdr.msg_iovlen = 1;
    }
    let mut sent = 0;
    while sent < hdrs.len() {
        // SAFETY: as above; the socket is connected, so no address is needed.
        let r = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                hdrs[sent..].as_mut_ptr(),
                (hdrs.len() - sent) as u32,
                0,
            )
        };
        if r <= 0 {
            break; // counted as lost by the timeout sweep
        }
        sent += r as usize;
    }
}

fn run_udp(o: &Opts, addr: SocketAddr) -> Result<Report, String> {
    let mut pop = Population::new(o);
    let mut socks = Vec::new();
    for s in 0..o.sources {
        let sock = UdpSocket::bind(SocketAddrV4::new(source_ip(s), 0))
            .map_err(|e| format!("bind: {e}"))?;
        sock.connect(addr).map_err(|e| format!("connect: {e}"))?;
        let conn = udp_connect(&sock).map_err(|e| format!("{addr}: {e}"))?;
        socks.push(USock {
            sock,
            conn,
            slots: Vec::new(),
            free: Vec::new(),
            gen: 0,
            reconnect: false,
        });
    }
    Ok(measure(o, &mut pop, |pop, fill, duration| {
        udp_phase(&mut socks, pop, o.inflight, fill, duration)
    }))
}

// ---------------------------------------------------------------- HTTP

struct HConn {
    src: Ipv4Addr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    inflight: Option<(Instant, Req)>,
    /// Responses received on the current connection.
    served: u32,
    /// A request to send again (its connection closed under it).
    retry: Option<Req>,
}

fn http_open(src: Ipv4Addr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(src, 0)).into())?;
    s.connect(&addr.into())?;
    s.set_tcp_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn pct_encode(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in b {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c);
        } else {
            out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        }
    }
}

fn http_request(out: &mut Vec<u8>, pop: &Population, r: &Req) {
    out.clear();
    out.extend_from_slice(b"GET /announce?info_hash=");
    pct_encode(out, &info_hash(pop.torrent(r.peer)));
    out.extend_from_slice(b"&peer_id=-LT0000-");
    let _ = write!(out, "{:012}", r.peer);
    let ev = ["", "&event=completed", "&event=started", "&event=stopped"][r.event as usize];
    let _ = write!(
        out,
        "&port={}&uploaded=0&downloaded=0&left={}&compact=1&key={:08x}{ev} HTTP/1.1\r\nHost: tracker\r\nUser-Agent: shoal-tracker-load\r\n\r\n",
        pop.port(r.peer),
        r.left,
        r.peer
    );
}

/// If `buf` holds a complete response, its length, whether it was a
/// failure and whether the server will close.
fn http_complete(buf: &[u8]) -> Option<(usize, bool, bool)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut len = None;
    let mut close = head.starts_with("HTTP/1.0");
    for l in head.lines() {
        let lower = l.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        } else if lower.starts_with("connection:") {
            close = lower.contains("close");
        }
    }
    let len = len?;
    if buf.len() < end + len {
        return None;
    }
    let body = &buf[end..end + len];
    let failed = !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200")
        || body.windows(14).any(|w| w == b"failure reason");
    Some((end + len, failed, close))
}

fn http_phase(
    conns: &mut [HConn],
    addr: SocketAddr,
    pop: &mut Population,
    fill: bool,
    duration: Duration,
) -> (Tally, f64) {
    let k = conns.len() as u32;
    let mut t = Tally::default();
    let mut next_fill = vec![0u32; conns.len()];
    let mut req = Vec::with_capacity(512);
    let mut tmp = vec![0u8; 16384];
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        let sending = if fill {
            next_fill.iter().any(|&n| n < pop.per_source)
        } else {
            elapsed < duration
        };
        let inflight = conns
            .iter()
            .filter(|c| c.inflight.is_some() || c.retry.is_some())
            .count();
        if (!sending && inflight == 0) || (!fill && elapsed > duration + Duration::from_secs(2)) {
            break;
        }
        let mut progress = false;
        for (ci, c) in conns.iter_mut().enumerate() {
            let s = ci as u32 % k;
            if c.stream.is_none() {
                match http_open(c.src, addr) {
                    Ok(st) => {
                        c.stream = Some(st);
                        c.buf.clear();
                        c.served = 0;
                        t.reconnects += 1;
                    }
                    Err(_) => continue,
                }
            }
            let Some(stream) = c.stream.as_mut() else {
                continue;
            };
            if c.inflight.is_none() && (sending || c.retry.is_some()) {
                let r = if let Some(r) = c.retry.take() {
                    r
                } else if fill {
                    if next_fill[ci] >= pop.per_source {
                        continue;
                    }
                    let peer = pop.peer_of(s, next_fill[ci]);
                    next_fill[ci] += 1;
                    pop.fill(peer)
                } else {
                    pop.next(s)
                };
                http_request(&mut req, pop, &r);
                if stream.write_all(&req).is_err() {
                    c.stream = None;
                    t.lost += 1;
                    continue;
                }
                c.inflight = Some((Instant::now(), r));
                progress = true;
            }
            if c.inflight.is_none() {
                continue;
            }
            match stream.read(&mut tmp) {
                Ok(0) => {
                    // Closed. A server that does not keep connections alive
                    // closes after each response: send the request again on
                    // a new connection, as clients do. Closed before any
                    // answer on a fresh connection: lost.
                    c.stream = None;
                    if let Some((_, r)) = c.inflight.take() {
                        if c.served > 0 {
                            c.retry = Some(r);
                        } else {
                            t.lost += 1;
                        }
                    }
                }
                Ok(n) => {
                    progress = true;
                    c.buf.extend_from_slice(&tmp[..n]);
                    if let Some((used, failed, close)) = http_complete(&c.buf) {
                        let (sent, _) = c.inflight.take().unwrap_or((
                            Instant::now(),
                            Req {
                                peer: 0,
                                event: 0,
                                left: 0,
                            },
                        ));
                        t.lat_us
                            .push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        c.served += 1;
                        if failed {
                            if t.errors == 0 && std::env::var_os("SHOAL_LOAD_DEBUG").is_some() {
                                eprintln!(
                                    "first failure: {}",
                                    String::from_utf8_lossy(&c.buf[..used])
                                );
                            }
                            t.errors += 1;
                        } else {
                            t.ok += 1;
                        }
                        c.buf.drain(..used);
                        if close {
                            c.stream = None;
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    c.stream = None;
                    c.inflight = None;
                    t.lost += 1;
                }
            }
        }
        if !progress {
            let fds: Vec<i32> = conns
                .iter()
                .filter_map(|c| c.stream.as_ref().map(|s| s.as_raw_fd()))
                .collect();
            poll_in(&fds, 1);
        }
    }
    (t, start.elapsed().as_secs_f64())
}

fn run_http(o: &Opts, addr: SocketAddr) -> Result<Report, String> {
    let mut pop = Population::new(o);
    let n = o.inflight.clamp(1, 4096);
    let mut conns: Vec<HConn> = (0..n)
        .map(|i| HConn {
            src: source_ip(i as u32 % o.sources),
            stream: None,
            buf: Vec::new(),
            inflight: None,
            served: 0,
            retry: None,
        })
        .collect();
    // Each connection must serve one source's peers: use a multiple of sources.
    if (n as u32 / o.sources) * o.sources != n as u32 && n as u32 > o.sources {
        return Err("--inflight must be a multiple of --sources for HTTP".into());
    }
    if (n as u32) < o.sources {
        return Err("--inflight must be at least --sources for HTTP".into());
    }
    // Peers of source s are split over the connections bound to s.
    let groups = n as u32 / o.sources;
    pop.per_source /= groups;
    pop.sources = n as u32;
    for (i, c) in conns.iter_mut().enumerate() {
        c.src = source_ip(i as u32 % o.sources);
    }
    Ok(measure(o, &mut pop, |pop, fill, duration| {
        http_phase(&mut conns, addr, pop, fill, duration)
    }))
}

// ---------------------------------------------------------------- measuring

/// Fill the tracker with the whole population (`fill` = true), then run the
/// timed announce mix, sampling the tracker's memory and CPU around both
/// phases; `phase` runs one phase over UDP or HTTP.
fn measure(
    o: &Opts,
    pop: &mut Population,
    mut phase: impl FnMut(&mut Population, bool, Duration) -> (Tally, f64),
) -> Report {
    let rss_start = rss_kb(o.pid);
    let anon_start = anon_kb(o.pid);
    let (fill, fill_secs) = phase(pop, true, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(300));
    let rss_filled = rss_kb(o.pid);
    let anon_filled = anon_kb(o.pid);
    let cpu0 = cpu_secs(o.pid);
    let (load, secs) = phase(pop, false, Duration::from_secs_f64(o.duration));
    let cpu = cpu_secs(o.pid) - cpu0;
    Report {
        fill,
        fill_secs,
        load,
        secs,
        rss_start,
        rss_filled,
        rss_end: rss_kb(o.pid),
        peers: pop.peers(),
        cpu,
        anon_start,
        anon_filled,
    }
}

struct Report {
    fill: Tally,
    fill_secs: f64,
    load: Tally,
    secs: f64,
    rss_start: u64,
    rss_filled: u64,
    rss_end: u64,
    peers: u32,
    /// Tracker CPU seconds used during the load phase.
    cpu: f64,
    anon_start: u64,
    anon_filled: u64,
}

// ---------------------------------------------------------------- main

fn main() {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Some(path) = &o.write_hashes {
        use std::fmt::Write as _;
        let mut s = String::new();
        for t in 0..o.torrents {
            for b in info_hash(t) {
                let _ = write!(s, "{b:02x}");
            }
            s.push('\n');
        }
        if let Err(e) = std::fs::write(path, s) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let (proto, r) = match (o.udp, o.http) {
        (Some(a), None) => ("udp", run_udp(&o, a)),
        (None, Some(a)) => ("http", run_http(&o, a)),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let mut r = match r {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shoal-tracker-load: {e}");
            std::process::exit(1);
        }
    };
    let rate = r.load.ok as f64 / r.secs;
    let fill_rate = r.fill.ok as f64 / r.fill_secs;
    let (p50, p99) = (r.load.pct(0.5), r.load.pct(0.99));
    // Tracker CPU time per answered announce: robust to a busy machine.
    let cpu_us = if r.load.ok > 0 {
        r.cpu * 1e6 / r.load.ok as f64
    } else {
        0.0
    };
    // Memory per peer: growth of anonymous memory over the fill.
    let per_peer = if r.anon_filled > r.anon_start {
        (r.anon_filled - r.anon_start) as f64 * 1024.0 / f64::from(r.peers)
    } else {
        0.0
    };
    eprintln!(
        "{:<12} {proto:<4} fill {} ok/{} err in {:.2}s ({fill_rate:.0}/s) | load {:.0} announces/s, p50 {p50} us, p99 {p99} us, {} errors, {} lost, {} reconnects, tracker CPU {cpu_us:.2} us/announce | RSS {} kB start, {} kB after {} peers, {} kB end; anonymous {} kB -> {} kB ({per_peer:.1} B/peer)",
        o.label, r.fill.ok, r.fill.errors, r.fill_secs, rate, r.load.errors, r.load.lost, r.load.reconnects, r.rss_start, r.rss_filled, r.peers, r.rss_end, r.anon_start, r.anon_filled
    );
    println!(
        "{{\"label\":\"{}\",\"proto\":\"{proto}\",\"peers\":{},\"torrents\":{},\"fill_ok\":{},\"fill_errors\":{},\"fill_rate\":{fill_rate:.0},\"rate\":{rate:.0},\"p50_us\":{p50},\"p99_us\":{p99},\"errors\":{},\"lost\":{},\"reconnects\":{},\"rss_start_kb\":{},\"rss_filled_kb\":{},\"rss_end_kb\":{},\"anon_start_kb\":{},\"anon_filled_kb\":{},\"bytes_per_peer\":{per_peer:.1},\"cpu_us_per_announce\":{cpu_us:.2}}}",
        o.label, r.peers, o.torrents, r.fill.ok, r.fill.errors, r.load.errors, r.load.lost, r.load.reconnects, r.rss_start, r.rss_filled, r.rss_end, r.anon_start, r.anon_filled
    );
}
