//! `shoal download`: fetch a torrent's content from the swarm, verify
//! every piece, optionally keep seeding.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use shoal_engine::storage::{CheckReport, DirectIo};
use shoal_engine::{AddTorrentOptions, Session, SessionConfig, TorrentHandle};
use shoal_metainfo::{Magnet, Torrent};

use crate::cmd::info::load_torrent;
use crate::signals::Shutdown;
use crate::size::parse_size;
use crate::swarm_progress::SwarmProgress;

/// Options of `shoal download`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A .torrent file or a magnet link (its metadata is fetched from
    /// peers: `--peer`s, the link's `x.pe` peers and its trackers).
    pub source: String,
    /// Directory that holds the content (under the torrent's own name).
    #[arg(long)]
    pub dir: PathBuf,
    #[command(flatten)]
    pub net: NetArgs,
    /// Keep seeding after the download completes, until SIGINT/SIGTERM.
    #[arg(long)]
    pub seed: bool,
    /// Download rate limit, e.g. 4M (bytes per second).
    #[arg(long, value_parser = parse_size)]
    pub download_limit: Option<u64>,
    /// Print a JSON summary on stdout at the end.
    #[arg(long)]
    pub json: bool,
}

/// Network options shared by `download` and `seed`.
#[derive(clap::Args, Debug)]
pub struct NetArgs {
    /// Address to listen on for peers (default: the first free port of
    /// 0.0.0.0:6881-6889, and [::] on the same port for IPv6 peers); only
    /// that address when given.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// A peer to connect to (repeatable).
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<String>,
    /// Upload rate limit, e.g. 4M (bytes per second).
    #[arg(long, value_parser = parse_size)]
    pub upload_limit: Option<u64>,
    /// Most peers connected at once.
    #[arg(long, default_value_t = 50)]
    pub max_peers: usize,
    /// Regular upload slots (peers unchoked for the rate they give us, or
    /// in turn while seeding); one optimistic slot comes on top.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub upload_slots: u16,
    /// Do not announce to the torrent's trackers.
    #[arg(long)]
    pub no_tracker: bool,
    /// Super-seed (BEP 16) once complete: show each new peer a few of the
    /// rarest pieces at a time instead of every piece, so a seed with a
    /// thin upload sends each piece once before any twice.
    #[arg(long)]
    pub super_seed: bool,
    /// Message stream encryption (MSE/PE): `prefer` accepts encrypted and
    /// plaintext peers and retries with encryption a peer that refuses
    /// plaintext; `require` talks to encrypted peers only; `off` to
    /// plaintext peers only.
    #[arg(long, value_enum, default_value_t = Encryption::Prefer)]
    pub encryption: Encryption,
    /// Run no DHT node (by default one runs on the listen port over UDP;
    /// private torrents never use it).
    #[arg(long)]
    pub no_dht: bool,
    /// A DHT node to bootstrap from (repeatable). The well-known routers
    /// are used otherwise, unless the SHOAL_DHT_ROUTERS environment
    /// variable lists others (comma-separated HOST:PORT; empty for none).
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT")]
    pub dht_bootstrap: Vec<String>,
    /// DHT queries accepted per second from one IP address (libtorrent's
    /// `dht_block_ratelimit`); tests with many nodes on one loopback
    /// address raise it.
    #[arg(long, default_value_t = 5)]
    pub dht_query_rate: u32,
    /// No local service discovery (BEP 14: multicast announces on the
    /// local network; on by default, never for private torrents). The
    /// SHOAL_LSD environment variable set to `off` does the same.
    #[arg(long)]
    pub no_lsd: bool,
    /// No peer exchange (BEP 11; on by default, never for private
    /// torrents).
    #[arg(long)]
    pub no_pex: bool,
    /// How verified pieces reach the disk: `cache` through the page cache
    /// (a fresh piece that other peers ask for next is served from
    /// memory), `direct` past it with O_DIRECT (less kernel work when
    /// nobody asks for the pieces), `auto` direct only while every
    /// connected peer is a seed.
    #[arg(long, value_enum, default_value_t = WriteMode::Auto)]
    pub write_mode: WriteMode,
}

/// The `--write-mode` choice.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Past the page cache only while no connected peer lacks pieces.
    Auto,
    /// Through the page cache.
    Cache,
    /// Past the page cache (O_DIRECT) where the file system allows it.
    Direct,
}

