//! Interop with libtorrent 2.0's DHT (python3-libtorrent, driven by
//! `tests/scripts/lt_dht.py`), all on 127.0.0.1. libtorrent runs with
//! `dht_restrict_routing_ips=False`, `dht_restrict_search_ips=False`,
//! `dht_block_ratelimit=100000` and no bootstrap routers; Shoal's per-IP
//! rate limit is raised to `LOOPBACK_RATE_LIMIT` (every node is
//! 127.0.0.1). The python process is killed by a guard in every case.
//!
//! Checks: Shoal answers libtorrent's queries and ends up in libtorrent's
//! routing table; Shoal's `get_peers` finds the peer libtorrent announced
//! (with `implied_port`); libtorrent's `dht_get_peers` finds the peer Shoal
//! announced.

#[path = "support/local.rs"]
mod local;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket as StdUdp};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use local::{info_hash, loopback_config};
use shoal_dht::Dht;

/// The python libtorrent session; killed on drop.
struct Libtorrent {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Libtorrent {
    fn start(port: u16) -> Libtorrent {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/lt_dht.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run /usr/bin/python3");
        let stdin = child.stdin.take().expect("stdin");
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
        let mut lt = Libtorrent {
            child,
            stdin,
            lines,
        };
        let first = lt.line(Duration::from_secs(20));
        assert!(
            first.starts_with("ready"),
            "libtorrent session did not start: {first:?} (python3-libtorrent is required: \
             run scripts/install-test-deps.sh)"
        );
        lt
    }

    fn line(&mut self, limit: Duration) -> String {
        self.lines
            .recv_timeout(limit)
            .unwrap_or_else(|e| panic!("no answer from the libtorrent script: {e}"))
    }

    fn cmd(&mut self, c: &str) -> String {
        writeln!(self.stdin, "{c}").expect("write to libtorrent script");
        self.stdin.flush().expect("flush");
        self.line(Duration::from_secs(30))
    }
}

impl Drop for Libtorrent {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    loop {
        let udp = StdUdp::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoal_and_libtorrent_dht_interoperate() {
    let lt_port = free_port();
    let lt_addr: SocketAddr = ([127, 0, 0, 1], lt_port).into();
    let mut lt = tokio::task::block_in_place(|| Libtorrent::start(lt_port));
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(120), async {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = Dht::bind(any, loopback_config(31, vec![])).await.unwrap();
        let first_addr = first.local_addr().unwrap();
        let mut shoal = vec![first];
        for i in 32..36 {
            shoal.push(
                Dht::bind(any, loopback_config(i, vec![first_addr]))
                    .await
                    .unwrap(),
            );
        }
        let ports: Vec<u16> = shoal
            .iter()
            .map(|d| d.local_addr().unwrap().port())
            .collect();
        let answer =
            tokio::task::block_in_place(|| lt.cmd(&format!("add_node {}", first_addr.port())));
        assert_eq!(answer, "ok");
        for d in &shoal {
            d.bootstrap(vec![first_addr, lt_addr]).await.unwrap();
        }

        // libtorrent's routing table takes in Shoal nodes.
        let deadline = Instant::now() + Duration::from_secs(40);
        let in_table = loop {
            let nodes = tokio::task::block_in_place(|| lt.cmd("nodes"));
            let listed: Vec<u16> = nodes
                .split_whitespace()
                .skip(1)
                .filter_map(|p| p.parse().ok())
                .collect();
            let ours: Vec<u16> = listed
                .iter()
                .copied()
                .filter(|p| ports.contains(p))
                .collect();
            if ours.len() >= 2 || Instant::now() > deadline {
                println!("libtorrent routing table (ports): {listed:?}; shoal: {ports:?}");
                break ours;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(
            !in_table.is_empty(),
            "no Shoal node in libtorrent's routing table"
        );
        println!(
            "shoal nodes in libtorrent's table after {:?}",
            started.elapsed()
        );
        let answered: u64 = {
            let mut n = 0;
            for d in &shoal {
                n += d.stats().await.unwrap().queries_answered;
            }
            n
        };
        assert!(answered > 0, "Shoal answered no query");

        // libtorrent announces (a tracker-less torrent: implied_port), Shoal finds it.
        let ih = info_hash("libtorrent announces");
        assert_eq!(
            tokio::task::block_in_place(|| lt.cmd(&format!("announce {}", hex(&ih.0)))),
            "ok"
        );
        let deadline = Instant::now() + Duration::from_secs(40);
        let found = loop {
            let mut rx = shoal[4].get_peers(ih).await.unwrap();
            let mut found = Vec::new();
            while let Some(b) = rx.recv().await {
                found.extend(b);
            }
            if found.contains(&lt_addr) || Instant::now() > deadline {
                break found;
            }
            tokio::task::block_in_place(|| lt.cmd(&format!("reannounce {}", hex(&ih.0))));
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        assert!(
            found.contains(&lt_addr),
            "Shoal did not find libtorrent's peer {lt_addr}: {found:?}"
        );
        println!(
            "shoal found libtorrent's peer after {:?}",
            started.elapsed()
        );

        // Shoal announces, libtorrent finds it.
        let ih = info_hash("shoal announces");
        let deadline = Instant::now() + Duration::from_secs(40);
        let want = "127.0.0.1:7777";
        let peers = loop {
            let ann = shoal[2].announce(ih, Some(7777)).await.unwrap();
            assert!(ann.stats.announced >= 1, "{:?}", ann.stats);
            let peers =
                tokio::task::block_in_place(|| lt.cmd(&format!("get_peers {}", hex(&ih.0))));
            if peers.split_whitespace().any(|p| p == want) || Instant::now() > deadline {
                break peers;
            }
        };
        assert!(
            peers.split_whitespace().any(|p| p == want),
            "libtorrent did not find Shoal's peer: {peers}"
        );
        println!(
            "libtorrent found shoal's peer after {:?}",
            started.elapsed()
        );
    })
    .await;
    drop(lt);
    outcome.expect("test timed out");
}
