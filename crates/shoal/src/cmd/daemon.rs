//! `shoal daemon`: the long-running service (see `docs/api.md`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use shoal_daemon::{ConfigFile, DaemonConfig};

use crate::signals::Shutdown;

/// Options of `shoal daemon`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// TOML config file (see contrib/shoal-daemon.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTP API address (default 127.0.0.1:9091; anything but loopback
    /// needs a password in the config file).
    #[arg(long, value_name = "ADDR")]
    pub api: Option<SocketAddr>,
    /// Where the torrent list, settings and ids are kept (default
    /// $XDG_DATA_HOME/shoal).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// A directory downloads may go into (repeatable; default the default
    /// download directory).
    #[arg(long = "download-root", value_name = "DIR")]
    pub download_roots: Vec<PathBuf>,
    /// The default download directory.
    #[arg(long, value_name = "DIR")]
    pub download_dir: Option<PathBuf>,
    /// Peer listen address (TCP, and UDP for the DHT).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Add every .torrent file dropped into DIR.
    #[arg(long, value_name = "DIR")]
    pub watch_dir: Option<PathBuf>,
    /// No Mainline DHT.
    #[arg(long)]
    pub no_dht: bool,
    /// Read a password on stdin, print its hash for `[api] password_hash`,
    /// and exit.
    #[arg(long)]
    pub hash_password: bool,
}

/// Run the daemon until SIGINT/SIGTERM.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.hash_password {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password")?;
        let pw = line.trim_end_matches(['\r', '\n']);
        anyhow::ensure!(!pw.is_empty(), "empty password");
        println!("{}", shoal_daemon::config::hash_password(pw)?);
        return Ok(());
    }
    let mut file = match &args.config {
        Some(p) => ConfigFile::load(p)?,
        None => ConfigFile::default(),
    };
    if let Some(d) = args.download_dir {
        file.session.download_dir = Some(d);
    }
    if let Some(l) = args.listen {
        file.session.listen = Some(l);
    }
    if let Some(w) = args.watch_dir {
        file.session.watch_dir = Some(w);
    }
    if args.no_dht {
        file.session.dht = Some(false);
    }
    let cfg = DaemonConfig::resolve(file, args.api, args.state_dir, args.download_roots)?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    rt.block_on(async move {
        let mut signals = Shutdown::watch()?;
        shoal_daemon::run(cfg, async move { signals.recv().await }).await?;
        anyhow::Ok(())
    })
}
