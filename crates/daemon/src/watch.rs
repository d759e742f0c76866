//! The watch directory: every `.torrent` file dropped there is added, then
//! renamed to `*.torrent.added` (or `*.torrent.invalid` if it cannot be).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::error::DaemonError;
use crate::registry::{AddOptions, Registry, Source, MAX_TORRENT_FILE};

/// How often the folder is looked at.
const POLL: Duration = Duration::from_secs(2);

/// Poll `dir` for new `.torrent` files until aborted.
pub async fn run(reg: Arc<Registry>, dir: PathBuf) {
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        warn!(dir = %dir.display(), error = %e, "cannot create the watch directory");
    }
    loop {
        scan(&reg, &dir).await;
        tokio::time::sleep(POLL).await;
    }
}

async fn scan(reg: &Arc<Registry>, dir: &std::path::Path) {
    let Ok(mut rd) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = rd.next_entry().await {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("torrent") {
            continue;
        }
        let bytes = match tokio::fs::metadata(&path).await {
            Ok(m) if m.len() as usize > MAX_TORRENT_FILE => Err("too large".to_owned()),
            Ok(_) => tokio::fs::read(&path).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let result = match bytes {
            Ok(b) => reg
                .add(Source::Metainfo(b), AddOptions::default())
                .await
                .map(|_| ()),
            Err(e) => Err(DaemonError::BadRequest(e)),
        };
        let suffix = match &result {
            Ok(()) | Err(DaemonError::Duplicate { .. }) => "added",
            Err(_) => "invalid",
        };
        match &result {
            Ok(()) => info!(path = %path.display(), "added from the watch directory"),
            Err(e) => warn!(path = %path.display(), error = %e, "watch directory file not added"),
        }
        let mut done = path.clone().into_os_string();
        done.push(".");
        done.push(suffix);
        let _ = tokio::fs::rename(&path, PathBuf::from(done)).await;
    }
}
