//! Bounds on what remote peers can make a seeder hold: metadata requests
//! from peers that never read, and a host that opens hundreds of
//! connections. Each attacker uses an address of its own on 127/8 (limits
//! and bans are per address; the honest peers are on 127.0.0.1).

mod session_support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use session_support::*;
use shoal_engine::{Session, SessionConfig};
use shoal_wire::{ExtensionHandshake, Handshake, Message, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn frame(m: &Message) -> Vec<u8> {
    let mut b = BytesMut::new();
    m.encode(&mut b);
    b.to_vec()
}

/// A connection from `from` (an address on 127/8) to `to`, with a tiny
/// receive buffer so the kernel absorbs little of what is sent to it.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    let _ = sock.set_recv_buffer_size(4096);
    sock.bind(SocketAddr::from((from, 0))).unwrap();
    sock.connect(to).await.unwrap()
}

/// A seeder session whose per-address limits apply to loopback too.
async fn strict_session() -> Session {
    let mut cfg = SessionConfig {
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        ..SessionConfig::default()
    };
    cfg.limits.exempt_loopback = false;
    Session::start(cfg).await.unwrap()
}

/// Four connections that each send 5,000 `ut_metadata` requests and never
/// read: the seeder's peer bookkeeping stays small (about 80 MB of replies
/// per connection were queued before metadata replies were bounded), and
/// an honest peer still downloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_requests_from_peers_that_never_read_stay_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    // 1,024 pieces of 16 KiB: a 20 KB info dictionary, two metadata pieces.
    write_content(&seed_dir, &[("data.bin", 16 << 20)], 11);
    let torrent = make_torrent(&seed_dir.join("data.bin"), 16 * 1024);
    let ih = torrent.info_hash.0;
    let s0 = session(None, None).await;
    let seed = add(&s0, &torrent, &seed_dir, vec![]).await;
    let to = s0.local_addr();

    let mut attackers = Vec::new();
    for n in 0..4u8 {
        let mut s = connect_from([127, 0, 0, 10 + n], to).await;
        let mut id = *b"-XX0000-metadataflo0";
        id[19] = b'0' + n;
        let hs = Handshake::new(ih, PeerId(id)).with_extension_protocol(true);
        s.write_all(&hs.to_bytes()).await.unwrap();
        let mut theirs = [0u8; 68];
        s.read_exact(&mut theirs).await.unwrap();
        let mut ext = ExtensionHandshake::default();
        ext.m.insert("ut_metadata".into(), 7);
        let mut out = frame(&ext.to_message());
        let their_id = 3; // Shoal's ut_metadata id, from its handshake.
        for i in 0..5_000u32 {
            let req = shoal_swarm::ut_metadata::MetadataMessage::Request { piece: i % 2 };
            out.extend(frame(&req.to_message(their_id)));
        }
        // Send everything, never read a byte.
        let task = tokio::spawn(async move {
            let _ = s.write_all(&out).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        });
        attackers.push(task);
    }
    // Watch the seeder's bookkeeping while the requests are processed.
    let mut peak = 0;
    for _ in 0..60 {
        peak = peak.max(seed.stats().peer_memory);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("peer bookkeeping peaked at {peak} bytes under the metadata flood");
    assert!(
        peak < 4 << 20,
        "4 non-reading peers made the seeder hold {peak} bytes"
    );

    let s1 = session(None, None).await;
    let dl = tmp.path().join("dl");
    let honest = add(&s1, &torrent, &dl, vec![to]).await;
    complete_within(&honest, 60).await;
    assert_same_tree(&seed_dir, &dl);
    for a in attackers {
        a.abort();
    }
    honest.stop().await;
    seed.stop().await;
}

