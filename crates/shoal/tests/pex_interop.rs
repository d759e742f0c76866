//! Peer exchange (BEP 11, `ut_pex`) against libtorrent 2.0 and a
//! hand-made peer, all on 127.0.0.1 (DHT off everywhere; libtorrent runs
//! `tests/scripts/lt_discovery.py`, PEX on):
//!
//! * Shoal learns a third peer from libtorrent's `ut_pex` and downloads
//!   from it (the peer it was given gets almost nothing, at 1 kB/s);
//! * libtorrent learns a peer from Shoal's `ut_pex` and connects to it;
//! * a peer flooding `ut_pex` messages is dropped (after the allowed
//!   burst it is still served), and the peers it sent are dialed;
//! * a private torrent has no `ut_pex` in Shoal's extension handshake, and
//!   the peers a `ut_pex` message names are never dialed.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// Content and its torrent (`--private` if asked); returns (content dir,
/// torrent path, info-hash).
fn make_torrent(work: &Path, len: usize, private: bool) -> (PathBuf, PathBuf, [u8; 20]) {
    let dir = work.join("seed");
    let file = dir.join("payload.bin");
    write_file(&file, len, 11);
    let torrent = work.join("t.torrent");
    let mut cmd = shoal();
    cmd.arg("create").arg(&file).arg("-o").arg(&torrent);
    cmd.args(["--piece-length", "64K", "--json"]);
    if private {
        cmd.arg("--private");
    }
    let o = run_with_timeout(&mut cmd, LIMIT);
    assert!(o.status.success(), "shoal create: {}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).expect("create JSON");
    let hex = v["info_hash"].as_str().expect("info_hash");
    let mut ih = [0u8; 20];
    for (i, b) in ih.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }
    (dir, torrent, ih)
}

/// A libtorrent peer (lt_discovery.py) on a free port, PEX on unless
/// `--no-pex` is among `extra`.
fn libtorrent(
    work: &Path,
    name: &str,
    torrent: &Path,
    dir: &Path,
    extra: &[&str],
) -> (Logged, u16) {
    require_libtorrent();
    let port = free_port();
    let mut cmd = Command::new(SYSTEM_PYTHON);
    cmd.arg(script("lt_discovery.py")).arg(torrent).arg(dir);
    cmd.arg(port.to_string());
    if !extra.contains(&"--no-pex") {
        cmd.arg("--pex");
    }
    cmd.args(extra.iter().filter(|a| **a != "--no-pex"));
    cmd.args(["--timeout", "120"]).env("TMPDIR", work);
    (Logged::spawn(name, work, &mut cmd), port)
}

/// `shoal seed` on 127.0.0.1, DHT off; returns once it seeds.
fn shoal_seed(work: &Path, torrent: &Path, dir: &Path) -> (Logged, SocketAddr) {
    let mut cmd = shoal();
    cmd.arg("seed").arg(torrent).arg("--dir").arg(dir);
    cmd.args(["--listen", "127.0.0.1:0", "--no-dht"]);
    let mut p = Logged::spawn("shoal-seed", work, &mut cmd);
    let addr = p.listening();
    p.wait_for("seeding ", LIMIT);
    (p, addr)
}

