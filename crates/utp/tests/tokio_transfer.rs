//! The tokio driver over loopback: plain transfers, a lossy relay, the
//! DHT side channel, connect timeouts.

#[path = "support/relay.rs"]
mod relay;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use shoal_utp::{SocketConfig, UtpSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

/// Settings with real-network datagram sizes even on loopback (for the
/// relay, which stands for a real network).
fn realistic_config() -> SocketConfig {
    let mut cfg = SocketConfig::default();
    cfg.endpoint.loopback_packet_size = None;
    cfg
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Send `payload` from a fresh client socket (settings `cfg`) dialing
/// `dial` (the server or a relay in front of it) while the server sends
/// `reply` back; checks the datagram size agreed is `packet_size`; returns
/// what each side read.
async fn transfer(
    server: &UtpSocket,
    dial: SocketAddr,
    cfg: SocketConfig,
    packet_size: usize,
    payload: Vec<u8>,
    reply: Vec<u8>,
) -> (Vec<u8>, Vec<u8>) {
    let client = UtpSocket::bind_with(localhost(), cfg).unwrap();
    let (expect_up, expect_down) = (payload.len(), reply.len());
    let srv = {
        let server = server.clone();
        tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            let (mut r, mut w) = tokio::io::split(&mut s);
            let writer = async {
                w.write_all(&reply).await.unwrap();
                w.shutdown().await.unwrap();
            };
            let reader = async {
                let mut got = Vec::with_capacity(expect_up);
                r.read_to_end(&mut got).await.unwrap();
                got
            };
            let (_, got) = tokio::join!(writer, reader);
            got
        })
    };
    let mut c = client.connect(dial).await.unwrap();
    assert_eq!(c.info().unwrap().packet_size, packet_size);
    let (mut r, mut w) = tokio::io::split(&mut c);
    let writer = async {
        w.write_all(&payload).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let reader = async {
        let mut got = Vec::with_capacity(expect_down);
        r.read_to_end(&mut got).await.unwrap();
        got
    };
    let (_, down) = tokio::join!(writer, reader);
    let up = srv.await.unwrap();
    (up, down)
}

#[tokio::test]
async fn several_mib_over_loopback() {
    let server = UtpSocket::bind(localhost()).await.unwrap();
    let addr = server.local_addr().unwrap();
    let up = data(8 << 20, 1);
    let down = data(1 << 20, 2);
    let start = Instant::now();
    let (got_up, got_down) = timeout(
        Duration::from_secs(60),
        transfer(
            &server,
            addr,
            SocketConfig::default(),
            60 * 1024,
            up.clone(),
            down.clone(),
        ),
    )
    .await
    .expect("transfer finished in time");
    assert!(
        got_up == up,
        "upload corrupted ({} of {} bytes)",
        got_up.len(),
        up.len()
    );
    assert!(got_down == down, "download corrupted");
    eprintln!("9 MiB over loopback in {:?}", start.elapsed());
}

#[tokio::test]
async fn lossy_relay_transfer_completes() {
    let server = UtpSocket::bind_with(localhost(), realistic_config()).unwrap();
    let imp = relay::Impairment {
        delay: Duration::from_millis(50),
        loss: 0.02,
        dup: 0.01,
        reorder: 0.03,
        jitter: Duration::from_millis(20),
    };
    let relay = relay::Relay::start(server.local_addr().unwrap(), imp, 7).await;
    let up = data(3 << 20, 3);
    let down = data(256 << 10, 4);
    let start = Instant::now();
    let (got_up, got_down) = timeout(
        Duration::from_secs(120),
        transfer(
            &server,
            relay.addr,
            realistic_config(),
            1400,
            up.clone(),
            down.clone(),
        ),
    )
    .await
    .expect("transfer through the relay finished in time");
    assert!(
        got_up == up,
        "upload corrupted ({} of {} bytes)",
        got_up.len(),
        up.len()
    );
    assert!(got_down == down, "download corrupted");
    let s = &relay.stats;
    eprintln!(
        "3.25 MiB through the relay in {:?}: forwarded {} dropped {} duplicated {} reordered {}",
        start.elapsed(),
        s.forwarded.load(Ordering::Relaxed),
        s.dropped.load(Ordering::Relaxed),
        s.duplicated.load(Ordering::Relaxed),
        s.reordered.load(Ordering::Relaxed)
    );
    assert!(s.dropped.load(Ordering::Relaxed) > 0 && s.duplicated.load(Ordering::Relaxed) > 0);
}

#[tokio::test]
async fn non_utp_datagrams_go_to_the_channel_and_send_to_works() {
    let a = UtpSocket::bind(localhost()).await.unwrap();
    let b = UtpSocket::bind(localhost()).await.unwrap();
    let mut rx = b.non_utp_datagrams().unwrap();
    assert!(b.non_utp_datagrams().is_none());
    let krpc = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    a.send_to(krpc, b.local_addr().unwrap()).await.unwrap();
    let (got, from) = timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, krpc);
    assert_eq!(from, a.local_addr().unwrap());
    // uTP still works on the same socket.
    let addr = b.local_addr().unwrap();
    let (up, down) = timeout(
        Duration::from_secs(20),
        transfer(
            &b,
            addr,
            SocketConfig::default(),
            60 * 1024,
            b"hello".to_vec(),
            b"world".to_vec(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        (up.as_slice(), down.as_slice()),
        (&b"hello"[..], &b"world"[..])
    );
    assert!(
        rx.try_recv().is_err(),
        "uTP traffic did not leak into the DHT channel"
    );
}

#[tokio::test]
async fn connect_to_a_silent_port_times_out() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = SocketConfig {
        connect_timeout: Duration::from_millis(800),
        ..SocketConfig::default()
    };
    let sock = UtpSocket::with_socket(
        std::sync::Arc::new(tokio::net::UdpSocket::bind(localhost()).await.unwrap()),
        cfg,
    );
    let start = Instant::now();
    let err = sock
        .connect(silent.local_addr().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn reset_is_an_error_for_the_peer() {
    let server = UtpSocket::bind(localhost()).await.unwrap();
    let client = UtpSocket::bind(localhost()).await.unwrap();
    let c = client.connect(server.local_addr().unwrap()).await.unwrap();
    let (mut s, _) = timeout(Duration::from_secs(5), server.accept())
        .await
        .unwrap()
        .unwrap();
    c.reset();
    let mut buf = [0u8; 10];
    let err = timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn shoal_peers_on_loopback_agree_on_large_datagrams_only_when_both_offer() {
    let server = UtpSocket::bind(localhost()).await.unwrap();
    let addr = server.local_addr().unwrap();
    // One side without the offer: the usual size.
    let (up, _) = timeout(
        Duration::from_secs(20),
        transfer(
            &server,
            addr,
            realistic_config(),
            1400,
            data(100_000, 9),
            Vec::new(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(up, data(100_000, 9));
    let (up, _) = timeout(
        Duration::from_secs(20),
        transfer(
            &server,
            addr,
            SocketConfig::default(),
            60 * 1024,
            data(100_000, 10),
            Vec::new(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(up, data(100_000, 10));
}
