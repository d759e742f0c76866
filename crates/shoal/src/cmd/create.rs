//! `shoal create`: make a `.torrent` from a file or directory.

use crate::progress::ByteProgress;
use crate::size::parse_size;
use anyhow::Context;
use shoal_metainfo::{CreateOptions, CreateProgress, Creator};
use std::path::PathBuf;
use std::time::Instant;

/// Options of `shoal create`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// File or directory to share.
    pub path: PathBuf,
    /// Where to write the torrent (default: NAME.torrent in the current directory).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Tracker announce URL; repeat for more (each becomes its own tier).
    #[arg(short = 't', long = "tracker")]
    pub trackers: Vec<String>,
    /// Web seed URL (BEP 19); repeatable.
    #[arg(short = 'w', long = "web-seed")]
    pub web_seeds: Vec<String>,
    /// Piece length, a power of two from 16K to 16M (default: automatic).
    #[arg(long, value_parser = parse_size)]
    pub piece_length: Option<u64>,
    /// Mark the torrent private (BEP 27: no DHT/PEX).
    #[arg(long)]
    pub private: bool,
    /// Free-text comment.
    #[arg(long)]
    pub comment: Option<String>,
    /// Source tag (stored in the info dict; private trackers use it).
    #[arg(long)]
    pub source: Option<String>,
    /// Leave out the creation date (for reproducible output).
    #[arg(long)]
    pub no_date: bool,
    /// Print a JSON result on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Run `shoal create`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(p) = args.piece_length {
        anyhow::ensure!(
            p.is_power_of_two() && (16 << 10..=16 << 20).contains(&p),
            "invalid --piece-length {p}: must be a power of two from 16K to 16M"
        );
    }
    let creator = Creator::scan(&args.path)?;
    let total = creator.total_length();
    let opts = CreateOptions {
        piece_length: args.piece_length,
        trackers: args.trackers.iter().map(|t| vec![t.clone()]).collect(),
        web_seeds: args.web_seeds.clone(),
        private: args.private,
        comment: args.comment.clone(),
        source: args.source.clone(),
        created_by: Some(format!("Shoal {}", env!("CARGO_PKG_VERSION"))),
        creation_date: (!args.no_date).then(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        }),
    };
    let progress = CreateProgress::default();
    let started = Instant::now();
    let result = {
        let _display = ByteProgress::start("hashing", total, progress.hashed.clone(), args.json);
        creator.create(&opts, &progress)
    };
    let (bytes, torrent) = result?;
    let seconds = started.elapsed().as_secs_f64();
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.torrent", torrent.name)));
    std::fs::write(&out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    let magnet = torrent.magnet().to_string();
    if args.json {
        let v = serde_json::json!({
            "info_hash": torrent.info_hash.to_hex(),
            "magnet": magnet,
            "path": out.display().to_string(),
            "name": torrent.name,
            "piece_length": torrent.layout.piece_length,
            "piece_count": torrent.piece_count(),
            "total_length": torrent.total_length(),
            "seconds": seconds,
        });
        println!("{v}");
    } else {
        println!("created   {}", out.display());
        println!("name      {}", torrent.name);
        println!("info hash {}", torrent.info_hash);
        println!(
            "pieces    {} x {} ({} bytes in {} file{})",
            torrent.piece_count(),
            torrent.layout.piece_length,
            torrent.total_length(),
            torrent.layout.files.len(),
            if torrent.layout.files.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        println!(
            "hashed    in {seconds:.2} s ({:.0} MB/s)",
            total as f64 / seconds.max(1e-9) / 1e6
        );
        println!("magnet    {magnet}");
    }
    Ok(())
}
