//! The client against an in-process `shoal-tracker` and small fake trackers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoal_tracker::server::{Server, ServerOptions};
use shoal_tracker::{Tracker, TrackerConfig};
use shoal_tracker_client::*;

fn server(cfg: TrackerConfig) -> Server {
    let opts = ServerOptions {
        http: vec!["127.0.0.1:0".parse().unwrap()],
        udp: vec!["127.0.0.1:0".parse().unwrap()],
        threads: 1,
    };
    Server::start(Tracker::new(cfg), &opts).unwrap()
}

/// Short UDP timeouts, with enough retries (50 + 100 + 200 + 400 ms) that
/// a live tracker on a loaded machine still answers in time.
fn fast() -> ClientConfig {
    ClientConfig {
        udp_base_timeout: Duration::from_millis(50),
        udp_max_n: 3,
        http_timeout: Duration::from_secs(5),
        tracker_timeout: None,
        crypto: CryptoSupport::Unstated,
    }
}

fn client(urls: Vec<Vec<String>>, port: u16) -> TrackerClient {
    let mut pid = *b"-SH0001-000000000000";
    pid[19] = port as u8;
    TrackerClient::with_config(urls, [0xab; 20], pid, port, fast())
}

fn start(left: u64) -> AnnounceParams {
    AnnounceParams {
        left,
        event: Event::Started,
        ..Default::default()
    }
}

