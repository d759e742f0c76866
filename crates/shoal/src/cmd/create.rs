//! `shoal create`: make a `.torrent` from a file or directory.

use crate::progress::ByteProgress;
use crate::size::parse_size;
use anyhow::Context;
use shoal_metainfo::{CreateOptions, CreateProgress, Creator, MetaVersion};
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
    /// Make a v1-only torrent (BEP 3: SHA-1 pieces). The default for now:
    /// see --hybrid.
    #[arg(long, group = "meta_version")]
    pub v1: bool,
    /// Make a v2-only torrent (BEP 52: per-file SHA-256 merkle trees);
    /// clients without v2 support cannot read it.
    #[arg(long, group = "meta_version")]
    pub v2: bool,
    /// Make a hybrid torrent (v1 and v2 in one file, as libtorrent 2.0
    /// and qBittorrent make by default: every client can join, and v2
    /// clients check each 16 KiB block). It becomes Shoal's default once
    /// `shoal seed`/`download` skip the padding files a multi-file hybrid
    /// torrent holds; until then the default stays v1 so that Shoal can
    /// seed every torrent it creates.
    #[arg(long, group = "meta_version")]
    pub hybrid: bool,
}

impl Args {
    /// The metainfo version asked for (v1 unless --v2 or --hybrid).
    fn version(&self) -> MetaVersion {
        if self.v2 {
            MetaVersion::V2
        } else if self.hybrid {
            MetaVersion::Hybrid
        } else {
            MetaVersion::V1
        }
    }
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
        version: args.version(),
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
            "info_hash_v2": torrent.info_hash_v2().map(|h| h.to_hex()),
            "meta_version": match torrent.meta_version() {
                MetaVersion::V1 => "1",
                MetaVersion::V2 => "2",
                MetaVersion::Hybrid => "hybrid",
            },
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
        match torrent.info_hash_v1() {
            Some(h) => println!("info hash {h}"),
            None => println!("info hash {} (v2 hash truncated)", torrent.info_hash),
        }
        if let Some(h) = torrent.info_hash_v2() {
            println!("v2 hash   {h}");
        }
        let files = creator.files.len();
        println!(
            "pieces    {} x {} ({} bytes in {} file{})",
            torrent.piece_count(),
            torrent.layout.piece_length,
            creator.total_length(),
            files,
            if files == 1 { "" } else { "s" }
        );
        println!(
            "hashed    in {seconds:.2} s ({:.0} MB/s)",
            total as f64 / seconds.max(1e-9) / 1e6
        );
        println!("magnet    {magnet}");
    }
    Ok(())
}
