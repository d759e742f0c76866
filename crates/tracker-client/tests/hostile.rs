//! The client against hostile trackers on 127.0.0.1: every bound on what
//! a tracker can make it read or keep.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoal_tracker_client::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the hostile tracker answers to one request.
enum Reply {
    /// These bytes (status line, headers and body), then wait for the next
    /// request on the connection.
    Bytes(Vec<u8>),
    /// `head`, then `chunk` again and again until the client goes away.
    Endless { head: Vec<u8>, chunk: Vec<u8> },
}

/// Answers request number `n` (from 0) with request line `line`; `addr`
/// is the server's own address.
type Handler = Arc<dyn Fn(usize, &str, SocketAddr) -> Reply + Send + Sync>;

/// A running hostile HTTP tracker.
struct Hostile {
    url: String,
    /// Requests seen.
    requests: Arc<AtomicUsize>,
    /// Request lines seen.
    lines: Arc<Mutex<Vec<String>>>,
    /// Body bytes the endless replies managed to write.
    written: Arc<AtomicU64>,
}

async fn hostile(handler: Handler) -> Hostile {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let written = Arc::new(AtomicU64::new(0));
    let (rq, ln, wr) = (requests.clone(), lines.clone(), written.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let (rq, ln, wr, handler) = (rq.clone(), ln.clone(), wr.clone(), handler.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                loop {
                    let n = s.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let line = String::from_utf8_lossy(&buf[..end])
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    buf.drain(..end + 4);
                    ln.lock().unwrap().push(line.clone());
                    let i = rq.fetch_add(1, Ordering::SeqCst);
                    match handler(i, &line, addr) {
                        Reply::Bytes(b) => {
                            if s.write_all(&b).await.is_err() {
                                return;
                            }
                        }
                        Reply::Endless { head, chunk } => {
                            if s.write_all(&head).await.is_err() {
                                return;
                            }
                            while s.write_all(&chunk).await.is_ok() {
                                wr.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    Hostile {
        url: format!("http://{addr}/announce"),
        requests,
        lines,
        written,
    }
}

/// A 200 answer with `body`.
fn ok(body: &[u8]) -> Reply {
    let mut b = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    b.extend_from_slice(body);
    Reply::Bytes(b)
}

/// A bencoded byte string.
fn bstr(s: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:", s.len()).into_bytes();
    out.extend_from_slice(s);
    out
}

fn cfg() -> ClientConfig {
    ClientConfig {
        udp_base_timeout: Duration::from_millis(50),
        udp_max_n: 3,
        http_timeout: Duration::from_secs(20),
        tracker_timeout: None,
        crypto: CryptoSupport::Unstated,
    }
}

fn client(url: &str) -> TrackerClient {
    TrackerClient::with_config(
        vec![vec![url.to_string()]],
        [7; 20],
        *b"-SH0001-hostile00000",
        6881,
        cfg(),
    )
}

fn params() -> AnnounceParams {
    AnnounceParams {
        left: 1,
        event: Event::Started,
        ..Default::default()
    }
}

/// The one tracker's error.
fn only_error(e: TrackerError) -> TrackerError {
    match e {
        TrackerError::AllFailed(mut v) if v.len() == 1 => v.remove(0).1,
        other => panic!("{other:?}"),
    }
}

/// An endless body must fail with `TooLarge` soon after the cap, long
/// before the whole-request timeout, having read little past the cap.
async fn endless(head: &'static str, chunk: Vec<u8>) {
    let h = hostile(Arc::new(move |_, _, _| Reply::Endless {
        head: head.as_bytes().to_vec(),
        chunk: chunk.clone(),
    }))
    .await;
    let t0 = Instant::now();
    let e = client(&h.url).announce(params()).await.unwrap_err();
    assert_eq!(only_error(e), TrackerError::TooLarge(MAX_RESPONSE_BODY));
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    // Give the server a moment to notice the closed connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = h.written.load(Ordering::SeqCst);
    // The cap plus what loopback socket buffers hold, not the gigabytes a
    // loopback link carries in the request timeout.
    assert!(written < 64 << 20, "server wrote {written} bytes");
}

#[tokio::test]
async fn body_declared_over_the_cap_is_refused() {
    // Content-Length says 1 GiB, and the tracker streams that much.
    endless(
        "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n",
        vec![b'x'; 64 << 10],
    )
    .await;
}

#[tokio::test]
async fn chunked_body_over_the_cap_is_refused() {
    let mut chunk = format!("{:x}\r\n", 64 << 10).into_bytes();
    chunk.extend(vec![b'x'; 64 << 10]);
    chunk.extend_from_slice(b"\r\n");
    endless(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunk,
    )
    .await;
}

#[tokio::test]
async fn close_delimited_body_over_the_cap_is_refused() {
    endless(
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
        vec![b'x'; 64 << 10],
    )
    .await;
}

#[tokio::test]
async fn body_just_under_the_cap_is_read() {
    // A valid answer padded to just under the cap still works.
    let mut body = b"d8:intervali60e3:pad".to_vec();
    body.extend(bstr(&vec![b'p'; MAX_RESPONSE_BODY - 100]));
    body.extend_from_slice(b"5:peers6:\x01\x02\x03\x04\x00\x50e");
    assert!(body.len() <= MAX_RESPONSE_BODY);
    let h = hostile(Arc::new(move |_, _, _| ok(&body))).await;
    let r = client(&h.url).announce(params()).await.unwrap();
    assert_eq!(r.peers, vec!["1.2.3.4:80".parse::<SocketAddr>().unwrap()]);
}

/// Compact IPv4 peers 10.x.y.z:1000+i, `n` of them, all distinct.
fn compact_v4(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n as u32 {
        out.extend_from_slice(&(0x0a00_0000 | i).to_be_bytes());
        out.extend_from_slice(&(1000 + (i % 60000) as u16).to_be_bytes());
    }
    out
}

fn compact_v6(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n as u32 {
        let mut ip = [0u8; 16];
        ip[0] = 0x20;
        ip[1] = 0x01;
        ip[12..].copy_from_slice(&i.to_be_bytes());
        out.extend_from_slice(&ip);
        out.extend_from_slice(&7000u16.to_be_bytes());
    }
    out
}

fn distinct(p: &[SocketAddr]) -> usize {
    p.iter().collect::<std::collections::HashSet<_>>().len()
}

#[tokio::test]
async fn compact_peers_are_capped_and_both_families_kept() {
    let mut body = b"d8:intervali60e5:peers".to_vec();
    body.extend(bstr(&compact_v4(10_000)));
    body.extend_from_slice(b"6:peers6");
    body.extend(bstr(&compact_v6(3_000)));
    body.push(b'e');
    let h = hostile(Arc::new(move |_, _, _| ok(&body))).await;
    let r = client(&h.url).announce(params()).await.unwrap();
    assert_eq!(r.peers.len(), MAX_PEERS_PER_RESPONSE);
    assert_eq!(distinct(&r.peers), MAX_PEERS_PER_RESPONSE);
    let v6 = r.peers.iter().filter(|p| p.is_ipv6()).count();
    assert!(
        (MAX_PEERS_PER_RESPONSE / 2 - 1..=MAX_PEERS_PER_RESPONSE / 2 + 1).contains(&v6),
        "{v6} IPv6 peers of {}",
        r.peers.len()
    );
}

#[tokio::test]
async fn dictionary_peers_are_capped() {
    let mut body = b"d8:intervali60e5:peersl".to_vec();
    for i in 0..5_000u32 {
        let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        body.extend_from_slice(b"d2:ip");
        body.extend(bstr(ip.as_bytes()));
        body.extend_from_slice(b"4:porti6881ee");
    }
    body.extend_from_slice(b"ee");
    let h = hostile(Arc::new(move |_, _, _| ok(&body))).await;
    let r = client(&h.url).announce(params()).await.unwrap();
    assert_eq!(r.peers.len(), MAX_PEERS_PER_RESPONSE);
    assert_eq!(distinct(&r.peers), MAX_PEERS_PER_RESPONSE);
    assert_eq!(r.peers[0], "10.0.0.0:6881".parse::<SocketAddr>().unwrap());
}

#[tokio::test]
async fn repeated_peers_count_once() {
    let mut body = b"d8:intervali60e5:peers".to_vec();
    body.extend(bstr(&b"\x01\x02\x03\x04\x00\x50".repeat(3_000)));
    body.push(b'e');
    let h = hostile(Arc::new(move |_, _, _| ok(&body))).await;
    let r = client(&h.url).announce(params()).await.unwrap();
    assert_eq!(r.peers, vec!["1.2.3.4:80".parse::<SocketAddr>().unwrap()]);
}

/// A failure reason of 100,000 bytes, with a 200 and with a 400 status.
#[tokio::test]
async fn failure_reason_is_cut() {
    for status in ["200 OK", "400 Bad Request"] {
        let mut body = b"d14:failure reason".to_vec();
        body.extend(bstr(&"é".repeat(50_000).into_bytes()));
        body.push(b'e');
        let h = hostile(Arc::new(move |_, _, _| {
            let mut b = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            b.extend_from_slice(&body);
            Reply::Bytes(b)
        }))
        .await;
        let e = client(&h.url).announce(params()).await.unwrap_err();
        let TrackerError::Failure(f) = only_error(e) else {
            panic!("not a failure ({status})");
        };
        assert!(f.len() <= MAX_MESSAGE_LEN + '…'.len_utf8(), "{}", f.len());
        assert!(f.starts_with("éé") && f.ends_with('…'), "{status}");
    }
}

#[tokio::test]
async fn warning_is_cut() {
    let mut body = b"d8:intervali60e5:peers0:15:warning message".to_vec();
    body.extend(bstr(&vec![b'w'; 100_000]));
    body.push(b'e');
    let h = hostile(Arc::new(move |_, _, _| ok(&body))).await;
    let r = client(&h.url).announce(params()).await.unwrap();
    let w = r.warning.unwrap();
    assert_eq!(w.len(), MAX_MESSAGE_LEN + '…'.len_utf8());
}

#[tokio::test]
async fn long_tracker_id_is_not_sent_back() {
    let mut body = b"d8:intervali60e5:peers0:10:tracker id".to_vec();
    body.extend(bstr(&vec![b'k'; 100_000]));
    body.push(b'e');
    let h = hostile(Arc::new(move |_, _, _| ok(&body))).await;
    let mut c = client(&h.url);
    c.announce(params()).await.unwrap();
    c.announce(AnnounceParams::default()).await.unwrap();
    let lines = h.lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 2);
    assert!(!lines[1].contains("trackerid="), "{} bytes", lines[1].len());
    assert!(lines[1].len() < 1000, "{} bytes", lines[1].len());
}

/// Redirects to itself: hop `n` answers with a redirect to hop `n + 1`
/// while `n < hops`, then with a peer.
fn redirecting(hops: usize) -> Handler {
    Arc::new(move |n, _, addr| {
        if n < hops {
            Reply::Bytes(
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://{addr}/announce?hop={}\r\nContent-Length: 0\r\n\r\n",
                    n + 1
                )
                .into_bytes(),
            )
        } else {
            ok(b"d8:intervali60e5:peers6:\x01\x02\x03\x04\x00\x50e")
        }
    })
}

#[tokio::test]
async fn redirects_are_bounded() {
    let h = hostile(redirecting(usize::MAX)).await;
    let e = client(&h.url).announce(params()).await.unwrap_err();
    assert!(
        matches!(only_error(e), TrackerError::Http(_)),
        "a redirect loop is an HTTP error"
    );
    assert_eq!(h.requests.load(Ordering::SeqCst), MAX_REDIRECTS + 1);
    // One more hop than allowed fails too.
    let h = hostile(redirecting(MAX_REDIRECTS + 1)).await;
    assert!(client(&h.url).announce(params()).await.is_err());
    assert_eq!(h.requests.load(Ordering::SeqCst), MAX_REDIRECTS + 1);
}

#[tokio::test]
async fn redirects_within_the_bound_are_followed() {
    let h = hostile(redirecting(MAX_REDIRECTS)).await;
    let r = client(&h.url).announce(params()).await.unwrap();
    assert_eq!(r.peers, vec!["1.2.3.4:80".parse::<SocketAddr>().unwrap()]);
    assert_eq!(h.requests.load(Ordering::SeqCst), MAX_REDIRECTS + 1);
}

/// A UDP tracker that answers the connect, then an error whose message
/// fills the datagram.
#[tokio::test]
async fn udp_error_message_is_cut() {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        loop {
            let Ok((len, src)) = sock.recv_from(&mut buf).await else {
                return;
            };
            if len < 16 {
                continue;
            }
            let tid = u32::from_be_bytes(buf[12..16].try_into().unwrap());
            let mut out = Vec::new();
            match u32::from_be_bytes(buf[8..12].try_into().unwrap()) {
                0 => shoal_tracker_proto::udp::write_connect_response(&mut out, tid, 42),
                _ => shoal_tracker_proto::udp::write_error_response(
                    &mut out,
                    tid,
                    &"e".repeat(UDP_RECV_BUFFER - 8),
                ),
            }
            let _ = sock.send_to(&out, src).await;
        }
    });
    let e = client(&format!("udp://{addr}"))
        .announce(params())
        .await
        .unwrap_err();
    let TrackerError::Failure(f) = only_error(e) else {
        panic!("not a failure");
    };
    assert_eq!(f.len(), MAX_MESSAGE_LEN + '…'.len_utf8());
}
