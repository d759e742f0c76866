//! `shoal tracker`: serve HTTP and UDP announces and scrapes.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use shoal_tracker::server::{Server, ServerOptions};
use shoal_tracker::{Tracker, TrackerConfig};

use crate::signals::Shutdown;

/// Options of `shoal tracker`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// HTTP listen address (repeatable). With neither --http nor --udp,
    /// both listen on 0.0.0.0:6969, as opentracker does.
    #[arg(long, value_name = "ADDR")]
    pub http: Vec<SocketAddr>,
    /// UDP (BEP 15) listen address (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub udp: Vec<SocketAddr>,
    /// Serve only the info-hashes in FILE (40 hex digits a line), like
    /// opentracker's -w.
    #[arg(long, value_name = "FILE")]
    pub whitelist: Option<PathBuf>,
    /// Announce interval given to clients, in seconds (10..=5400); peers
    /// are dropped after two missed intervals plus five minutes.
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    pub announce_interval: u32,
    /// Most peer entries (torrent × port) one IPv4 address or IPv6 /64 may
    /// hold; 0 for no limit.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_peers_per_ip: u32,
    /// Most peers held in total.
    #[arg(long, value_name = "N", default_value_t = 20_000_000)]
    pub max_peers: usize,
    /// Most torrents held in total.
    #[arg(long, value_name = "N", default_value_t = 5_000_000)]
    pub max_torrents: usize,
    /// Worker threads (0 = one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
}

/// Allocator options for a long-running tracker, as environment variables.
///
/// The `shoal` binary links mimalloc, which by default commits its arenas
/// eagerly and keeps freed pages resident: right for transfer buffers,
/// wasteful for a server holding millions of small long-lived entries (it
/// tripled the tracker's resident memory). mimalloc reads its options from
/// the environment when the process starts, so `shoal tracker` sets them and
/// re-executes itself once (same PID, same arguments). With another
/// allocator the variables are simply ignored.
const ALLOCATOR_ENV: [(&str, &str); 2] = [
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_PURGE_DELAY", "0"),
];

#[cfg(unix)]
fn tune_allocator() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("SHOAL_TRACKER_ALLOC_SET").is_some()
        || ALLOCATOR_ENV
            .iter()
            .all(|(k, _)| std::env::var_os(k).is_some())
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .env("SHOAL_TRACKER_ALLOC_SET", "1");
    for (k, v) in ALLOCATOR_ENV {
        if std::env::var_os(k).is_none() {
            cmd.env(k, v);
        }
    }
    // Only returns on failure; then just go on with the defaults.
    let err = cmd.exec();
    tracing::debug!(error = %err, "could not re-exec with allocator options");
}

#[cfg(not(unix))]
fn tune_allocator() {}

/// Run `shoal tracker` until SIGINT or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<()> {
    tune_allocator();
    let mut cfg = TrackerConfig::with_interval(args.announce_interval);
    cfg.store.max_peers_per_ip = args.max_peers_per_ip;
    cfg.store.max_peers = args.max_peers;
    cfg.store.max_torrents = args.max_torrents;
    if let Some(w) = &args.whitelist {
        let set = shoal_tracker::load_whitelist(w)?;
        tracing::info!(torrents = set.len(), "whitelist loaded");
        cfg.whitelist = Some(set);
    }
    let (mut http, mut udp) = (args.http, args.udp);
    if http.is_empty() && udp.is_empty() {
        let any: SocketAddr = ([0, 0, 0, 0], 6969).into();
        http.push(any);
        udp.push(any);
    }
    let opts = ServerOptions {
        http,
        udp,
        threads: args.threads,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    // Watch the signals before saying we listen: a SIGTERM sent the moment
    // the address is printed must still shut down cleanly.
    let mut shutdown = {
        let _in_runtime = rt.enter();
        Shutdown::watch()?
    };
    let server = Server::start(Tracker::new(cfg), &opts)?;
    for a in server.http_addrs() {
        eprintln!("shoal tracker: listening http on {a}");
    }
    for a in server.udp_addrs() {
        eprintln!("shoal tracker: listening udp on {a}");
    }
    rt.block_on(shutdown.recv());
    eprintln!("shoal tracker: shutting down");
    server.shutdown();
    Ok(())
}