#[tokio::test]
async fn http_and_udp_peers_find_each_other() {
    let s = server(TrackerConfig::default());
    let http = format!("http://{}/announce", s.http_addrs()[0]);
    let udp = format!("udp://{}", s.udp_addrs()[0]);
    for url in [http, udp] {
        let mut a = client(vec![vec![url.clone()]], 7001);
        let mut b = client(vec![vec![url.clone()]], 7002);
        let ra = a.announce(start(0)).await.unwrap();
        assert!(ra.peers.is_empty());
        assert_eq!(ra.tracker, url);
        let rb = b.announce(start(10)).await.unwrap();
        assert_eq!(
            rb.peers,
            vec!["127.0.0.1:7001".parse::<SocketAddr>().unwrap()],
            "{url}"
        );
        assert_eq!((rb.seeders, rb.leechers), (Some(1), Some(1)));
        assert_eq!(rb.interval, Duration::from_secs(1800));
        let ra = a.announce(AnnounceParams::default()).await.unwrap();
        assert_eq!(
            ra.peers,
            vec!["127.0.0.1:7002".parse::<SocketAddr>().unwrap()]
        );
        let sc = a.scrape().await.unwrap();
        assert_eq!((sc.seeders, sc.leechers), (1, 1), "{url}");
        b.announce(AnnounceParams {
            left: 0,
            event: Event::Completed,
            ..Default::default()
        })
        .await
        .unwrap();
        let sc = b.scrape().await.unwrap();
        assert_eq!((sc.seeders, sc.leechers, sc.downloaded), (2, 0, 1), "{url}");
        a.announce(AnnounceParams {
            event: Event::Stopped,
            ..Default::default()
        })
        .await
        .unwrap();
        b.announce(AnnounceParams {
            event: Event::Stopped,
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(s.tracker().store().torrent_count(), 0);
    }
    s.shutdown();
}

#[tokio::test]
async fn tiers_fall_back_and_promote() {
    let s = server(TrackerConfig::default());
    let good = format!("udp://{}", s.udp_addrs()[0]);
    // A UDP port with nobody behind it.
    let dead_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = format!("udp://{}", dead_sock.local_addr().unwrap());
    let bad = "gopher://x/announce".to_string();
    let mut c = client(
        vec![
            vec![dead.clone(), bad.clone()],
            vec![dead.clone(), good.clone()],
        ],
        7003,
    );
    let r = c.announce(start(1)).await.unwrap();
    assert_eq!(r.tracker, good);
    // Tier 0 (both fail), then tier 1 in its shuffled order.
    assert!(r.failed.len() == 2 || r.failed.len() == 3, "{:?}", r.failed);
    assert!(r
        .failed
        .iter()
        .any(|(u, e)| *u == bad && matches!(e, TrackerError::BadUrl(_))));
    assert!(r
        .failed
        .iter()
        .any(|(u, e)| *u == dead && *e == TrackerError::Timeout));
    assert_eq!(
        c.tiers()[1][0],
        good,
        "the tracker that answered moves to the front of its tier"
    );
    // Next time it is tried first in its tier (tier 0 still goes first).
    let r = c.announce(AnnounceParams::default()).await.unwrap();
    assert_eq!(r.failed.len(), 2);
    s.shutdown();
}

#[tokio::test]
async fn shuffle_within_tier() {
    let urls: Vec<String> = (0..8).map(|i| format!("http://t{i}/announce")).collect();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let c = client(vec![urls.clone()], 1);
        let t = c.tiers();
        let mut sorted = t[0].clone();
        sorted.sort();
        assert_eq!(sorted, urls);
        seen.insert(t[0].clone());
    }
    assert!(seen.len() > 1, "tiers are never shuffled");
}

#[tokio::test]
async fn failure_reason_surfaces_http_and_udp() {
    let cfg = TrackerConfig {
        whitelist: Some(std::collections::HashSet::new()),
        ..Default::default()
    };
    let s = server(cfg);
    for url in [
        format!("http://{}/announce", s.http_addrs()[0]),
        format!("udp://{}", s.udp_addrs()[0]),
    ] {
        let mut c = client(vec![vec![url.clone()]], 7004);
        match c.announce(start(1)).await {
            Err(TrackerError::AllFailed(v)) => {
                assert_eq!(
                    v,
                    vec![(
                        url.clone(),
                        TrackerError::Failure("torrent not allowed".into())
                    )]
                );
                let shown = TrackerError::AllFailed(v).to_string();
                assert!(
                    shown.contains("tracker says: torrent not allowed"),
                    "{shown}"
                );
            }
            r => panic!("{r:?}"),
        }
    }
    s.shutdown();
}

/// A fake HTTP tracker answering `body` and recording request lines.
async fn fake_http(body: &'static [u8]) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let log = log2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                loop {
                    let n = s.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let line = String::from_utf8_lossy(&buf[..end])
                            .lines()
                            .next()
                            .unwrap_or("")
                            .to_string();
                        log.lock().unwrap().push(line);
                        buf.drain(..end + 4);
                        let resp =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                        let _ = s.write_all(resp.as_bytes()).await;
                        let _ = s.write_all(body).await;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/announce"), log)
}

/// The encryption the client is configured with goes into its HTTP
/// announces as Transmission sends it.
#[tokio::test]
async fn http_announce_says_what_encryption_we_speak() {
    let (url, log) = fake_http(b"d8:intervali60e5:peers0:e").await;
    for crypto in [
        CryptoSupport::Unstated,
        CryptoSupport::Supported,
        CryptoSupport::Required,
    ] {
        let cfg = ClientConfig { crypto, ..fast() };
        let mut c = TrackerClient::with_config(vec![vec![url.clone()]], [1; 20], [2; 20], 7, cfg);
        c.announce(start(1)).await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(!log[0].contains("crypto"), "{}", log[0]);
    assert!(
        log[1].contains("&supportcrypto=1") && !log[1].contains("requirecrypto"),
        "{}",
        log[1]
    );
    assert!(
        log[2].contains("&supportcrypto=1&requirecrypto=1"),
        "{}",
        log[2]
    );
}

/// Over IPv6, `shoal-tracker` answers with `peers6` (HTTP) or 18-byte
/// entries (UDP) and the client reads them.
#[tokio::test]
async fn ipv6_peers_over_http_and_udp() {
    let opts = ServerOptions {
        http: vec!["[::1]:0".parse().unwrap()],
        udp: vec!["[::1]:0".parse().unwrap()],
        threads: 1,
    };
    let s = Server::start(Tracker::new(TrackerConfig::default()), &opts).unwrap();
    let http = format!("http://{}/announce", s.http_addrs()[0]);
    let udp = format!("udp://{}", s.udp_addrs()[0]);
    for (url, port) in [(http, 7101), (udp, 7201)] {
        // A torrent of its own for each protocol.
        let c = |p: u16| {
            let urls = vec![vec![url.clone()]];
            TrackerClient::with_config(urls, [port as u8; 20], [p as u8; 20], p, fast())
        };
        let (mut a, mut b) = (c(port), c(port + 1));
        a.announce(start(0)).await.unwrap();
        let rb = b.announce(start(10)).await.unwrap();
        let want: SocketAddr = format!("[::1]:{port}").parse().unwrap();
        assert_eq!(rb.peers, vec![want], "{url}");
    }
    s.shutdown();
}

#[tokio::test]
async fn warning_and_tracker_id_kept() {
    let (url, log) = fake_http(b"d8:intervali60e12:min intervali30e5:peers6:\x01\x02\x03\x04\x00\x5010:tracker id4:t-id15:warning message9:slow downe").await;
    let mut c = client(vec![vec![url]], 7005);
    let r = c.announce(start(1)).await.unwrap();
    assert_eq!(r.warning.as_deref(), Some("slow down"));
    assert_eq!(r.interval, Duration::from_secs(60));
    assert_eq!(r.min_interval, Some(Duration::from_secs(30)));
    assert_eq!(r.peers, vec!["1.2.3.4:80".parse::<SocketAddr>().unwrap()]);
    c.announce(AnnounceParams::default()).await.unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert!(!log[0].contains("trackerid="), "{}", log[0]);
    assert!(log[1].contains("trackerid=t-id"), "{}", log[1]);
    assert!(
        log[0].contains("event=started") && log[0].contains("compact=1") && log[0].contains("key=")
    );
}

#[tokio::test]
async fn http_failure_body_on_error_status() {
    let (url, _) = fake_http(b"d14:failure reason7:go awaye").await;
    let mut c = client(vec![vec![url.clone()]], 7006);
    let e = c.announce(start(1)).await.unwrap_err();
    assert_eq!(
        e,
        TrackerError::AllFailed(vec![(url, TrackerError::Failure("go away".into()))])
    );
}

#[tokio::test]
async fn udp_retransmits_with_doubling_timeouts() {
    // A fake UDP tracker that ignores the first three datagrams, then answers.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let times = Arc::new(Mutex::new(Vec::new()));
    let times2 = times.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        let mut n = 0;
        loop {
            let Ok((len, src)) = sock.recv_from(&mut buf).await else {
                return;
            };
            times2.lock().unwrap().push(Instant::now());
            n += 1;
            if n <= 3 {
                continue;
            }
            let mut out = Vec::new();
            let tid = u32::from_be_bytes(buf[12..16].try_into().unwrap());
            match u32::from_be_bytes(buf[8..12].try_into().unwrap()) {
                0 => shoal_tracker_proto::udp::write_connect_response(&mut out, tid, 42),
                _ => {
                    assert_eq!(len, 98);
                    shoal_tracker_proto::udp::write_announce_response_header(
                        &mut out, tid, 120, 0, 0,
                    );
                    shoal_tracker_proto::write_compact_v4(&mut out, [5, 6, 7, 8].into(), 9);
                }
            }
            let _ = sock.send_to(&out, src).await;
        }
    });
    let cfg = ClientConfig {
        udp_base_timeout: Duration::from_millis(100),
        udp_max_n: 8,
        ..ClientConfig::default()
    };
    let mut c = TrackerClient::with_config(
        vec![vec![format!("udp://{addr}/announce")]],
        [1; 20],
        [2; 20],
        1,
        cfg,
    );
    let t0 = Instant::now();
    let r = c.announce(start(1)).await.unwrap();
    assert_eq!(r.peers, vec!["5.6.7.8:9".parse::<SocketAddr>().unwrap()]);
    assert_eq!(r.interval, Duration::from_secs(120));
    let t = times.lock().unwrap().clone();
    assert_eq!(
        t.len(),
        5,
        "3 lost connects, 1 answered connect, 1 announce"
    );
    let gaps: Vec<u128> = t.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    // Waits of 100, 200, 400 ms before the three resends (with slack for
    // a loaded machine, but each still clearly longer than the last).
    for (g, want) in gaps.iter().zip([100u128, 200, 400]) {
        assert!(*g >= want * 3 / 4 && *g < want + 1000, "gaps {gaps:?}");
    }
    assert!(gaps[0] < gaps[2], "timeouts do not grow: {gaps:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    // The connection id is reused within a minute: one datagram next time.
    c.announce(AnnounceParams::default()).await.unwrap();
    assert_eq!(times.lock().unwrap().len(), 6);
}

#[tokio::test]
async fn no_trackers() {
    let mut c = client(vec![], 1);
    assert_eq!(
        c.announce(start(1)).await.unwrap_err(),
        TrackerError::NoTrackers
    );
}

#[test]
fn client_and_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let mut c = client(vec![vec!["udp://127.0.0.1:1".into()]], 1);
    assert_send(&c);
    let f = c.announce(start(1));
    assert_send(&f);
    drop(f);
    let f = c.scrape();
    assert_send(&f);
}

#[tokio::test]
async fn tracker_timeout_moves_on_from_a_dead_udp_tracker() {
    let s = server(TrackerConfig::default());
    let good = format!("http://{}/announce", s.http_addrs()[0]);
    let dead_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = format!("udp://{}", dead_sock.local_addr().unwrap());
    // BEP 15 timing (15 s, 30 s, ...) would hold the dead tracker for an
    // hour; the per-tracker bound lets the next tier answer at once.
    let cfg = ClientConfig {
        tracker_timeout: Some(Duration::from_millis(300)),
        ..ClientConfig::default()
    };
    let mut c = TrackerClient::with_config(
        vec![vec![dead.clone()], vec![good.clone()]],
        [3; 20],
        [4; 20],
        7010,
        cfg,
    );
    let t0 = Instant::now();
    let r = c.announce(start(1)).await.unwrap();
    assert_eq!(r.tracker, good);
    assert_eq!(r.failed, vec![(dead, TrackerError::Timeout)]);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    s.shutdown();
}
