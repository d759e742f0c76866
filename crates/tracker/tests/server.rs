//! The I/O edge on loopback: real sockets, bounded in time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use shoal_tracker::server::{Server, ServerError, ServerOptions};
use shoal_tracker::{Tracker, TrackerConfig};
use shoal_tracker_proto::udp::*;
use shoal_tracker_proto::urlenc::encode;
use shoal_tracker_proto::Event;

fn start() -> Server {
    let opts = ServerOptions {
        http: vec!["127.0.0.1:0".parse().unwrap()],
        udp: vec!["127.0.0.1:0".parse().unwrap()],
        threads: 2,
    };
    Server::start(Tracker::new(TrackerConfig::default()), &opts).unwrap()
}

fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    read_response_buf(s, &mut Vec::new())
}

/// Read one response; bytes past it stay in `buf` for the next call.
fn read_response_buf(s: &mut TcpStream, buf: &mut Vec<u8>) -> (String, Vec<u8>) {
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            while buf.len() < end + 4 + len {
                let n = s.read(&mut tmp).unwrap();
                assert!(n > 0, "closed early");
                buf.extend_from_slice(&tmp[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return (head, body);
        }
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "closed before a response");
        buf.extend_from_slice(&tmp[..n]);
    }
}

#[test]
fn udp_round_trip_on_loopback() {
    let server = start();
    let addr = server.udp_addrs()[0];
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.connect(addr).unwrap();
    let mut pkt = Vec::new();
    write_connect_request(&mut pkt, 1);
    s.send(&pkt).unwrap();
    let mut buf = [0u8; 2048];
    let n = s.recv(&mut buf).unwrap();
    let Response::Connect { connection_id, .. } = parse_response(&buf[..n], false).unwrap() else {
        panic!()
    };
    // Many in flight at once (the batch path).
    for i in 0..100u32 {
        pkt.clear();
        write_announce_request(
            &mut pkt,
            &AnnounceRequest {
                connection_id,
                transaction_id: i,
                info_hash: [1; 20],
                peer_id: [2; 20],
                downloaded: 0,
                left: 1,
                uploaded: 0,
                event: Event::Started,
                ip: 0,
                key: 0,
                num_want: -1,
                port: 1000 + i as u16,
            },
        );
        s.send(&pkt).unwrap();
    }
    let mut got = 0;
    while got < 100 {
        let n = s.recv(&mut buf).unwrap();
        assert!(matches!(
            parse_response(&buf[..n], false).unwrap(),
            Response::Announce { .. }
        ));
        got += 1;
    }
    assert_eq!(server.tracker().store().scrape(&[1; 20]).leechers, 100);
    let t0 = Instant::now();
    server.shutdown();
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[test]
fn http_keep_alive_and_pipelining() {
    let server = start();
    let mut s = TcpStream::connect(server.http_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let q = |port: u16| {
        format!(
            "GET /announce?info_hash={}&peer_id={}&port={port}&left=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            encode(&[5; 20]),
            encode(&[6; 20])
        )
    };
    for port in [1000, 1001] {
        s.write_all(q(port).as_bytes()).unwrap();
        let (head, body) = read_response(&mut s);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(!head.contains("Connection: close"));
        assert!(shoal_tracker_proto::http::parse_announce_response(&body).is_ok());
    }
    // Two pipelined in one write.
    s.write_all(format!("{}{}", q(1002), q(1003)).as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    for _ in 0..2 {
        let (_, body) = read_response_buf(&mut s, &mut buf);
        let r = shoal_tracker_proto::http::parse_announce_response(&body).unwrap();
        assert!(r.peers.len() >= 2);
    }
    server.shutdown();
}

#[test]
fn http_huge_query_gets_414_and_close() {
    let server = start();
    let mut s = TcpStream::connect(server.http_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = b"GET /announce?info_hash=".to_vec();
    req.extend(std::iter::repeat_n(b'a', 1 << 20));
    req.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    // The server may close before we finish writing; that is fine.
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&req);
    });
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 414"), "{head}");
    assert!(head.contains("Connection: close"));
    assert!(String::from_utf8_lossy(&body).contains("failure reason"));
    let _ = writer.join();
    // The tracker still serves others.
    let mut s2 = TcpStream::connect(server.http_addrs()[0]).unwrap();
    s2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s2.write_all(b"GET /stats HTTP/1.1\r\n\r\n").unwrap();
    let (head, _) = read_response(&mut s2);
    assert!(head.starts_with("HTTP/1.1 200"));
    server.shutdown();
}

#[test]
fn address_in_use_is_a_clear_error() {
    let server = start();
    let opts = ServerOptions {
        http: server.http_addrs().to_vec(),
        udp: vec![],
        threads: 1,
    };
    let e = Server::start(Tracker::new(TrackerConfig::default()), &opts)
        .err()
        .unwrap();
    assert!(matches!(e, ServerError::Bind { proto: "http", .. }));
    assert!(e.to_string().contains("address in use"), "{e}");
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = holder.local_addr().unwrap();
    let opts = ServerOptions {
        http: vec![],
        udp: vec![addr],
        threads: 1,
    };
    let e = Server::start(Tracker::new(TrackerConfig::default()), &opts)
        .err()
        .unwrap();
    assert!(matches!(e, ServerError::Bind { proto: "udp", .. }), "{e}");
    server.shutdown();
}

#[test]
fn udp_and_http_over_ipv6_loopback() {
    // Skip quietly only if this machine has no IPv6 loopback at all.
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    let opts = ServerOptions {
        http: vec!["[::1]:0".parse().unwrap()],
        udp: vec!["[::1]:0".parse().unwrap()],
        threads: 1,
    };
    let server = Server::start(Tracker::new(TrackerConfig::default()), &opts).unwrap();
    let addr = server.udp_addrs()[0];
    let mut peers_seen = Vec::new();
    for port in [3001u16, 3002] {
        let s = UdpSocket::bind("[::1]:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.connect(addr).unwrap();
        let mut pkt = Vec::new();
        write_connect_request(&mut pkt, 1);
        s.send(&pkt).unwrap();
        let mut buf = [0u8; 2048];
        let n = s.recv(&mut buf).unwrap();
        let Response::Connect { connection_id, .. } = parse_response(&buf[..n], true).unwrap()
        else {
            panic!()
        };
        pkt.clear();
        write_announce_request(
            &mut pkt,
            &AnnounceRequest {
                connection_id,
                transaction_id: 2,
                info_hash: [6; 20],
                peer_id: [7; 20],
                downloaded: 0,
                left: 1,
                uploaded: 0,
                event: Event::Started,
                ip: 0,
                key: 0,
                num_want: -1,
                port,
            },
        );
        s.send(&pkt).unwrap();
        let n = s.recv(&mut buf).unwrap();
        // The IPv6 form: 18-byte peers.
        assert_eq!((n - ANNOUNCE_RESPONSE_HEADER_LEN) % 18, 0);
        let Response::Announce { peers, .. } = parse_response(&buf[..n], true).unwrap() else {
            panic!()
        };
        peers_seen = peers;
    }
    assert_eq!(
        peers_seen,
        vec!["[::1]:3001".parse::<SocketAddr>().unwrap()]
    );
    // HTTP over IPv6: the peers come back in `peers6`.
    let mut s = TcpStream::connect(server.http_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let q = format!(
        "GET /announce?info_hash={}&peer_id={}&port=3003&left=1 HTTP/1.1\r\n\r\n",
        encode(&[6; 20]),
        encode(&[8; 20])
    );
    s.write_all(q.as_bytes()).unwrap();
    let (_, body) = read_response(&mut s);
    assert!(
        String::from_utf8_lossy(&body).contains("6:peers636:"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    server.shutdown();
}
