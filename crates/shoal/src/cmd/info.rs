//! `shoal info`: describe a torrent file or magnet link.

use anyhow::Context;
use shoal_metainfo::{Magnet, Torrent};
use std::path::Path;

/// Largest `.torrent` file read (real ones are at most a few MiB).
pub const MAX_TORRENT_FILE: u64 = 64 << 20;

/// Options of `shoal info`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A .torrent file or a magnet link.
    pub source: String,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Read and parse a `.torrent` file with a clear one-line error.
pub fn load_torrent(path: &Path) -> anyhow::Result<Torrent> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    anyhow::ensure!(
        meta.len() <= MAX_TORRENT_FILE,
        "{}: {} bytes is too large for a .torrent file (limit {} MiB)",
        path.display(),
        meta.len(),
        MAX_TORRENT_FILE >> 20
    );
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Torrent::from_bytes(&bytes).with_context(|| format!("{}: invalid torrent", path.display()))
}

/// JSON description of a torrent (the `shoal info --json` schema).
pub fn torrent_json(t: &Torrent) -> serde_json::Value {
    let files: Vec<serde_json::Value> = t
        .layout
        .files
        .iter()
        .map(|f| {
            let path = if t.layout.multi_file {
                format!("{}/{}", t.name, f.display_path())
            } else {
                f.display_path()
            };
            serde_json::json!({ "path": path, "length": f.length })
        })
        .collect();
    serde_json::json!({
        "name": t.name,
        "info_hash": t.info_hash.to_hex(),
        "piece_length": t.layout.piece_length,
        "piece_count": t.piece_count(),
        "total_length": t.total_length(),
        "files": files,
        "trackers": t.trackers,
        "private": t.private,
        "web_seeds": t.web_seeds,
        "comment": t.comment,
        "created_by": t.created_by,
        "creation_date": t.creation_date,
        "source": t.source,
        "magnet": t.magnet().to_string(),
    })
}

/// Run `shoal info`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args
        .source
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
    {
        let m = Magnet::parse(&args.source)?;
        if args.json {
            let v = serde_json::json!({
                "name": m.display_name,
                "info_hash": m.info_hash.to_hex(),
                "trackers": m.trackers.iter().map(|t| vec![t]).collect::<Vec<_>>(),
                "peers": m.peers,
                "magnet": m.to_string(),
            });
            println!("{v}");
        } else {
            println!("magnet link");
            println!(
                "name      {}",
                m.display_name.as_deref().unwrap_or("(none)")
            );
            println!("info hash {}", m.info_hash);
            for t in &m.trackers {
                println!("tracker   {t}");
            }
            for p in &m.peers {
                println!("peer      {p}");
            }
        }
        return Ok(());
    }
    let t = load_torrent(Path::new(&args.source))?;
    if args.json {
        println!("{}", torrent_json(&t));
        return Ok(());
    }
    println!("name      {}", t.name);
    println!("info hash {}", t.info_hash);
    println!(
        "size      {} bytes in {} file{}",
        t.total_length(),
        t.layout.files.len(),
        if t.layout.files.len() == 1 { "" } else { "s" }
    );
    println!(
        "pieces    {} x {} bytes",
        t.piece_count(),
        t.layout.piece_length
    );
    println!("private   {}", if t.private { "yes" } else { "no" });
    if let Some(c) = &t.comment {
        println!("comment   {c}");
    }
    if let Some(c) = &t.created_by {
        println!("created by {c}");
    }
    for (i, tier) in t.trackers.iter().enumerate() {
        println!("tier {i}    {}", tier.join(" "));
    }
    for w in &t.web_seeds {
        println!("web seed  {w}");
    }
    println!("files:");
    for f in &t.layout.files {
        println!("  {:>14}  {}", f.length, f.display_path());
    }
    println!("magnet    {}", t.magnet());
    Ok(())
}
