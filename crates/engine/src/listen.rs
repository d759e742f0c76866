//! The session's listening sockets: the first configured address that
//! binds and, when that is the IPv4 wildcard and dual stack is on, the
//! IPv6 wildcard on the same port (IPv6 only, so the two never overlap);
//! and accepting from all of them at once.

use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::task::Poll;

use tokio::net::{TcpListener, TcpStream};
use tracing::warn;

/// Pending connections the kernel keeps per listening socket.
const BACKLOG: i32 = 1024;

/// Bind the first of `addrs` that binds; then, if `dual_stack` and it is
/// `0.0.0.0:P`, also `[::]:P` (a failure there is logged, and the session
/// listens on IPv4 only). Returns the listeners, the first one's first.
/// On failure returns the last error (or "no address given").
pub(crate) async fn bind(addrs: &[SocketAddr], dual_stack: bool) -> io::Result<Vec<TcpListener>> {
    let mut last_err = None;
    for addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(l) => {
                let mut out = vec![l];
                let local = out[0].local_addr()?;
                if dual_stack && local.is_ipv4() && local.ip().is_unspecified() {
                    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, local.port()));
                    match bind_v6_only(v6) {
                        Ok(l6) => out.push(l6),
                        Err(e) => warn!(%v6, error = %e, "no IPv6 listening socket"),
                    }
                }
                return Ok(out);
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no address given")))
}

/// A listening socket on the IPv6 address `addr` that takes IPv6
/// connections only (`IPV6_V6ONLY`), so it can share its port with an IPv4
/// socket.
fn bind_v6_only(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    s.set_only_v6(true)?;
    // As tokio's TcpListener::bind does: a restart can take its port back
    // while old connections linger in TIME_WAIT.
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    TcpListener::from_std(s.into())
}

/// The next connection on any of `listeners`, its address in canonical form
/// (an IPv4 peer reaching a dual-stack `[::]` socket comes as
/// `::ffff:a.b.c.d`; it is reported as `a.b.c.d`). `start` rotates which
/// listener is polled first, so none starves the others.
pub(crate) async fn accept_any(
    listeners: &[TcpListener],
    start: usize,
) -> io::Result<(TcpStream, SocketAddr)> {
    let n = listeners.len();
    std::future::poll_fn(|cx| {
        for i in 0..n {
            if let Poll::Ready(r) = listeners[(start + i) % n].poll_accept(cx) {
                return Poll::Ready(r);
            }
        }
        Poll::Pending
    })
    .await
    .map(|(s, a)| (s, SocketAddr::new(a.ip().to_canonical(), a.port())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wildcard_gets_both_families_on_one_port() {
        let ls = bind(&["0.0.0.0:0".parse().unwrap()], true).await.unwrap();
        assert_eq!(ls.len(), 2);
        let (a4, a6) = (ls[0].local_addr().unwrap(), ls[1].local_addr().unwrap());
        assert!(a4.is_ipv4() && a6.is_ipv6());
        assert_eq!(a4.port(), a6.port());
        for (i, target) in [
            SocketAddr::from(([127, 0, 0, 1], a4.port())),
            SocketAddr::from((Ipv6Addr::LOCALHOST, a4.port())),
        ]
        .into_iter()
        .enumerate()
        {
            let _c = TcpStream::connect(target).await.unwrap();
            let (_s, from) = accept_any(&ls, i).await.unwrap();
            assert_eq!(from.is_ipv6(), target.is_ipv6(), "{from} for {target}");
        }
    }

    #[tokio::test]
    async fn a_specific_address_or_no_dual_stack_binds_only_that() {
        let ls = bind(&["127.0.0.1:0".parse().unwrap()], true).await.unwrap();
        assert_eq!(ls.len(), 1);
        let port = ls[0].local_addr().unwrap().port();
        assert!(TcpStream::connect((Ipv6Addr::LOCALHOST, port))
            .await
            .is_err());
        let ls = bind(&["0.0.0.0:0".parse().unwrap()], false).await.unwrap();
        assert_eq!(ls.len(), 1);
    }

    #[tokio::test]
    async fn v4_mapped_peers_are_reported_as_ipv4() {
        // A dual-stack [::] socket (IPV6_V6ONLY off) takes IPv4 too.
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        s.set_only_v6(false).unwrap();
        s.set_nonblocking(true).unwrap();
        s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
            .unwrap();
        s.listen(8).unwrap();
        let ls = vec![TcpListener::from_std(s.into()).unwrap()];
        let port = ls[0].local_addr().unwrap().port();
        let _c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (_s, from) = accept_any(&ls, 0).await.unwrap();
        assert_eq!(from, SocketAddr::from(([127, 0, 0, 1], from.port())));
    }

    #[tokio::test]
    async fn nothing_to_bind_is_an_error() {
        assert!(bind(&[], true).await.is_err());
    }
}
