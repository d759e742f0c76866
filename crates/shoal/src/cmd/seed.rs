//! `shoal seed`: serve complete data to the swarm until interrupted.

use std::path::PathBuf;

use crate::cmd::download::{load_source, runtime, start, NetArgs, Source};
use crate::signals::Shutdown;
use crate::swarm_progress::SwarmProgress;

/// Options of `shoal seed`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A .torrent file.
    pub torrent: String,
    /// Directory that holds the content (under the torrent's own name).
    #[arg(long)]
    pub dir: PathBuf,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Run `shoal seed`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let torrent = match load_source(&args.torrent)? {
        Source::Torrent(t) => t,
        Source::Magnet(_) => anyhow::bail!("seeding needs the .torrent file, not a magnet link"),
    };
    runtime()?.block_on(async move {
        let name = torrent.name.clone();
        let mut shutdown = Shutdown::watch()?;
        let (_session, handle, _report, _) = tokio::select! {
            r = start(Source::Torrent(torrent), &args.dir, &args.net, None) => r?,
            _ = shutdown.recv() => anyhow::bail!("interrupted before seeding started"),
        };
        let s = handle.stats();
        if !s.complete {
            handle.stop().await;
            anyhow::bail!(
                "{} does not hold the complete data of {name}: {} of {} pieces verified",
                args.dir.display(),
                s.pieces_have,
                s.piece_count
            );
        }
        eprintln!("seeding {name}");
        let progress = SwarmProgress::start(handle.clone(), false);
        progress.set_message("seeding");
        tokio::select! {
            _ = shutdown.recv() => {}
            r = handle.wait_stopped() => r?,
        }
        progress.finish();
        handle.stop().await;
        Ok(())
    })
}