#[test]
fn shoal_learns_a_peer_from_libtorrent_pex_and_downloads_from_it() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, torrent, _) = make_torrent(work, 3 * 1024 * 1024 + 99, false);
    // The seed speaks no PEX: it cannot learn of Shoal and dial it first.
    let (mut seed, seed_port) = libtorrent(
        work,
        "lt-seed",
        &torrent,
        &seed_dir,
        &["--seed", "--no-pex"],
    );
    seed.wait_for("seeding", LIMIT);
    let seed_addr = format!("127.0.0.1:{seed_port}");
    // A peer that gets almost nothing (1 kB/s), connected to the seed.
    let (mut middle, middle_port) = libtorrent(
        work,
        "lt-middle",
        &torrent,
        &work.join("middle"),
        &["--down", "1000", "--peer", &seed_addr],
    );
    middle.wait_for(&format!("peer {seed_addr} "), LIMIT);

    let out = work.join("out");
    let mut cmd = shoal();
    cmd.arg("download").arg(&torrent).arg("--dir").arg(&out);
    cmd.args(["--listen", "127.0.0.1:0", "--json", "--no-dht"]);
    cmd.args(["--peer", &format!("127.0.0.1:{middle_port}")]);
    let mut dl = Logged::spawn("shoal", work, &mut cmd);
    let report = dl.finish_json(LIMIT);
    assert_eq!(
        sha256_file(&out.join("payload.bin")),
        sha256_file(&seed_dir.join("payload.bin"))
    );
    let from = report["downloaded_from"]
        .as_array()
        .expect("downloaded_from");
    assert!(
        from.iter()
            .any(|f| f["peer"] == seed_addr.as_str() && f["source"] == "pex"),
        "nothing came from the seed learned by PEX: {report}"
    );
    assert!(
        report["peer_sources"]["pex"].as_u64().unwrap_or(0) >= 1,
        "{report}"
    );
}

#[test]
fn libtorrent_learns_a_peer_from_shoal_pex() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, torrent, _) = make_torrent(work, 1024 * 1024, false);
    let (_seed, seed_addr) = shoal_seed(work, &torrent, &seed_dir);
    let seed_addr = seed_addr.to_string();
    let (mut other, other_port) = libtorrent(
        work,
        "lt-other",
        &torrent,
        &work.join("other"),
        &["--down", "1000", "--peer", &seed_addr],
    );
    other.wait_for(&format!("peer {seed_addr} "), LIMIT);
    let (mut leech, _) = libtorrent(
        work,
        "lt-leech",
        &torrent,
        &work.join("leech"),
        &["--down", "100000", "--peer", &seed_addr],
    );
    // libtorrent's peer_info source bit 4 is PEX.
    let needle = format!("peer 127.0.0.1:{other_port} source=");
    leech.wait_for(&needle, LIMIT);
    let line = leech
        .stdout()
        .lines()
        .find(|l| l.starts_with(&needle))
        .map(str::to_owned)
        .unwrap_or_default();
    let source: u32 = line
        .rsplit('=')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        source & 4 != 0,
        "not learned by PEX: {line}\n{}",
        leech.logs()
    );
}

/// A peer speaking the wire protocol by hand over a blocking socket.
struct HandPeer {
    sock: TcpStream,
}

impl HandPeer {
    /// Connect and handshake (extension protocol on); returns the peer and
    /// Shoal's extension handshake payload.
    fn connect(addr: SocketAddr, info_hash: [u8; 20]) -> (HandPeer, Vec<u8>) {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut p = HandPeer { sock };
        let mut hs = vec![19u8];
        hs.extend_from_slice(b"BitTorrent protocol");
        hs.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0]);
        hs.extend_from_slice(&info_hash);
        hs.extend_from_slice(b"-XX0001-handmadepeer");
        p.sock.write_all(&hs).unwrap();
        let mut theirs = [0u8; 68];
        p.sock.read_exact(&mut theirs).expect("handshake reply");
        assert_eq!(&theirs[28..48], &info_hash);
        p.extended(0, b"d1:md6:ut_pexi1ee1:pi6881ee");
        let deadline = Instant::now() + LIMIT;
        loop {
            assert!(Instant::now() < deadline, "no extension handshake");
            if let Some((20, payload)) = p.read_msg() {
                if payload.first() == Some(&0) {
                    return (p, payload[1..].to_vec());
                }
            }
        }
    }

    fn send(&mut self, id: u8, payload: &[u8]) {
        let mut m = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
        m.push(id);
        m.extend_from_slice(payload);
        self.sock.write_all(&m).expect("send");
    }

    fn extended(&mut self, ext: u8, payload: &[u8]) {
        let mut p = vec![ext];
        p.extend_from_slice(payload);
        self.send(20, &p);
    }

    /// The next message (id, payload), `None` for a keep-alive; panics if
    /// the connection ends.
    fn read_msg(&mut self) -> Option<(u8, Vec<u8>)> {
        self.try_read_msg().expect("connection closed")
    }

    /// Like `read_msg`, with `Err` when the connection ends.
    fn try_read_msg(&mut self) -> Result<Option<(u8, Vec<u8>)>, std::io::Error> {
        let mut len = [0u8; 4];
        self.sock.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            return Ok(None);
        }
        let mut body = vec![0u8; len];
        self.sock.read_exact(&mut body)?;
        Ok(Some((body[0], body[1..].to_vec())))
    }

    /// Send `interested` and wait for `unchoke`: the peer is still served.
    fn assert_served(&mut self) {
        self.send(2, &[]);
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            if let Some((1, _)) = self.read_msg() {
                return;
            }
        }
        panic!("never unchoked");
    }
}

