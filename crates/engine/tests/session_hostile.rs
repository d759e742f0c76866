//! Hostile peers: each attack gets its own connection dropped while an
//! honest peer's download from the same seeder carries on to the end.

mod session_support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use session_support::*;
use shoal_wire::{Handshake, Message, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PIECE_LEN: u32 = 32 * 1024;

/// Connect and exchange handshakes for `info_hash`; returns the stream
/// and whether the other side answered.
async fn handshake(addr: SocketAddr, info_hash: [u8; 20]) -> (TcpStream, bool) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let hs = Handshake::new(info_hash, PeerId(*b"-XX0000-hostilehosti"))
        .with_fast(true)
        .with_extension_protocol(true);
    s.write_all(&hs.to_bytes()).await.unwrap();
    let mut buf = [0u8; 68];
    let answered = tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .is_ok_and(|r| r.is_ok());
    (s, answered)
}

/// Whether the other side closes the connection within a few seconds.
async fn dropped(s: &mut TcpStream) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

fn frame(m: &Message) -> Vec<u8> {
    let mut b = BytesMut::new();
    m.encode(&mut b);
    b.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_drop_only_the_attacker() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("data.bin", 3_000_000)], 3);
    let torrent = make_torrent(&seed_dir.join("data.bin"), u64::from(PIECE_LEN));
    let ih = torrent.info_hash.0;
    let pieces = torrent.piece_count();
    // The seeder uploads slowly, so the honest download spans the attacks.
    let s0 = session(Some(400_000), None).await;
    let seed = add(&s0, &torrent, &seed_dir, vec![]).await;
    let addr = s0.local_addr();

    let s1 = session(None, None).await;
    let dl = tmp.path().join("dl");
    let honest = add(&s1, &torrent, &dl, vec![addr]).await;

    // Attacks start once the honest peer is connected, so a slow start on
    // a loaded machine is not mistaken for a lost peer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while honest.stats().peers == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "honest peer never connected: {:?}",
            honest.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let bitfield_len = pieces.div_ceil(8) as usize;
    let attacks: Vec<(&str, Vec<u8>)> = vec![
        (
            "oversized length prefix",
            vec![0xff, 0xff, 0xff, 0xf0, 7, 0, 0],
        ),
        ("bitfield of the wrong size", {
            let mut b = (bitfield_len as u32 + 2).to_be_bytes().to_vec();
            b.push(5);
            b.extend(vec![0xffu8; bitfield_len + 1]);
            b
        }),
        ("bitfield with spare bits", {
            let mut b = (bitfield_len as u32 + 1).to_be_bytes().to_vec();
            b.push(5);
            b.extend(vec![0xffu8; bitfield_len]);
            b
        }),
        (
            "request beyond the piece",
            frame(&Message::Request {
                index: 0,
                begin: PIECE_LEN - 100,
                length: 16 * 1024,
            }),
        ),
        (
            "piece never asked for",
            frame(&Message::Piece {
                index: 1,
                begin: 0,
                data: vec![0u8; 16 * 1024].into(),
            }),
        ),
        (
            "have beyond the piece count",
            frame(&Message::Have { piece: pieces + 5 }),
        ),
        ("flood of repeated haves", {
            let one = frame(&Message::Have { piece: 2 });
            one.repeat(pieces as usize + 2000)
        }),
        ("late have-all", {
            let mut b = frame(&Message::Interested);
            b.extend(frame(&Message::HaveAll));
            b
        }),
    ];
    for (name, bytes) in attacks {
        let (mut s, answered) = handshake(addr, ih).await;
        assert!(answered, "{name}: no handshake");
        let _ = s.write_all(&bytes).await;
        assert!(dropped(&mut s).await, "{name}: connection not dropped");
        let st = honest.stats();
        assert!(
            st.peers == 1 || st.complete,
            "{name}: honest peer lost: {st:?}"
        );
    }

    // A handshake for another torrent is not even answered.
    let (mut s, answered) = handshake(addr, [0x55; 20]).await;
    assert!(
        !answered || dropped(&mut s).await,
        "wrong info-hash accepted"
    );

    // The honest peer is still there (or already done) and finishes.
    let st = honest.stats();
    assert!(st.peers == 1 || st.complete, "honest peer lost: {st:?}");
    complete_within(&honest, 30).await;
    assert_same_tree(&seed_dir, &dl);
    honest.stop().await;
    seed.stop().await;
}

