//! `shoal info`: describe a torrent file or magnet link.

use anyhow::Context;
use shoal_metainfo::{FileEntry, Magnet, MetaVersion, Torrent};
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

/// A file's on-disk path relative to the download directory (it includes
/// the torrent's folder name for multi-file torrents).
fn disk_path(t: &Torrent, f: &FileEntry) -> String {
    if t.layout.multi_file {
        format!("{}/{}", t.name, f.display_path())
    } else {
        f.display_path()
    }
}

/// "1", "2" or "hybrid".
fn version_name(v: MetaVersion) -> &'static str {
    match v {
        MetaVersion::V1 => "1",
        MetaVersion::V2 => "2",
        MetaVersion::Hybrid => "hybrid",
    }
}

/// One line per name changed on the way to disk (or symlink skipped).
pub fn warnings(t: &Torrent) -> Vec<String> {
    t.layout
        .renames
        .iter()
        .map(|r| {
            let on_disk = match r.file {
                Some(i) => t
                    .layout
                    .files
                    .get(i)
                    .map(|f| disk_path(t, f))
                    .unwrap_or_else(|| r.on_disk.clone()),
                None => r.on_disk.clone(),
            };
            format!("{:?} is stored as {on_disk:?}: {}", r.original, r.reason)
        })
        .collect()
}

/// JSON description of a torrent (the `shoal info --json` schema). Padding
/// files (never written to disk) are not in `files`.
pub fn torrent_json(t: &Torrent) -> serde_json::Value {
    let files: Vec<serde_json::Value> = t
        .layout
        .files
        .iter()
        .filter(|f| !f.is_padding())
        .map(|f| {
            let mut v = serde_json::json!({ "path": disk_path(t, f), "length": f.length });
            let attr = f.attr.to_attr_string();
            if !attr.is_empty() {
                v["attr"] = attr.into();
            }
            if let Some(target) = &f.symlink_target {
                v["symlink"] = target.join("/").into();
            }
            if let Some(root) = &f.pieces_root {
                v["pieces_root"] = hex::encode(root).into();
            }
            v
        })
        .collect();
    serde_json::json!({
        "name": t.name,
        "info_hash": t.info_hash.to_hex(),
        "info_hash_v2": t.info_hash_v2().map(|h| h.to_hex()),
        "meta_version": version_name(t.meta_version()),
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
        "warnings": warnings(t),
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
                "info_hash_v2": m.info_hash_v2.map(|h| h.to_hex()),
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
            if let Some(h) = &m.info_hash_v2 {
                println!("v2 hash   {h}");
            }
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
    match t.info_hash_v1() {
        Some(h) => println!("info hash {h}"),
        None => println!("info hash {} (v2 hash truncated)", t.info_hash),
    }
    if let Some(h) = t.info_hash_v2() {
        println!("v2 hash   {h}");
    }
    println!("version   {}", version_name(t.meta_version()));
    let files: Vec<&FileEntry> = t.layout.files.iter().filter(|f| !f.is_padding()).collect();
    println!(
        "size      {} bytes in {} file{}",
        t.total_length(),
        files.len(),
        if files.len() == 1 { "" } else { "s" }
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
    for f in &files {
        match &f.symlink_target {
            Some(target) => println!(
                "  {:>14}  {} -> {}",
                "link",
                disk_path(&t, f),
                target.join("/")
            ),
            None => println!("  {:>14}  {}", f.length, disk_path(&t, f)),
        }
    }
    println!("magnet    {}", t.magnet());
    for w in warnings(&t) {
        println!("warning:  {w}");
    }
    Ok(())
}
