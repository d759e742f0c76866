//! Interop with libtorrent (python3-libtorrent), encryption forced on its
//! side at RC4 only: we download from a libtorrent seed over
//! `connect_encrypted`, and a libtorrent leecher downloads from us over
//! `accept`. And with Transmission requiring encryption: we download from
//! it (Transmission never dials 127.x peers, so not the other way).
//! Loopback only, bounded in time, every process killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha1::{Digest, Sha1};
use shoal_mse::{accept, connect_encrypted, CryptoMethod, KnownInfoHashes, Policy};
use shoal_wire::{Handshake, Message, MessageDecoder, PeerId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const PYTHON: &str = "/usr/bin/python3";
const PIECE_LEN: usize = 32 * 1024;
const BLOCK: usize = 16 * 1024;
const LIMIT: Duration = Duration::from_secs(60);

/// Fail loudly unless libtorrent's Python bindings are importable.
fn require_libtorrent() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import libtorrent"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3-libtorrent is not installed for {PYTHON} (run scripts/install-test-deps.sh)"
    );
}

/// The script process, killed on drop, and its stdout lines.
struct Script {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Script {
    fn start(args: &[&str]) -> Script {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/lt_mse.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start lt_mse.py");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Script { child, lines }
    }

    /// The next stdout line as JSON, waiting at most `limit`.
    fn next_json(&self, limit: Duration) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(limit)
            .expect("no line from lt_mse.py in time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unhex20(s: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// Pseudo-random content of 6 pieces and a bit, in a temporary folder.
fn content(dir: &Path) -> (PathBuf, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(42);
    let data: Vec<u8> = (0..6 * PIECE_LEN + 12_345).map(|_| rng.gen()).collect();
    let path = dir.join("mse-content.bin");
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

fn piece_count(len: usize) -> usize {
    len.div_ceil(PIECE_LEN)
}

/// Read the next message, filling `buf` from `s` as needed.
async fn next_message<S: AsyncRead + Unpin>(
    s: &mut S,
    dec: &mut MessageDecoder,
    buf: &mut BytesMut,
) -> Option<Message> {
    loop {
        if let Some(m) = dec.decode(buf).expect("valid message") {
            return Some(m);
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = s.read(&mut chunk).await.expect("read");
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Read the peer's 68-byte handshake (after `buf`'s bytes) and return it.
async fn read_handshake<S: AsyncRead + Unpin>(s: &mut S, buf: &mut BytesMut) -> Handshake {
    loop {
        if let Some(hs) = Handshake::decode(buf).expect("valid handshake") {
            return hs;
        }
        let mut chunk = [0u8; 256];
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed before the handshake");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn send<S: AsyncWrite + Unpin>(s: &mut S, m: &Message) {
    s.write_all(&m.to_bytes()).await.expect("write");
}

/// Download every piece from the peer at 127.0.0.1:`port` over
/// `connect_encrypted` under `policy` (no MSE at all under Off): our
/// handshake as IA, then
/// interested, every block requested after the unchoke. Returns the
/// pieces and the payload method.
async fn download(
    port: u16,
    ih: [u8; 20],
    hashes: &[[u8; 20]],
    total: usize,
    policy: Policy,
) -> (Vec<Vec<u8>>, CryptoMethod) {
    let ours = Handshake::new(ih, PeerId(*b"-SH0100-mseinterop01"));
    // On a loaded machine the reference client now and then closes a
    // handshake it has not finished in time (seen with Transmission and
    // libtorrent at load average 15 on 2 cores): dial again, as a client
    // would, at most three times; a refusal every time still fails.
    let mut attempt = 0;
    let mut s = loop {
        attempt += 1;
        let sock = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        match connect_encrypted(sock, ih, policy, &ours.to_bytes()).await {
            Ok(s) => break s,
            Err(e) if attempt < 3 => {
                eprintln!("MSE handshake attempt {attempt} failed ({e}); dialing again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("MSE handshake: {e:?}"),
        }
    };
    assert_eq!(s.is_mse(), policy != Policy::Off);
    let mut buf = BytesMut::new();
    let theirs = read_handshake(&mut s, &mut buf).await;
    assert_eq!(theirs.info_hash, ih);
    let mut dec = MessageDecoder::new(Some(hashes.len() as u32))
        .with_negotiated(&ours.reserved, &theirs.reserved);
    send(&mut s, &Message::Interested).await;
    s.flush().await.unwrap();
    let mut have_bitfield = false;
    let mut pieces = vec![Vec::new(); hashes.len()];
    let mut requested = false;
    let mut received = 0;
    while received < total {
        let m = next_message(&mut s, &mut dec, &mut buf)
            .await
            .expect("the seed closed the connection");
        match m {
            Message::Bitfield(bits) => {
                let full = (0..hashes.len()).all(|i| bits[i / 8] & (0x80 >> (i % 8)) != 0);
                assert!(full, "the seed's bitfield lacks pieces");
                have_bitfield = true;
            }
            Message::Unchoke if !requested => {
                assert!(have_bitfield, "unchoked before the bitfield");
                requested = true;
                for (i, p) in pieces.iter_mut().enumerate() {
                    let len = PIECE_LEN.min(total - i * PIECE_LEN);
                    p.resize(len, 0);
                    for begin in (0..len).step_by(BLOCK) {
                        let length = BLOCK.min(len - begin);
                        let req = Message::Request {
                            index: i as u32,
                            begin: begin as u32,
                            length: length as u32,
                        };
                        send(&mut s, &req).await;
                    }
                }
                s.flush().await.unwrap();
            }
            Message::Piece { index, begin, data } => {
                let p = &mut pieces[index as usize];
                p[begin as usize..begin as usize + data.len()].copy_from_slice(&data);
                received += data.len();
            }
            _ => {}
        }
    }
    (pieces, s.method())
}

/// Check each piece against the torrent's hashes and the content.
fn check_pieces(pieces: &[Vec<u8>], hashes: &[[u8; 20]], data: &[u8]) {
    for (i, p) in pieces.iter().enumerate() {
        let digest: [u8; 20] = Sha1::digest(p).into();
        assert_eq!(digest, hashes[i], "piece {i}");
    }
    assert_eq!(pieces.concat(), data);
}

/// The info-hash and piece hashes in a JSON line of lt_mse.py.
fn torrent_of(info: &serde_json::Value, data: &[u8]) -> ([u8; 20], Vec<[u8; 20]>) {
    let ih = unhex20(info["info_hash"].as_str().unwrap());
    let hashes: Vec<[u8; 20]> = info["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| unhex20(h.as_str().unwrap()))
        .collect();
    assert_eq!(info["total"].as_u64(), Some(data.len() as u64));
    assert_eq!(hashes.len(), piece_count(data.len()));
    (ih, hashes)
}

/// Download from a libtorrent seed (`enc`: its encryption settings) with
/// our `policy`; the payload method it ends up with.
fn download_from_libtorrent(enc: &str, policies: &[(Policy, CryptoMethod)]) {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = content(dir.path());
    let script = Script::start(&[
        "seed",
        path.to_str().unwrap(),
        "--timeout",
        "90",
        "--enc",
        enc,
    ]);
    let info = script.next_json(LIMIT);
    let port = info["port"].as_u64().unwrap() as u16;
    let (ih, hashes) = torrent_of(&info, &data);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for &(policy, expected) in policies {
        let (pieces, method) = rt
            .block_on(async {
                timeout(LIMIT, download(port, ih, &hashes, data.len(), policy)).await
            })
            .expect("download timed out");
        assert_eq!(method, expected, "{policy:?} against libtorrent ({enc})");
        check_pieces(&pieces, &hashes, &data);
    }
}

#[test]
fn we_download_from_a_libtorrent_seed_with_forced_encryption() {
    download_from_libtorrent(
        "forced",
        &[
            (Policy::Require, CryptoMethod::Rc4),
            (Policy::Prefer, CryptoMethod::Rc4),
        ],
    );
}

#[test]
fn we_download_from_a_libtorrent_seed_at_its_defaults() {
    // libtorrent selects plaintext when offered both (prefer_rc4 off), and
    // RC4 when that is all we offer; with Off we talk plain BitTorrent to
    // a peer that only prefers encryption.
    download_from_libtorrent(
        "default",
        &[
            (Policy::Prefer, CryptoMethod::Plaintext),
            (Policy::Require, CryptoMethod::Rc4),
            (Policy::Off, CryptoMethod::Plaintext),
        ],
    );
}

/// Serve `data` to one peer on `s` (after the MSE handshake) until it
/// hangs up.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    mut buf: BytesMut,
    ih: [u8; 20],
    data: &[u8],
) -> usize {
    let theirs = read_handshake(s, &mut buf).await;
    assert_eq!(theirs.info_hash, ih);
    let ours = Handshake::new(ih, PeerId(*b"-SH0100-mseinterop02"));
    s.write_all(&ours.to_bytes()).await.unwrap();
    let count = piece_count(data.len());
    let mut bits = vec![0u8; count.div_ceil(8)];
    for i in 0..count {
        bits[i / 8] |= 0x80 >> (i % 8);
    }
    send(s, &Message::Bitfield(bits.into())).await;
    send(s, &Message::Unchoke).await;
    s.flush().await.unwrap();
    let mut dec =
        MessageDecoder::new(Some(count as u32)).with_negotiated(&ours.reserved, &theirs.reserved);
    let mut served = 0;
    while let Some(m) = next_message(s, &mut dec, &mut buf).await {
        if let Message::Request {
            index,
            begin,
            length,
        } = m
        {
            let start = index as usize * PIECE_LEN + begin as usize;
            let block = data[start..start + length as usize].to_vec();
            send(
                s,
                &Message::Piece {
                    index,
                    begin,
                    data: block.into(),
                },
            )
            .await;
            s.flush().await.unwrap();
            served += length as usize;
        }
    }
    served
}

/// A libtorrent leecher (`enc`: its encryption settings) dials us; we
/// accept under `policy` and serve it; `expected` is the payload method.
fn libtorrent_downloads_from_us(enc: &str, policy: Policy, expected: CryptoMethod) {
    require_libtorrent();
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = content(dir.path());
    let save = dir.path().join("leech");
    std::fs::create_dir(&save).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let script = Script::start(&[
        "leech",
        path.to_str().unwrap(),
        save.to_str().unwrap(),
        &port,
        "--timeout",
        "90",
        "--enc",
        enc,
    ]);
    let ih = unhex20(script.next_json(LIMIT)["info_hash"].as_str().unwrap());
    let server_data = data.clone();
    let server = rt.spawn(async move {
        // Two unknown torrents besides the real one.
        let known = KnownInfoHashes::new([[1; 20], ih, [2; 20]]);
        let (sock, _) = listener.accept().await.unwrap();
        let acc = accept(sock, &known, policy)
            .await
            .expect("MSE handshake from libtorrent");
        // libtorrent dials with MSE first in both settings.
        assert_eq!(acc.info_hash, Some(ih));
        let mut s = acc.stream;
        assert!(s.is_mse());
        assert_eq!(s.method(), expected);
        // libtorrent sends its BitTorrent handshake as the initial payload.
        assert!(acc.initial_payload.len() >= 20);
        assert_eq!(&acc.initial_payload[..20], b"\x13BitTorrent protocol");
        let buf = BytesMut::from(&acc.initial_payload[..]);
        serve(&mut s, buf, ih, &server_data).await
    });
    let done = script.next_json(LIMIT);
    assert_eq!(done["finished"].as_bool(), Some(true), "{done}");
    let copy = std::fs::read(save.join("mse-content.bin")).unwrap();
    assert_eq!(copy, data);
    drop(script);
    // Once libtorrent is gone the connection closes and the server ends.
    let served = rt
        .block_on(async { timeout(LIMIT, server).await })
        .expect("server did not end")
        .expect("server panicked");
    assert!(served >= data.len(), "served {served} of {}", data.len());
}

#[test]
fn libtorrent_downloads_from_us_with_forced_encryption() {
    libtorrent_downloads_from_us("forced", Policy::Require, CryptoMethod::Rc4);
}

#[test]
fn libtorrent_at_its_defaults_downloads_from_us() {
    // It offers RC4 and plaintext; we keep the payload plain, as it does.
    libtorrent_downloads_from_us("default", Policy::Prefer, CryptoMethod::Plaintext);
}

/// A child process killed (and reaped) on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fail loudly if `tool` is not installed.
fn require_tool(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{tool} is not installed (run scripts/install-test-deps.sh)"
    );
}

/// A free TCP port on 127.0.0.1 at the time of asking.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Poll `f` every 100 ms until true or `limit` passes.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// `transmission-remote 127.0.0.1:rpc ARGS`, bounded in time; stdout.
fn remote(rpc: u16, args: &[&str]) -> String {
    let child = Command::new("transmission-remote")
        .arg(format!("127.0.0.1:{rpc}"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start transmission-remote");
    let mut child = Killed(child);
    let done = wait_until(Duration::from_secs(15), || {
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    assert!(done, "transmission-remote {args:?} hung");
    let mut out = String::new();
    if let Some(mut o) = child.0.stdout.take() {
        use std::io::Read;
        let _ = o.read_to_string(&mut out);
    }
    out
}

#[test]
fn we_download_from_transmission_requiring_encryption() {
    require_libtorrent();
    require_tool("transmission-daemon");
    require_tool("transmission-remote");
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = content(dir.path());
    let torrent = dir.path().join("t.torrent");
    let script = Script::start(&["make", path.to_str().unwrap(), torrent.to_str().unwrap()]);
    let (ih, hashes) = torrent_of(&script.next_json(LIMIT), &data);
    drop(script);

    let (rpc, port) = (free_port(), free_port());
    let cfg = dir.path().join("transmission");
    std::fs::create_dir(&cfg).unwrap();
    let settings = serde_json::json!({
        "dht-enabled": false, "lpd-enabled": false, "utp-enabled": false,
        "pex-enabled": false, "port-forwarding-enabled": false,
        "peer-port": port, "peer-port-random-on-start": false,
        "rpc-port": rpc, "rpc-bind-address": "127.0.0.1",
        "rpc-authentication-required": false,
        "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
        "encryption": 2, "download-dir": dir.path(),
        "incomplete-dir-enabled": false, "ratio-limit-enabled": false,
        "idle-seeding-limit-enabled": false, "blocklist-enabled": false,
    });
    std::fs::write(cfg.join("settings.json"), settings.to_string()).unwrap();
    let _daemon = Killed(
        Command::new("transmission-daemon")
            .arg("-f")
            .arg("-g")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start transmission-daemon"),
    );
    let rpc_up = wait_until(Duration::from_secs(15), || {
        std::net::TcpStream::connect(("127.0.0.1", rpc)).is_ok()
    });
    assert!(rpc_up, "transmission-daemon did not start");
    remote(rpc, &["-a", torrent.to_str().unwrap()]);
    let seeding = wait_until(LIMIT, || {
        remote(rpc, &["-t", "1", "-i"]).contains("Percent Done: 100%")
    });
    assert!(seeding, "Transmission did not verify the data");

    let rt = tokio::runtime::Runtime::new().unwrap();
    // Encryption required: a plaintext handshake is refused (closed).
    let refused = rt.block_on(async {
        timeout(LIMIT, async {
            let sock = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let hs = Handshake::new(ih, PeerId(*b"-SH0100-mseinterop03"));
            let mut s = connect_encrypted(sock, ih, Policy::Off, &hs.to_bytes())
                .await
                .unwrap();
            let mut byte = [0u8; 1];
            !matches!(s.read(&mut byte).await, Ok(1))
        })
        .await
    });
    assert_eq!(refused.ok(), Some(true), "Transmission answered plaintext");
    for policy in [Policy::Require, Policy::Prefer] {
        let (pieces, method) = rt
            .block_on(async {
                timeout(LIMIT, download(port, ih, &hashes, data.len(), policy)).await
            })
            .expect("download timed out");
        assert_eq!(method, CryptoMethod::Rc4, "{policy:?}");
        check_pieces(&pieces, &hashes, &data);
    }
}
