//! `shoal verify`: check data on disk against a torrent.

use crate::cmd::info::load_torrent;
use crate::progress::ByteProgress;
use shoal_metainfo::{verify_dir, CreateProgress, PieceStatus};
use std::path::PathBuf;

/// Options of `shoal verify`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .torrent file (v1, v2 or hybrid: SHA-1 pieces and/or per-file
    /// merkle trees are checked).
    pub torrent: PathBuf,
    /// Folder that holds the content under its own name.
    #[arg(long)]
    pub dir: PathBuf,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Run `shoal verify`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let t = load_torrent(&args.torrent)?;
    anyhow::ensure!(args.dir.is_dir(), "{}: not a directory", args.dir.display());
    let progress = CreateProgress::default();
    let report = {
        let _display = ByteProgress::start(
            "verifying",
            t.total_length(),
            progress.hashed.clone(),
            args.json,
        );
        verify_dir(&t, &args.dir, &progress)?
    };
    let valid = report.count(PieceStatus::Valid);
    let missing = report.count(PieceStatus::Missing);
    let bad = report.count(PieceStatus::Bad);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "info_hash": t.info_hash.to_hex(),
                "info_hash_v2": t.info_hash_v2().map(|h| h.to_hex()),
                "pieces": report.pieces.len(),
                "valid": valid, "missing": missing, "bad": bad,
                "complete": report.is_complete(),
            })
        );
    } else {
        println!(
            "{}: {} pieces: {valid} valid, {missing} missing, {bad} bad",
            t.name,
            report.pieces.len()
        );
    }
    anyhow::ensure!(
        report.is_complete(),
        "{} of {} pieces are not valid ({missing} missing, {bad} bad)",
        missing + bad,
        report.pieces.len()
    );
    Ok(())
}
