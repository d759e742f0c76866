//! The state directory: one record per torrent (`torrents/<hash>.json`),
//! its metainfo (`torrents/<hash>.torrent`, or `<hash>.info` for the info
//! dictionary fetched for a magnet link), the runtime settings
//! (`settings.json`) and the next torrent id (`next-id`). Every file is
//! written to a temporary name and renamed, so a `kill -9` leaves either
//! the old or the new version. Resume data (verified pieces) is kept by
//! the engine next to the content.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::config::Settings;
use crate::error::DaemonError;

/// How a torrent's seeding limit is chosen (Transmission's modes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitMode {
    /// Follow the session setting.
    #[default]
    Global,
    /// Use the torrent's own value.
    Single,
    /// No limit.
    Unlimited,
}

/// Per-torrent settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TorrentSettings {
    /// Upload limit, bytes/s.
    pub upload_limit: Option<u64>,
    /// Download limit, bytes/s.
    pub download_limit: Option<u64>,
    /// Seed ratio limit.
    pub seed_ratio_limit: Option<f64>,
    /// How the ratio limit is chosen.
    pub seed_ratio_mode: LimitMode,
    /// Seed idle limit, minutes.
    pub seed_idle_limit: Option<u64>,
    /// How the idle limit is chosen.
    pub seed_idle_mode: LimitMode,
    /// Download pieces in order.
    pub sequential: bool,
}

/// What is kept about a torrent across restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// Stable id.
    pub id: u64,
    /// v1 info-hash, hex.
    pub info_hash: String,
    /// Name (from the metainfo, or the magnet's display name).
    pub name: String,
    /// The magnet link it was added from, if any.
    pub magnet: Option<String>,
    /// Download directory (inside a root).
    pub download_dir: PathBuf,
    /// Stopped by the user (or by a seeding limit).
    pub paused: bool,
    /// Stopped because a seeding limit was reached.
    pub finished: bool,
    /// Labels.
    pub labels: Vec<String>,
    /// When added (Unix seconds).
    pub added_at: i64,
    /// When completed, if it has.
    pub done_at: Option<i64>,
    /// Position in the queue (lower starts first).
    pub queue_position: u64,
    /// Payload downloaded over the torrent's life.
    pub downloaded_ever: u64,
    /// Payload uploaded over the torrent's life.
    pub uploaded_ever: u64,
    /// Seconds spent downloading.
    pub seconds_downloading: u64,
    /// Seconds spent seeding.
    pub seconds_seeding: u64,
    /// Last time data moved (Unix seconds).
    pub activity_at: i64,
    /// Per-torrent settings.
    pub settings: TorrentSettings,
    /// Trackers (kept for torrents fetched from magnet links).
    pub trackers: Vec<Vec<String>>,
}

/// A torrent's metainfo as stored.
#[derive(Debug, Clone)]
pub enum StoredMeta {
    /// A whole `.torrent` file.
    Torrent(Vec<u8>),
    /// Just the info dictionary (from a magnet link).
    Info(Vec<u8>),
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Open (create) the state directory.
    pub fn open(dir: &Path) -> Result<Store, DaemonError> {
        std::fs::create_dir_all(dir.join("torrents")).map_err(|e| {
            DaemonError::Config(format!("cannot create state dir {}: {e}", dir.display()))
        })?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn torrent_path(&self, hash: &str, ext: &str) -> PathBuf {
        self.dir.join("torrents").join(format!("{hash}.{ext}"))
    }

    /// Save a torrent's record.
    pub fn save_record(&self, rec: &Record) -> Result<(), DaemonError> {
        let bytes = serde_json::to_vec_pretty(rec).map_err(|e| DaemonError::Io(e.to_string()))?;
        write_atomic(&self.torrent_path(&rec.info_hash, "json"), &bytes)
    }

    /// Save a torrent's metainfo.
    pub fn save_meta(&self, hash: &str, meta: &StoredMeta) -> Result<(), DaemonError> {
        match meta {
            StoredMeta::Torrent(b) => write_atomic(&self.torrent_path(hash, "torrent"), b),
            StoredMeta::Info(b) => write_atomic(&self.torrent_path(hash, "info"), b),
        }
    }

    /// Forget a torrent.
    pub fn remove(&self, hash: &str) {
        for ext in ["json", "torrent", "info"] {
            let _ = std::fs::remove_file(self.torrent_path(hash, ext));
        }
    }

    /// Every stored torrent: its record and metainfo (if it has any yet).
    /// Unreadable entries are logged and skipped.
    pub fn load_all(&self) -> Vec<(Record, Option<StoredMeta>)> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.dir.join("torrents")) else {
            return out;
        };
        for entry in rd.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let rec: Record = match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "skipping unreadable torrent record");
                    continue;
                }
            };
            let meta = if let Ok(b) = std::fs::read(self.torrent_path(&rec.info_hash, "torrent")) {
                Some(StoredMeta::Torrent(b))
            } else if let Ok(b) = std::fs::read(self.torrent_path(&rec.info_hash, "info")) {
                Some(StoredMeta::Info(b))
            } else {
                None
            };
            out.push((rec, meta));
        }
        out.sort_by_key(|(r, _)| r.id);
        out
    }

    /// The next torrent id to hand out (ids are never reused).
    pub fn load_next_id(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("next-id"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1)
    }

    /// Record the next torrent id.
    pub fn save_next_id(&self, id: u64) -> Result<(), DaemonError> {
        write_atomic(&self.dir.join("next-id"), id.to_string().as_bytes())
    }

    /// Runtime settings saved by an earlier run, if any.
    pub fn load_settings(&self) -> Option<Settings> {
        let b = std::fs::read(self.dir.join("settings.json")).ok()?;
        serde_json::from_slice(&b).ok()
    }

    /// Save the runtime settings.
    pub fn save_settings(&self, s: &Settings) -> Result<(), DaemonError> {
        let bytes = serde_json::to_vec_pretty(s).map_err(|e| DaemonError::Io(e.to_string()))?;
        write_atomic(&self.dir.join("settings.json"), &bytes)
    }
}

/// Write `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DaemonError> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let io = |e: std::io::Error| DaemonError::Io(format!("cannot write {}: {e}", path.display()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_metainfo_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let rec = Record {
            id: 7,
            info_hash: "ab".repeat(20),
            labels: vec!["tv".into()],
            ..Record::default()
        };
        store.save_record(&rec).unwrap();
        store
            .save_meta(&rec.info_hash, &StoredMeta::Info(b"d4:infoe".to_vec()))
            .unwrap();
        std::fs::write(tmp.path().join("torrents/broken.json"), b"{not json").unwrap();
        let all = store.load_all();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0.id, 7);
        assert!(matches!(all[0].1, Some(StoredMeta::Info(_))));
        store.save_next_id(8).unwrap();
        assert_eq!(store.load_next_id(), 8);
        store.remove(&rec.info_hash);
        assert!(store.load_all().is_empty());
    }
}