/// A `ut_pex` payload adding `addrs` (IPv4).
fn pex_payload(addrs: &[SocketAddr]) -> Vec<u8> {
    let mut compact = Vec::new();
    for a in addrs {
        if let SocketAddr::V4(a) = a {
            compact.extend_from_slice(&a.ip().octets());
            compact.extend_from_slice(&a.port().to_be_bytes());
        }
    }
    let mut p = format!("d5:added{}:", compact.len()).into_bytes();
    p.extend_from_slice(&compact);
    p.extend_from_slice(format!("7:added.f{}:", addrs.len()).as_bytes());
    p.extend(std::iter::repeat_n(0u8, addrs.len()));
    p.extend_from_slice(b"7:dropped0:e");
    p
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_pex_flood_gets_the_sender_dropped() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, torrent, ih) = make_torrent(work, 256 * 1024, false);
    let (_seed, addr) = shoal_seed(work, &torrent, &seed_dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let decoy = listener.local_addr().unwrap();
    let (mut peer, ext) = HandPeer::connect(addr, ih);
    assert!(
        contains(&ext, b"6:ut_pexi1e"),
        "no ut_pex offered: {}",
        ext.escape_ascii()
    );
    // The allowed burst: the peer is still served, and the address it
    // gave is dialed.
    for _ in 0..3 {
        peer.extended(1, &pex_payload(&[decoy]));
    }
    peer.assert_served();
    listener.set_nonblocking(true).unwrap();
    assert!(
        wait_until(LIMIT, || listener.accept().is_ok()),
        "the address learned by PEX was never dialed"
    );
    // One more within the minute is a flood: the connection is closed.
    // Once it is, writing fails (broken pipe or reset): stop there.
    for _ in 0..5 {
        let mut m = pex_payload(&[decoy]);
        m.insert(0, 1);
        let mut frame = ((m.len() + 1) as u32).to_be_bytes().to_vec();
        frame.push(20);
        frame.extend_from_slice(&m);
        if peer.sock.write_all(&frame).is_err() {
            break;
        }
    }
    let deadline = Instant::now() + LIMIT;
    loop {
        match peer.try_read_msg() {
            Err(_) => break,
            Ok(_) => assert!(Instant::now() < deadline, "a flooding peer was kept"),
        }
    }
}

#[test]
fn no_pex_on_a_private_torrent() {
    let tmp = tempdir();
    let work = tmp.path();
    let (seed_dir, torrent, ih) = make_torrent(work, 256 * 1024, true);
    let (_seed, addr) = shoal_seed(work, &torrent, &seed_dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let decoy = listener.local_addr().unwrap();
    let (mut peer, ext) = HandPeer::connect(addr, ih);
    assert!(
        !contains(&ext, b"ut_pex"),
        "ut_pex offered on a private torrent: {}",
        ext.escape_ascii()
    );
    // Its messages are ignored: no flood, nobody dialed.
    for _ in 0..10 {
        peer.extended(1, &pex_payload(&[decoy]));
    }
    peer.assert_served();
    listener.set_nonblocking(true).unwrap();
    // The public case dials within a second (the housekeeping runs twice
    // a second); give it three.
    assert!(
        !wait_until(Duration::from_secs(3), || listener.accept().is_ok()),
        "a private torrent dialed a peer learned by PEX"
    );
}
