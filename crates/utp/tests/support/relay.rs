//! A userspace UDP relay for loopback tests: forwards between one client
//! and one server, dropping, duplicating, reordering and delaying
//! datagrams (the kernel here has no netem).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// How the relay mistreats datagrams.
#[derive(Debug, Clone)]
pub struct Impairment {
    /// Fixed delay of every datagram.
    pub delay: Duration,
    /// Probability of dropping one.
    pub loss: f64,
    /// Probability of delivering one twice.
    pub dup: f64,
    /// Probability of adding up to `jitter` extra delay (reordering).
    pub reorder: f64,
    /// Most extra delay.
    pub jitter: Duration,
}

/// Counters of what the relay did.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    pub reordered: AtomicU64,
}

/// A running relay; aborted on drop.
pub struct Relay {
    pub addr: SocketAddr,
    pub stats: Arc<RelayStats>,
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    /// Relay on 127.0.0.1 towards `server`: whoever else sends to it is the
    /// client.
    pub async fn start(server: SocketAddr, imp: Impairment, seed: u64) -> Relay {
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = sock.local_addr().unwrap();
        let stats = Arc::new(RelayStats::default());
        let st = stats.clone();
        let task = tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut client: Option<SocketAddr> = None;
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let to = if from == server {
                    match client {
                        Some(c) => c,
                        None => continue,
                    }
                } else {
                    client = Some(from);
                    server
                };
                if rng.gen_bool(imp.loss) {
                    st.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let copies = if rng.gen_bool(imp.dup) {
                    st.duplicated.fetch_add(1, Ordering::Relaxed);
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let mut delay = imp.delay;
                    if rng.gen_bool(imp.reorder) {
                        st.reordered.fetch_add(1, Ordering::Relaxed);
                        delay += imp.jitter.mul_f64(rng.gen::<f64>());
                    }
                    let data = buf[..n].to_vec();
                    let sock = sock.clone();
                    let st = st.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        if sock.send_to(&data, to).await.is_ok() {
                            st.forwarded.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            }
        });
        Relay { addr, stats, task }
    }
}
