//! Interop with libtorrent over uTP (python3-libtorrent, TCP turned off on
//! its side): we download every piece from a libtorrent seed, and a
//! libtorrent leecher downloads every piece from us. Both sides check
//! piece hashes, and libtorrent's peer list must show a uTP connection.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::BytesMut;
use serde_json::Value;
use sha1::{Digest, Sha1};
use shoal_utp::{UtpSocket, UtpStream};
use shoal_wire::{Handshake, Message, MessageDecoder, PeerId};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

const PYTHON: &str = "/usr/bin/python3";
const BLOCK: u32 = 16 * 1024;
const SIZE: usize = 4 << 20;

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/lt_utp_peer.py")
}

fn require_libtorrent() {
    let ok = std::process::Command::new(PYTHON)
        .args(["-c", "import libtorrent"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{PYTHON} -c 'import libtorrent'` failed: install python3-libtorrent (scripts/install-test-deps.sh)"
    );
}

/// The python process; killed on drop.
struct LtPeer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Drop for LtPeer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl LtPeer {
    async fn spawn(args: &[&str]) -> LtPeer {
        require_libtorrent();
        let mut child = Command::new(PYTHON)
            .arg(script())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the libtorrent script");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        LtPeer { child, lines }
    }

    async fn next_json(&mut self) -> Value {
        let line = timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("libtorrent script silent for 30 s")
            .unwrap()
            .expect("libtorrent script exited");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }
}

struct TorrentInfo {
    port: u16,
    info_hash: [u8; 20],
    piece_length: u32,
    total_length: u64,
    pieces: Vec<[u8; 20]>,
    data_path: String,
}

fn hex20(s: &str) -> [u8; 20] {
    let v: Vec<u8> = (0..20)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

fn parse_info(v: &Value) -> TorrentInfo {
    TorrentInfo {
        port: v["port"].as_u64().unwrap() as u16,
        info_hash: hex20(v["info_hash"].as_str().unwrap()),
        piece_length: v["piece_length"].as_u64().unwrap() as u32,
        total_length: v["total_length"].as_u64().unwrap(),
        pieces: v["pieces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| hex20(p.as_str().unwrap()))
            .collect(),
        data_path: v["data"].as_str().unwrap().to_string(),
    }
}

impl TorrentInfo {
    fn piece_len(&self, i: usize) -> u32 {
        let start = i as u64 * u64::from(self.piece_length);
        (self.total_length - start).min(u64::from(self.piece_length)) as u32
    }
}

/// Read one peer-wire message.
async fn next_message(s: &mut UtpStream, dec: &mut MessageDecoder, buf: &mut BytesMut) -> Message {
    loop {
        if let Some(m) = dec.decode(buf).expect("valid peer messages") {
            return m;
        }
        let mut chunk = [0u8; 32 * 1024];
        let n = s.read(&mut chunk).await.expect("read from libtorrent");
        assert!(n > 0, "libtorrent closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn read_handshake(s: &mut UtpStream) -> Handshake {
    let mut hs = [0u8; Handshake::LEN];
    s.read_exact(&mut hs)
        .await
        .expect("handshake from libtorrent");
    Handshake::parse(&hs).unwrap().unwrap()
}

/// Wait for libtorrent to report a peer, and check it is over uTP.
async fn expect_utp_peer(lt: &mut LtPeer) {
    loop {
        let v = lt.next_json().await;
        if v.get("peer").is_some() {
            assert_eq!(v["utp"], Value::Bool(true), "libtorrent's peer list: {v}");
            return;
        }
    }
}

#[tokio::test]
async fn download_every_piece_from_a_libtorrent_seed_over_utp() {
    let dir = tempfile::tempdir().unwrap();
    let size = SIZE.to_string();
    let mut lt = LtPeer::spawn(&[
        "seed",
        dir.path().to_str().unwrap(),
        "--size",
        &size,
        "--timeout",
        "90",
    ])
    .await;
    let info = parse_info(&lt.next_json().await);
    let sock = UtpSocket::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let lt_addr: SocketAddr = ([127, 0, 0, 1], info.port).into();
    let t0 = std::time::Instant::now();
    let mut s = timeout(Duration::from_secs(15), sock.connect(lt_addr))
        .await
        .expect("uTP connect in time")
        .expect("uTP connect to libtorrent");
    // Answered at the first SYN (no retransmission timeout).
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "connect took {:?}",
        t0.elapsed()
    );
    let work = async {
        s.write_all(&Handshake::new(info.info_hash, PeerId::generate()).to_bytes())
            .await
            .unwrap();
        let theirs = read_handshake(&mut s).await;
        assert_eq!(theirs.info_hash, info.info_hash);
        let n = info.pieces.len();
        let mut dec = MessageDecoder::new(Some(n as u32));
        let mut buf = BytesMut::new();
        // Its bitfield: every piece.
        loop {
            match next_message(&mut s, &mut dec, &mut buf).await {
                Message::Bitfield(bits) => {
                    assert!((0..n).all(|i| bits[i / 8] & (0x80 >> (i % 8)) != 0));
                    break;
                }
                Message::HaveAll => break,
                _ => {}
            }
        }
        s.write_all(&Message::Interested.to_bytes()).await.unwrap();
        while !matches!(
            next_message(&mut s, &mut dec, &mut buf).await,
            Message::Unchoke
        ) {}
        let mut out = BytesMut::new();
        let mut pieces: Vec<Vec<u8>> = Vec::with_capacity(n);
        let mut blocks_left = 0;
        for i in 0..n {
            let len = info.piece_len(i);
            pieces.push(vec![0; len as usize]);
            for begin in (0..len).step_by(BLOCK as usize) {
                let length = BLOCK.min(len - begin);
                Message::Request {
                    index: i as u32,
                    begin,
                    length,
                }
                .encode(&mut out);
                blocks_left += 1;
            }
        }
        s.write_all(&out).await.unwrap();
        while blocks_left > 0 {
            if let Message::Piece { index, begin, data } =
                next_message(&mut s, &mut dec, &mut buf).await
            {
                let p = &mut pieces[index as usize];
                p[begin as usize..begin as usize + data.len()].copy_from_slice(&data);
                blocks_left -= 1;
            }
        }
        for (i, p) in pieces.iter().enumerate() {
            let h: [u8; 20] = Sha1::digest(p).into();
            assert_eq!(h, info.pieces[i], "piece {i} hash");
        }
        n
    };
    let n = timeout(Duration::from_secs(60), work)
        .await
        .expect("download finished in time");
    assert_eq!(n, SIZE / 65536);
    expect_utp_peer(&mut lt).await;
    // libtorrent receives into 1500-byte buffers: no large datagrams.
    assert_eq!(s.info().unwrap().packet_size, 1400);
    let stats = s.stats().unwrap();
    eprintln!("downloaded {SIZE} bytes from libtorrent over uTP: {stats:?}");
    assert!(stats.bytes_received >= SIZE as u64);
}

#[tokio::test]
async fn a_libtorrent_leecher_downloads_every_piece_from_us_over_utp() {
    let dir = tempfile::tempdir().unwrap();
    let sock = UtpSocket::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let me = format!("127.0.0.1:{}", sock.local_addr().unwrap().port());
    let size = SIZE.to_string();
    let mut lt = LtPeer::spawn(&[
        "leech",
        dir.path().to_str().unwrap(),
        "--peer",
        &me,
        "--size",
        &size,
        "--timeout",
        "90",
    ])
    .await;
    let info = parse_info(&lt.next_json().await);
    let data = std::fs::read(&info.data_path).unwrap();
    let (mut s, from) = timeout(Duration::from_secs(20), sock.accept())
        .await
        .expect("libtorrent dialled us over uTP in time")
        .unwrap();
    assert_eq!(
        from.port(),
        info.port,
        "libtorrent dials from its listen port"
    );
    let theirs = read_handshake(&mut s).await;
    assert_eq!(theirs.info_hash, info.info_hash);
    assert_eq!(s.info().unwrap().packet_size, 1400);
    s.write_all(&Handshake::new(info.info_hash, PeerId::generate()).to_bytes())
        .await
        .unwrap();
    let n = info.pieces.len();
    let mut bits = vec![0u8; n.div_ceil(8)];
    for i in 0..n {
        bits[i / 8] |= 0x80 >> (i % 8);
    }
    let mut out = BytesMut::new();
    Message::Bitfield(bits.into()).encode(&mut out);
    Message::Unchoke.encode(&mut out);
    s.write_all(&out).await.unwrap();

    let mut dec = MessageDecoder::new(Some(n as u32));
    let mut buf = BytesMut::new();
    let mut finished = 0;
    let mut utp_peer = None;
    let mut served = 0u64;
    let mut eof = false;
    let serve = async {
        loop {
            let mut chunk = [0u8; 32 * 1024];
            tokio::select! {
                r = s.read(&mut chunk), if !eof => {
                    let r = r.expect("read from libtorrent");
                    if r == 0 {
                        // libtorrent may hang up once it is done.
                        eof = true;
                        continue;
                    }
                    buf.extend_from_slice(&chunk[..r]);
                    let mut out = BytesMut::new();
                    while let Some(m) = dec.decode(&mut buf).expect("valid peer messages") {
                        if let Message::Request { index, begin, length } = m {
                            let start = index as usize * info.piece_length as usize + begin as usize;
                            let block = data[start..start + length as usize].to_vec();
                            Message::Piece { index, begin, data: block.into() }.encode(&mut out);
                            served += u64::from(length);
                        }
                    }
                    if !out.is_empty() {
                        s.write_all(&out).await.unwrap();
                    }
                }
                line = lt.next_json() => {
                    if line.get("piece").is_some() {
                        finished += 1;
                    } else if line.get("peer").is_some() {
                        utp_peer = Some(line["utp"].clone());
                    } else if line.get("done").is_some() {
                        return;
                    }
                }
            }
        }
    };
    timeout(Duration::from_secs(60), serve)
        .await
        .expect("libtorrent finished in time");
    assert_eq!(finished, n, "libtorrent verified every piece");
    assert_eq!(
        utp_peer,
        Some(Value::Bool(true)),
        "libtorrent's peer list shows uTP"
    );
    assert!(served >= SIZE as u64);
    let got = std::fs::read(dir.path().join("dest/data.bin")).unwrap();
    assert!(got == data, "libtorrent's copy differs");
}
