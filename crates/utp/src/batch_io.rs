//! Batched UDP receive and send: `recvmmsg`/`sendmmsg` on Linux (one
//! system call for many datagrams), a loop of `try_recv_from`/`try_send_to`
//! elsewhere. Both are non-blocking: they do what the socket allows now.

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

/// Most datagrams moved per call.
pub const BATCH: usize = 32;
/// Receive buffer per datagram: larger datagrams are dropped. uTP packets
/// stay under 1.5 KB except between two Shoal peers on loopback (60 KiB
/// plus a selective ack); DHT messages stay under 1.5 KB.
pub const MAX_DATAGRAM: usize = 61 * 1024;

/// Reusable buffers for [`recv_batch`].
pub struct RecvBatch {
    bufs: Vec<u8>,
    lens: [usize; BATCH],
    addrs: [Option<SocketAddr>; BATCH],
    count: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: vec![0; BATCH * MAX_DATAGRAM],
            lens: [0; BATCH],
            addrs: [None; BATCH],
            count: 0,
        }
    }
}

impl RecvBatch {
    /// The datagrams of the last [`recv_batch`] call.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> + '_ {
        (0..self.count).filter_map(move |i| {
            let addr = self.addrs[i]?;
            Some((
                &self.bufs[i * MAX_DATAGRAM..i * MAX_DATAGRAM + self.lens[i]],
                addr,
            ))
        })
    }
}

/// Receive what is waiting (up to [`BATCH`] datagrams) without blocking;
/// returns how many (0: nothing waiting).
pub fn recv_batch(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
    batch.count = 0;
    #[cfg(target_os = "linux")]
    let r = socket.try_io(tokio::io::Interest::READABLE, || sys::recv(socket, batch));
    #[cfg(not(target_os = "linux"))]
    let r = sys::recv(socket, batch);
    match r {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}

/// Send as many of `datagrams` as the socket takes now; returns how many
/// were consumed (sent, or dropped for a per-datagram error). 0 means the
/// socket is full: wait until it is writable.
pub fn send_batch(socket: &UdpSocket, datagrams: &[(SocketAddr, Vec<u8>)]) -> io::Result<usize> {
    if datagrams.is_empty() {
        return Ok(0);
    }
    #[cfg(target_os = "linux")]
    let r = socket.try_io(tokio::io::Interest::WRITABLE, || {
        sys::send(socket, datagrams)
    });
    #[cfg(not(target_os = "linux"))]
    let r = sys::send(socket, datagrams);
    match r {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;

    use tokio::net::UdpSocket;

    use super::{RecvBatch, BATCH, MAX_DATAGRAM};

    fn from_storage(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
        match i32::from(s.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in,
                // and sockaddr_storage is large and aligned enough for it.
                let a =
                    unsafe { &*(s as *const libc::sockaddr_storage as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let a =
                    unsafe { &*(s as *const libc::sockaddr_storage as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    fn to_storage(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut s: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough.
                let sin = unsafe {
                    &mut *(&mut s as *mut libc::sockaddr_storage as *mut libc::sockaddr_in)
                };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                // SAFETY: as above.
                let sin6 = unsafe {
                    &mut *(&mut s as *mut libc::sockaddr_storage as *mut libc::sockaddr_in6)
                };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                size_of::<libc::sockaddr_in6>()
            }
        };
        (s, len as libc::socklen_t)
    }

    pub fn recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
        // SAFETY: zeroed C structs are valid; every pointer below points
        // into `batch.bufs` or these local arrays, which outlive the call,
        // and each iovec covers exactly its MAX_DATAGRAM slice.
        let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let base = batch.bufs.as_mut_ptr();
        for i in 0..BATCH {
            iovs[i].iov_base = unsafe { base.add(i * MAX_DATAGRAM) } as *mut libc::c_void;
            iovs[i].iov_len = MAX_DATAGRAM;
            msgs[i].msg_hdr.msg_name =
                &mut addrs[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = &mut iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            let truncated = msgs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            batch.lens[i] = (msgs[i].msg_len as usize).min(MAX_DATAGRAM);
            batch.addrs[i] = if truncated {
                None
            } else {
                from_storage(&addrs[i])
            };
        }
        batch.count = n;
        Ok(n)
    }

    pub fn send(socket: &UdpSocket, datagrams: &[(SocketAddr, Vec<u8>)]) -> io::Result<usize> {
        let count = datagrams.len().min(BATCH);
        // SAFETY: as in `recv`; the iovecs point at the caller's datagrams,
        // which sendmmsg only reads.
        let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, (addr, data)) in datagrams[..count].iter().enumerate() {
            let (s, len) = to_storage(addr);
            addrs[i] = s;
            iovs[i].iov_base = data.as_ptr() as *mut libc::c_void;
            iovs[i].iov_len = data.len();
            msgs[i].msg_hdr.msg_name =
                &mut addrs[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = len;
            msgs[i].msg_hdr.msg_iov = &mut iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                count as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Err(e);
            }
            // The first datagram failed (e.g. unreachable): skip it.
            tracing::debug!(dest = %datagrams[0].0, error = %e, "uTP send failed");
            return Ok(1);
        }
        Ok(n as usize)
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;
    use std::net::SocketAddr;

    use tokio::net::UdpSocket;

    use super::{RecvBatch, BATCH, MAX_DATAGRAM};

    pub fn recv(socket: &UdpSocket, batch: &mut RecvBatch) -> io::Result<usize> {
        let mut n = 0;
        while n < BATCH {
            let buf = &mut batch.bufs[n * MAX_DATAGRAM..(n + 1) * MAX_DATAGRAM];
            match socket.try_recv_from(buf) {
                Ok((len, from)) => {
                    batch.lens[n] = len;
                    batch.addrs[n] = Some(from);
                    n += 1;
                }
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            }
        }
        batch.count = n;
        Ok(n)
    }

    pub fn send(socket: &UdpSocket, datagrams: &[(SocketAddr, Vec<u8>)]) -> io::Result<usize> {
        let mut n = 0;
        for (addr, data) in datagrams.iter().take(BATCH) {
            match socket.try_send_to(data, *addr) {
                Ok(_) => n += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if n == 0 {
                        return Err(e);
                    }
                    break;
                }
                Err(e) => {
                    tracing::debug!(dest = %addr, error = %e, "uTP send failed");
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}