/// The `--encryption` policy.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// Encrypted and plaintext peers both.
    Prefer,
    /// Encrypted peers only (RC4).
    Require,
    /// Plaintext peers only.
    Off,
}

impl NetArgs {
    /// The session configuration these options describe.
    pub fn session_config(&self, download_limit: Option<u64>) -> SessionConfig {
        let mut cfg = SessionConfig::default();
        if let Some(addr) = self.listen {
            // Exactly the address asked for (`[::]:P` takes IPv4 too).
            cfg.listen = vec![addr];
            cfg.dual_stack = false;
        } else {
            cfg.listen.push(SocketAddr::from(([0, 0, 0, 0], 0)));
        }
        cfg.max_peers = self.max_peers.max(1);
        // One torrent per process: the session limit must not undercut it.
        cfg.max_connections = cfg.max_connections.max(cfg.max_peers);
        cfg.choker.regular_slots = usize::from(self.upload_slots);
        cfg.upload_limit = self.upload_limit.filter(|&r| r > 0);
        cfg.download_limit = download_limit.filter(|&r| r > 0);
        if !self.no_dht {
            let mut dht = shoal_engine::DhtConfig::default();
            if let Ok(routers) = std::env::var("SHOAL_DHT_ROUTERS") {
                dht.routers = routers
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            if !self.dht_bootstrap.is_empty() {
                dht.routers.clear();
                dht.bootstrap = self
                    .dht_bootstrap
                    .iter()
                    .filter_map(|p| p.to_socket_addrs().ok().and_then(|mut a| a.next()))
                    .collect();
            }
            dht.node.rate_limit.per_ip_per_second = self.dht_query_rate.max(1);
            cfg.dht = Some(dht);
        }
        cfg.lsd = !self.no_lsd && std::env::var("SHOAL_LSD").map_or(true, |v| v != "off");
        cfg.pex = !self.no_pex;
        cfg.encryption = match self.encryption {
            Encryption::Prefer => shoal_engine::EncryptionPolicy::Prefer,
            Encryption::Require => shoal_engine::EncryptionPolicy::Require,
            Encryption::Off => shoal_engine::EncryptionPolicy::Off,
        };
        cfg.storage.direct_io = match self.write_mode {
            WriteMode::Auto => DirectIo::Auto,
            WriteMode::Cache => DirectIo::Never,
            WriteMode::Direct => DirectIo::Always,
        };
        cfg
    }

    /// Resolve the `--peer` options.
    pub fn resolve_peers(&self) -> anyhow::Result<Vec<SocketAddr>> {
        let mut out = Vec::new();
        for p in &self.peers {
            let addrs = p
                .to_socket_addrs()
                .with_context(|| format!("invalid --peer {p} (expected HOST:PORT)"))?;
            out.extend(addrs.take(1));
        }
        Ok(out)
    }
}

/// What the command line names: a torrent file or a magnet link.
pub enum Source {
    /// A parsed `.torrent` file.
    Torrent(Box<Torrent>),
    /// A magnet link, whose metadata comes from peers.
    Magnet(Magnet),
}

/// Load the torrent (or magnet link) named on the command line.
pub fn load_source(source: &str) -> anyhow::Result<Source> {
    if source
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
    {
        let m = Magnet::parse(source).context("invalid magnet link")?;
        return Ok(Source::Magnet(m));
    }
    Ok(Source::Torrent(Box::new(load_torrent(Path::new(source))?)))
}

/// How long to look for a magnet link's metadata.
const METADATA_TIMEOUT: Duration = Duration::from_secs(60);

/// A tokio runtime sized for this machine: two workers leave the blocking
/// pool (hashing, disk) room on small machines.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Start a session and add the torrent; prints the listening address.
/// Returns the check's report and when the torrent started (after the
/// check).
pub async fn start(
    source: Source,
    dir: &Path,
    net: &NetArgs,
    download_limit: Option<u64>,
) -> anyhow::Result<(Session, TorrentHandle, CheckReport, Instant)> {
    let peers = net.resolve_peers()?;
    let session = Session::start(net.session_config(download_limit)).await?;
    eprintln!("listening on {}", session.local_addr());
    for a in &session.local_addrs()[1..] {
        eprintln!("also listening on {a}");
    }
    let torrent = match source {
        Source::Torrent(t) => *t,
        Source::Magnet(m) => {
            eprintln!("fetching the torrent's metadata from peers");
            let t = session
                .fetch_magnet(&m, &peers, !net.no_tracker, METADATA_TIMEOUT)
                .await
                .context("magnet link")?;
            eprintln!("got the metadata of {}", t.name);
            t
        }
    };
    let total = torrent.total_length();
    let name = torrent.name.clone();
    let hashed = Arc::new(AtomicU64::new(0));
    let progress = crate::progress::ByteProgress::start("checking", total, hashed.clone(), false);
    let added = session
        .add_torrent(
            torrent,
            AddTorrentOptions {
                dir: dir.to_path_buf(),
                peers,
                use_trackers: !net.no_tracker,
                check_progress: Some(hashed),
                super_seed: net.super_seed,
            },
        )
        .await;
    // Peers are dialed as soon as the torrent is added.
    let started = Instant::now();
    drop(progress);
    let (handle, report) =
        added.with_context(|| format!("cannot open {name} in {}", dir.display()))?;
    Ok((session, handle, report, started))
}

/// Run `shoal download`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let source = load_source(&args.source)?;
    runtime()?.block_on(download(args, source))
}