/// 300 connections from one host: it gets one peer slot, and the handshake
/// slots stay open for others, so an honest peer downloads at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_host_cannot_take_every_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("data.bin", 4 << 20)], 12);
    let torrent = make_torrent(&seed_dir.join("data.bin"), 64 * 1024);
    let ih = torrent.info_hash.0;
    let s0 = strict_session().await;
    let seed = add(&s0, &torrent, &seed_dir, vec![]).await;
    let to = s0.local_addr();

    // Half of them handshake and idle, half say nothing at all.
    let mut conns = Vec::new();
    for n in 0..300u32 {
        let Ok(mut s) =
            tokio::time::timeout(Duration::from_secs(5), connect_from([127, 0, 0, 3], to)).await
        else {
            continue;
        };
        if n % 2 == 0 {
            let mut id = *b"-XX0000-slothog00000";
            id[16..20].copy_from_slice(format!("{n:04}").as_bytes());
            let hs = Handshake::new(ih, PeerId(id)).with_fast(true);
            let _ = s.write_all(&hs.to_bytes()).await;
        }
        conns.push(s);
    }
    let s1 = session(None, None).await;
    let dl = tmp.path().join("dl");
    let honest = add(&s1, &torrent, &dl, vec![to]).await;
    complete_within(&honest, 60).await;
    assert_same_tree(&seed_dir, &dl);
    let peers = seed.stats().peers;
    println!("seeder peers with 300 connections from one host: {peers}");
    assert!(
        peers <= 2,
        "one host holds {} of the seeder's peer slots",
        peers.saturating_sub(1)
    );
    drop(conns);
    honest.stop().await;
    seed.stop().await;
}

/// A peer that answers the handshakes of `info_hash`, claims a 32 MiB
/// info dictionary and never sends a piece. Counts connections open at
/// once in `open` and the most seen in `peak`.
async fn lying_metadata_peer(
    listener: tokio::net::TcpListener,
    info_hash: [u8; 20],
    open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::Ordering;
    while let Ok((mut s, _)) = listener.accept().await {
        let (open, peak) = (open.clone(), peak.clone());
        tokio::spawn(async move {
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let mut hs = [0u8; 68];
            if s.read_exact(&mut hs).await.is_ok() {
                let ours = Handshake::new(info_hash, PeerId(*b"-XX0000-liarliarliar"))
                    .with_extension_protocol(true);
                let mut ext = ExtensionHandshake {
                    metadata_size: Some(32 << 20),
                    ..ExtensionHandshake::default()
                };
                ext.m.insert("ut_metadata".into(), 5);
                let mut out = ours.to_bytes().to_vec();
                out.extend(frame(&ext.to_message()));
                let _ = s.write_all(&out).await;
                // Read (and ignore) requests until the other side gives up.
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            }
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// A magnet with twelve lying peers (each claims a 32 MiB dictionary and
/// sends nothing) listed before the one honest seed: at most four are
/// asked at once, none makes us keep its 32 MiB once it is dropped, and
/// the honest seed's dictionary arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_fetch_asks_a_few_peers_at_a_time_and_survives_liars() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("data.bin", 2 << 20)], 13);
    let torrent = make_torrent(&seed_dir.join("data.bin"), 16 * 1024);
    let s0 = session(None, None).await;
    let seed = add(&s0, &torrent, &seed_dir, vec![]).await;

    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut peers = Vec::new();
    for n in 0..12u8 {
        let l = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 20 + n], 0)))
            .await
            .unwrap();
        peers.push(l.local_addr().unwrap());
        tokio::spawn(lying_metadata_peer(
            l,
            torrent.info_hash.0,
            open.clone(),
            peak.clone(),
        ));
    }
    peers.push(s0.local_addr());
    let s1 = session(None, None).await;
    let fetched = s1
        .fetch_magnet(&torrent.magnet(), &peers, false, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(fetched.info_bytes, torrent.info_bytes);
    let peak = peak.load(Ordering::SeqCst);
    println!("lying metadata peers connected at once: at most {peak}");
    assert!(peak <= 4, "{peak} peers were asked at once");
    seed.stop().await;
}