/// A peer that claims every piece and answers every request with garbage.
/// Returns how many blocks it sent before the connection was dropped.
async fn corrupt_seeder(
    listener: tokio::net::TcpListener,
    info_hash: [u8; 20],
    pieces: u32,
) -> usize {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut hs = [0u8; 68];
    s.read_exact(&mut hs).await.unwrap();
    let ours = Handshake::new(info_hash, PeerId(*b"-XX0000-corruptcorru")).with_fast(true);
    s.write_all(&ours.to_bytes()).await.unwrap();
    s.write_all(&frame(&Message::HaveAll)).await.unwrap();
    s.write_all(&frame(&Message::Unchoke)).await.unwrap();
    let mut decoder = shoal_wire::MessageDecoder::new(Some(pieces));
    let mut buf = BytesMut::with_capacity(1 << 16);
    let mut sent = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), s.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return sent,
        }
        while let Ok(Some(m)) = decoder.decode(&mut buf) {
            if let Message::Request {
                index,
                begin,
                length,
            } = m
            {
                let garbage = Message::Piece {
                    index,
                    begin,
                    data: vec![0xa5u8; length as usize].into(),
                };
                if s.write_all(&frame(&garbage)).await.is_err() {
                    return sent;
                }
                sent += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_data_bans_its_sender_only() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("data.bin", 1_500_000)], 5);
    let torrent = make_torrent(&seed_dir.join("data.bin"), u64::from(PIECE_LEN));
    let s0 = session(Some(1_000_000), None).await;
    let seed = add(&s0, &torrent, &seed_dir, vec![]).await;

    // Bans are by address: the attacker gets one of its own (every other
    // peer here is on 127.0.0.1).
    let bad = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let bad_addr = bad.local_addr().unwrap();
    let bad_task = tokio::spawn(corrupt_seeder(
        bad,
        torrent.info_hash.0,
        torrent.piece_count(),
    ));

    // The attacker speaks plain BitTorrent only and answers an MSE opening
    // with a plaintext handshake instead of hanging up, so the downloader
    // talks plaintext to everyone (the test is about bans, not MSE).
    let s1 = shoal_engine::Session::start(shoal_engine::SessionConfig {
        listen: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0))],
        encryption: shoal_engine::EncryptionPolicy::Off,
        ..shoal_engine::SessionConfig::default()
    })
    .await
    .unwrap();
    let dl = tmp.path().join("dl");
    let h = add(&s1, &torrent, &dl, vec![s0.local_addr(), bad_addr]).await;
    complete_within(&h, 30).await;
    assert_same_tree(&seed_dir, &dl);

    let sent = tokio::time::timeout(Duration::from_secs(5), bad_task)
        .await
        .expect("the corrupt peer was never disconnected")
        .unwrap();
    assert!(sent > 0, "the corrupt peer was never asked for anything");
    // It comes back from a new port with a new peer id: turned away
    // before the handshake, every time.
    for attempt in 0..3u8 {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut s = sock.connect(s1.local_addr()).await.unwrap();
        let mut id = *b"-XX0000-newidnewid00";
        id[19] = b'0' + attempt;
        let hs = Handshake::new(torrent.info_hash.0, PeerId(id)).with_fast(true);
        let _ = s.write_all(&hs.to_bytes()).await;
        let mut buf = [0u8; 68];
        let answered = tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
            .await
            .is_ok_and(|r| r.is_ok());
        assert!(
            !answered,
            "a banned address got a handshake back (attempt {attempt})"
        );
    }
    // An honest peer on another address is still welcome.
    let (_s, answered) = handshake(s1.local_addr(), torrent.info_hash.0).await;
    assert!(answered, "an honest address was turned away");
    let from = h.contributions();
    assert!(
        from.iter()
            .any(|c| c.peer == s0.local_addr() && c.bytes > 0),
        "{from:?}"
    );
    h.stop().await;
    seed.stop().await;
}