async fn download(args: Args, source: Source) -> anyhow::Result<()> {
    let mut shutdown = Shutdown::watch()?;
    let (_session, handle, report, started) = tokio::select! {
        r = start(source, &args.dir, &args.net, args.download_limit) => r?,
        _ = shutdown.recv() => anyhow::bail!("interrupted before the download started"),
    };
    let info_hash = handle.torrent().info_hash.to_hex();
    if report.verified_pieces > 0 {
        eprintln!(
            "found {} of {} pieces already on disk ({} re-hashed)",
            report.verified_pieces,
            handle.torrent().piece_count(),
            report.rechecked_pieces
        );
    }
    let progress = SwarmProgress::start(handle.clone(), false);
    let outcome = tokio::select! {
        r = handle.wait_complete() => Some(r),
        _ = shutdown.recv() => None,
    };
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        None => {
            progress.finish();
            handle.stop().await;
            anyhow::bail!("interrupted: progress saved, run the same command to resume");
        }
        Some(Err(e)) => {
            progress.finish();
            handle.stop().await;
            return Err(e.into());
        }
        Some(Ok(())) => {}
    }
    let stats = handle.stats();
    let contributions = handle.contributions();
    let web_seeds = handle.web_seeds();
    if args.seed {
        progress.set_message("seeding");
        eprintln!(
            "download complete: {} in {:.1} s; seeding until interrupted",
            human_bytes(stats.downloaded),
            seconds
        );
        tokio::select! {
            _ = shutdown.recv() => {}
            r = handle.wait_stopped() => r?,
        }
    }
    progress.finish();
    handle.stop().await;
    if !args.seed {
        eprintln!(
            "download complete: {} in {:.1} s ({}/s)",
            human_bytes(stats.downloaded),
            seconds,
            human_bytes((stats.downloaded as f64 / seconds.max(1e-3)) as u64)
        );
    }
    if args.json {
        let from: Vec<serde_json::Value> = contributions
            .iter()
            .map(|c| serde_json::json!({"peer": c.peer.to_string(), "client": c.client, "bytes": c.bytes, "source": c.source.name()}))
            .collect();
        // New addresses learned over the run, by source.
        let sources: serde_json::Map<String, serde_json::Value> = stats
            .learned_by_source
            .iter()
            .map(|(s, n)| (s.name().to_owned(), n.into()))
            .collect();
        // BEP 19 web seeds, with what each sent and where it stands.
        let web: Vec<serde_json::Value> = web_seeds
            .iter()
            .map(|w| serde_json::json!({"url": w.url, "bytes": w.downloaded, "status": w.status.as_str(), "errors": w.errors, "bad_pieces": w.bad_pieces, "last_error": w.last_error}))
            .collect();
        let v = serde_json::json!({
            "info_hash": info_hash,
            "bytes": stats.downloaded,
            "web_seed_bytes": stats.web_seed_downloaded,
            "web_seeds": web,
            "total_length": stats.total_length,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "peers": stats.peers_seen,
            "downloaded_from": from,
            "peer_sources": sources,
        });
        println!("{v}");
    }
    Ok(())
}

/// `1.5 GiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
