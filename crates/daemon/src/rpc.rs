//! Transmission's RPC (`/transmission/rpc`), the legacy dialect:
//! `{"method","arguments","tag"}` → `{"result","arguments","tag"}`, behind
//! the `X-Transmission-Session-Id` handshake. Enough of it for
//! `transmission-remote`, Sonarr and Radarr.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::config::Settings;
use crate::error::DaemonError;
use crate::registry::{
    AddOptions, QueueMove, Source, State as TState, TorrentChanges, TorrentView,
};
use crate::server::AppState;
use crate::store::LimitMode;

/// The session-id header.
pub const SESSION_HEADER: &str = "x-transmission-session-id";

/// What `session-get` reports as `version`: Transmission-like, so Sonarr
/// and Radarr parse it (they need ≥ 2.40, and 4.0 for labels).
pub fn version_string() -> String {
    format!("4.0.6 (Shoal {})", env!("CARGO_PKG_VERSION"))
}

/// RPC version of Transmission 4.0.
const RPC_VERSION: u32 = 17;

/// Handle one RPC request.
pub async fn handle(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let sent = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok());
    if sent != Some(&*app.rpc_session_id) {
        let mut r = (
            StatusCode::CONFLICT,
            "<h1>409: Conflict</h1><p>Your request had an invalid session-id header.</p>",
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&app.rpc_session_id) {
            r.headers_mut().insert(SESSION_HEADER, v);
        }
        return r;
    }
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return reply(None, Err(format!("invalid JSON request: {e}"))),
    };
    let tag = req.get("tag").cloned();
    let Some(method) = req.get("method").and_then(Value::as_str) else {
        return reply(tag, Err("no method name".into()));
    };
    let empty = Map::new();
    let args = match req.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => return reply(tag, Err("arguments must be an object".into())),
    };
    let result = dispatch(&app, method, args).await;
    reply(tag, result)
}

fn reply(tag: Option<Value>, result: Result<Value, String>) -> Response {
    let (status, arguments) = match result {
        Ok(a) => ("success".to_owned(), a),
        Err(e) => (e, json!({})),
    };
    let mut body = json!({ "result": status, "arguments": arguments });
    if let Some(t) = tag {
        body["tag"] = t;
    }
    axum::Json(body).into_response()
}

type RpcResult = Result<Value, String>;

async fn dispatch(app: &AppState, method: &str, args: &Map<String, Value>) -> RpcResult {
    let reg = &app.registry;
    match method {
        "session-get" => Ok(session_get(app, args)),
        "session-set" => session_set(app, args),
        "session-stats" => Ok(session_stats(app)),
        "session-close" => {
            app.shutdown.notify_one();
            Ok(json!({}))
        }
        "torrent-add" => torrent_add(app, args).await,
        "torrent-get" => torrent_get(app, args),
        "torrent-set" => torrent_set(app, args),
        "torrent-start" | "torrent-start-now" => {
            for id in ids(app, args) {
                reg.start(id, method == "torrent-start-now").map_err(err)?;
            }
            Ok(json!({}))
        }
        "torrent-stop" => {
            for id in ids(app, args) {
                reg.stop(id).await.map_err(err)?;
            }
            Ok(json!({}))
        }
        "torrent-verify" => {
            for id in ids(app, args) {
                reg.recheck(id).await.map_err(err)?;
            }
            Ok(json!({}))
        }
        "torrent-reannounce" => {
            for id in ids(app, args) {
                reg.reannounce(id).await.map_err(err)?;
            }
            Ok(json!({}))
        }
        "torrent-remove" => {
            let delete = args
                .get("delete-local-data")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            for id in ids(app, args) {
                reg.remove(id, delete).await.map_err(err)?;
            }
            Ok(json!({}))
        }
        "torrent-set-location" => {
            let Some(loc) = args.get("location").and_then(Value::as_str) else {
                return Err("location is required".into());
            };
            let move_data = args.get("move").and_then(Value::as_bool).unwrap_or(false);
            for id in ids(app, args) {
                reg.set_location(id, &PathBuf::from(loc), move_data)
                    .await
                    .map_err(err)?;
            }
            Ok(json!({}))
        }
        "queue-move-top" | "queue-move-up" | "queue-move-down" | "queue-move-bottom" => {
            let to = match method {
                "queue-move-top" => QueueMove::Top,
                "queue-move-up" => QueueMove::Up,
                "queue-move-down" => QueueMove::Down,
                _ => QueueMove::Bottom,
            };
            reg.queue_move(&ids(app, args), to).map_err(err)?;
            Ok(json!({}))
        }
        "free-space" => {
            let Some(path) = args.get("path").and_then(Value::as_str) else {
                return Err("path is required".into());
            };
            let p = reg.roots().check(&PathBuf::from(path)).map_err(err)?;
            let (free, total) = free_space(&p)?;
            Ok(json!({ "path": path, "size-bytes": free, "total_size": total }))
        }
        other => Err(format!("method name not recognized: {other}")),
    }
}

fn err(e: DaemonError) -> String {
    e.to_string()
}

fn free_space(p: &std::path::Path) -> Result<(u64, u64), String> {
    // The nearest existing ancestor answers for a folder not made yet.
    let mut at = p.to_path_buf();
    while !at.exists() {
        if !at.pop() {
            break;
        }
    }
    let st = rustix::fs::statvfs(&at).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok((
        st.f_bavail.saturating_mul(st.f_frsize),
        st.f_blocks.saturating_mul(st.f_frsize),
    ))
}

/// The torrents `ids` names: all when absent; numbers, hashes, lists of
/// either, or `recently-active`. Unknown ones are skipped (as Transmission).
fn ids(app: &AppState, args: &Map<String, Value>) -> Vec<u64> {
    let reg = &app.registry;
    let one = |v: &Value| -> Option<u64> {
        match v {
            Value::Number(n) => reg.resolve(&n.as_u64()?.to_string()).ok(),
            Value::String(s) => reg.resolve(s).ok(),
            _ => None,
        }
    };
    match args.get("ids") {
        None => reg.ids(),
        Some(Value::String(s)) if s == "recently-active" => recently_active(app),
        Some(Value::Array(a)) => a.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
    }
}

fn recently_active(app: &AppState) -> Vec<u64> {
    let now = std::time::Instant::now();
    app.registry
        .views(None)
        .into_iter()
        .filter(|v| {
            now.duration_since(v.changed_at).as_secs() < 60
                || v.download_rate > 0
                || v.upload_rate > 0
        })
        .map(|v| v.id)
        .collect()
}

fn kbps(rate: Option<u64>) -> u64 {
    rate.map_or(100, |r| r / 1000)
}

fn session_get(app: &AppState, args: &Map<String, Value>) -> Value {
    let s = app.registry.settings();
    let dir = s
        .download_dir
        .clone()
        .unwrap_or_else(|| app.registry.roots().default_dir().to_path_buf());
    let all = json!({
        "alt-speed-down": kbps(s.alt_download_limit),
        "alt-speed-enabled": s.alt_enabled,
        "alt-speed-time-begin": 540, "alt-speed-time-enabled": false,
        "alt-speed-time-end": 1020, "alt-speed-time-day": 127,
        "alt-speed-up": kbps(s.alt_upload_limit),
        "blocklist-enabled": false, "blocklist-size": 0, "blocklist-url": "",
        "cache-size-mb": 32,
        "config-dir": "",
        "default-trackers": "",
        "dht-enabled": true,
        "download-dir": dir,
        "download-dir-free-space": free_space(&dir).map(|f| f.0).unwrap_or(0),
        "download-queue-enabled": s.max_active_downloads.is_some(),
        "download-queue-size": s.max_active_downloads.unwrap_or(5),
        "encryption": "preferred",
        "idle-seeding-limit": s.seed_idle_limit.unwrap_or(30),
        "idle-seeding-limit-enabled": s.seed_idle_limit.is_some(),
        "incomplete-dir": dir, "incomplete-dir-enabled": false,
        "lpd-enabled": false,
        "peer-limit-global": 500, "peer-limit-per-torrent": 50,
        "peer-port": app.peer_port, "peer-port-random-on-start": false,
        "pex-enabled": false, "port-forwarding-enabled": false,
        "queue-stalled-enabled": false, "queue-stalled-minutes": 30,
        "rename-partial-files": false,
        "rpc-version": RPC_VERSION, "rpc-version-minimum": 14, "rpc-version-semver": "5.3.0",
        "script-torrent-added-enabled": false, "script-torrent-added-filename": "",
        "script-torrent-done-enabled": false, "script-torrent-done-filename": "",
        "script-torrent-done-seeding-enabled": false, "script-torrent-done-seeding-filename": "",
        "seed-queue-enabled": s.max_active_seeds.is_some(),
        "seed-queue-size": s.max_active_seeds.unwrap_or(10),
        "seedRatioLimit": s.seed_ratio_limit.unwrap_or(2.0),
        "seedRatioLimited": s.seed_ratio_limit.is_some(),
        "session-id": &*app.rpc_session_id,
        "speed-limit-down": kbps(s.download_limit),
        "speed-limit-down-enabled": s.download_limit.is_some(),
        "speed-limit-up": kbps(s.upload_limit),
        "speed-limit-up-enabled": s.upload_limit.is_some(),
        "start-added-torrents": !s.start_added_paused,
        "trash-original-torrent-files": false,
        "units": {
            "memory-bytes": 1024, "memory-units": ["KiB", "MiB", "GiB", "TiB"],
            "size-bytes": 1000, "size-units": ["kB", "MB", "GB", "TB"],
            "speed-bytes": 1000, "speed-units": ["kB/s", "MB/s", "GB/s", "TB/s"],
        },
        "utp-enabled": false,
        "version": version_string(),
    });
    match args.get("fields").and_then(Value::as_array) {
        Some(fields) => {
            let mut out = Map::new();
            for f in fields.iter().filter_map(Value::as_str) {
                if let Some(v) = all.get(f) {
                    out.insert(f.to_owned(), v.clone());
                }
            }
            Value::Object(out)
        }
        None => all,
    }
}

fn session_set(app: &AppState, args: &Map<String, Value>) -> RpcResult {
    let mut s: Settings = app.registry.settings();
    let num = |k: &str| args.get(k).and_then(Value::as_f64);
    let flag = |k: &str| args.get(k).and_then(Value::as_bool);
    let kb = |k: &str| num(k).map(|v| (v.max(0.0) as u64) * 1000);
    let limit = |cur: Option<u64>, enabled: Option<bool>, value: Option<u64>| match (enabled, value)
    {
        (Some(false), _) => None,
        (Some(true), v) => v.or(cur).or(Some(100_000)),
        (None, Some(v)) if cur.is_some() => Some(v),
        _ => cur,
    };
    s.download_limit = limit(
        s.download_limit,
        flag("speed-limit-down-enabled"),
        kb("speed-limit-down"),
    );
    s.upload_limit = limit(
        s.upload_limit,
        flag("speed-limit-up-enabled"),
        kb("speed-limit-up"),
    );
    if let Some(v) = kb("alt-speed-down") {
        s.alt_download_limit = Some(v);
    }
    if let Some(v) = kb("alt-speed-up") {
        s.alt_upload_limit = Some(v);
    }
    if let Some(v) = flag("alt-speed-enabled") {
        s.alt_enabled = v;
    }
    let count = |k: &str| num(k).map(|v| v.max(0.0) as u32);
    s.max_active_downloads = match (flag("download-queue-enabled"), count("download-queue-size")) {
        (Some(false), _) => None,
        (Some(true), n) => n.or(s.max_active_downloads).or(Some(5)),
        (None, Some(n)) if s.max_active_downloads.is_some() => Some(n),
        _ => s.max_active_downloads,
    };
    s.max_active_seeds = match (flag("seed-queue-enabled"), count("seed-queue-size")) {
        (Some(false), _) => None,
        (Some(true), n) => n.or(s.max_active_seeds).or(Some(10)),
        (None, Some(n)) if s.max_active_seeds.is_some() => Some(n),
        _ => s.max_active_seeds,
    };
    s.seed_ratio_limit = match (flag("seedRatioLimited"), num("seedRatioLimit")) {
        (Some(false), _) => None,
        (Some(true), r) => r.or(s.seed_ratio_limit).or(Some(2.0)),
        (None, Some(r)) if s.seed_ratio_limit.is_some() => Some(r),
        _ => s.seed_ratio_limit,
    };
    s.seed_idle_limit = match (
        flag("idle-seeding-limit-enabled"),
        num("idle-seeding-limit").map(|v| v.max(0.0) as u64),
    ) {
        (Some(false), _) => None,
        (Some(true), m) => m.or(s.seed_idle_limit).or(Some(30)),
        (None, Some(m)) if s.seed_idle_limit.is_some() => Some(m),
        _ => s.seed_idle_limit,
    };
    if let Some(v) = flag("start-added-torrents") {
        s.start_added_paused = !v;
    }
    if let Some(d) = args.get("download-dir").and_then(Value::as_str) {
        s.download_dir = Some(app.registry.roots().check(&PathBuf::from(d)).map_err(err)?);
    }
    app.registry.set_settings(s).map_err(err)?;
    Ok(json!({}))
}

fn session_stats(app: &AppState) -> Value {
    let st = app.registry.stats();
    let block = json!({
        "uploadedBytes": st.uploaded, "downloadedBytes": st.downloaded,
        "filesAdded": st.torrents, "sessionCount": 1, "secondsActive": st.uptime,
    });
    json!({
        "activeTorrentCount": st.active,
        "pausedTorrentCount": st.paused,
        "torrentCount": st.torrents,
        "downloadSpeed": st.download_rate,
        "uploadSpeed": st.upload_rate,
        "cumulative-stats": block,
        "current-stats": block,
    })
}

async fn torrent_add(app: &AppState, args: &Map<String, Value>) -> RpcResult {
    let source = if let Some(m) = args.get("metainfo").and_then(Value::as_str) {
        let compact: String = m.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| {
                format!("invalid or corrupt torrent file (metainfo is not base64: {e})")
            })?;
        Source::Metainfo(bytes)
    } else if let Some(f) = args.get("filename").and_then(Value::as_str) {
        if f.starts_with("magnet:") {
            Source::Magnet(f.to_owned())
        } else if f.starts_with("http://") || f.starts_with("https://") {
            Source::Url(f.to_owned())
        } else {
            Source::Path(PathBuf::from(f))
        }
    } else {
        return Err("no filename or metainfo specified".into());
    };
    let labels = match args.get("labels") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let opts = AddOptions {
        download_dir: args
            .get("download-dir")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from),
        paused: args
            .get("paused")
            .and_then(|p| p.as_bool().or_else(|| p.as_i64().map(|n| n != 0))),
        labels,
    };
    match app.registry.add(source, opts).await {
        Ok(v) => Ok(json!({ "torrent-added": added(&v) })),
        Err(DaemonError::Duplicate { id, .. }) => {
            let v = app.registry.view(id).map_err(err)?;
            Ok(json!({ "torrent-duplicate": added(&v) }))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn added(v: &TorrentView) -> Value {
    json!({ "id": v.id, "name": v.rec.name, "hashString": v.rec.info_hash })
}

/// Transmission's status codes.
fn status(v: &TorrentView) -> u8 {
    match v.state {
        TState::Paused | TState::Error => 0,
        TState::Checking => 2,
        TState::Queued if v.rec.done_at.is_some() => 5,
        TState::Queued => 3,
        TState::Metadata | TState::Downloading => 4,
        TState::Seeding => 6,
    }
}

fn mode(m: LimitMode) -> u8 {
    match m {
        LimitMode::Global => 0,
        LimitMode::Single => 1,
        LimitMode::Unlimited => 2,
    }
}

fn field(app: &AppState, v: &TorrentView, name: &str) -> Option<Value> {
    let t = v.torrent.as_deref();
    let total = v.total_size();
    Some(match name {
        "id" => json!(v.id),
        "hashString" => json!(v.rec.info_hash),
        "name" => json!(v.rec.name),
        "downloadDir" => json!(v.rec.download_dir),
        "totalSize" | "sizeWhenDone" => json!(total),
        "leftUntilDone" | "desiredAvailable" => json!(v.left()),
        "haveValid" => json!(v.have_bytes),
        "haveUnchecked" | "corruptEver" | "bandwidthPriority" | "editDate" => json!(0),
        "isFinished" => json!(v.rec.finished),
        "isStalled" => json!(false),
        "isPrivate" => json!(t.is_some_and(|t| t.private)),
        "eta" => json!(v.eta().map_or(-1, |e| e as i64)),
        "etaIdle" | "manualAnnounceTime" => json!(-1),
        "status" => json!(status(v)),
        "error" => json!(if v.error.is_some() { 3 } else { 0 }),
        "errorString" => json!(v.error.clone().unwrap_or_default()),
        "secondsDownloading" => json!(v.rec.seconds_downloading),
        "secondsSeeding" => json!(v.rec.seconds_seeding),
        "uploadedEver" => json!(v.rec.uploaded_ever),
        "downloadedEver" => json!(v.rec.downloaded_ever),
        "uploadRatio" => json!(if v.rec.downloaded_ever == 0 && v.have_bytes == 0 {
            -1.0
        } else {
            v.ratio()
        }),
        "seedRatioLimit" => json!(v
            .rec
            .settings
            .seed_ratio_limit
            .or(app.registry.settings().seed_ratio_limit)
            .unwrap_or(2.0)),
        "seedRatioMode" => json!(mode(v.rec.settings.seed_ratio_mode)),
        "seedIdleLimit" => json!(v
            .rec
            .settings
            .seed_idle_limit
            .or(app.registry.settings().seed_idle_limit)
            .unwrap_or(30)),
        "seedIdleMode" => json!(mode(v.rec.settings.seed_idle_mode)),
        "fileCount" | "file-count" => json!(t.map_or(0, |t| t
            .layout
            .files
            .iter()
            .filter(|f| !f.is_padding())
            .count())),
        "labels" => json!(v.rec.labels),
        "group" => json!(""),
        "addedDate" | "startDate" => json!(v.rec.added_at),
        "activityDate" => json!(v.rec.activity_at),
        "doneDate" => json!(v.rec.done_at.unwrap_or(0)),
        "dateCreated" => json!(t.and_then(|t| t.creation_date).unwrap_or(0)),
        "comment" => json!(t.and_then(|t| t.comment.clone()).unwrap_or_default()),
        "creator" => json!(t.and_then(|t| t.created_by.clone()).unwrap_or_default()),
        "source" => json!(t.and_then(|t| t.source.clone()).unwrap_or_default()),
        "magnetLink" => json!(crate::rest::magnet_link(v)),
        "metadataPercentComplete" => json!(if t.is_some() { 1.0 } else { 0.0 }),
        "percentDone" | "percentComplete" => json!(v.progress()),
        "recheckProgress" => json!(if v.state == TState::Checking && total > 0 {
            v.checked_bytes as f64 / total as f64
        } else {
            0.0
        }),
        "pieceCount" => json!(t.map_or(0, |t| t.layout.piece_count)),
        "pieceSize" => json!(t.map_or(0, |t| t.layout.piece_length)),
        "pieces" => {
            json!(base64::engine::general_purpose::STANDARD.encode(crate::rest::piece_bits(app, v)))
        }
        "rateDownload" => json!(v.download_rate),
        "rateUpload" => json!(v.upload_rate),
        "peersConnected" | "peersSendingToUs" | "peersGettingFromUs" => json!(v.peers),
        "peer-limit" | "maxConnectedPeers" => json!(50),
        "webseedsSendingToUs" => json!(0),
        "webseeds" => json!(t.map_or_else(Vec::new, |t| t.web_seeds.clone())),
        "peersFrom" => json!({
            "fromCache": 0, "fromDht": 0, "fromIncoming": 0, "fromLpd": 0,
            "fromLtep": 0, "fromPex": 0, "fromTracker": v.peers_seen,
        }),
        "peers" => {
            let list: Vec<Value> = match app.registry.handle(v.id).ok().flatten() {
                Some(h) => h
                    .contributions()
                    .into_iter()
                    .map(|c| {
                        json!({
                            "address": c.peer.ip().to_string(), "port": c.peer.port(),
                            "clientName": c.client, "progress": 0.0, "rateToClient": 0,
                            "rateToPeer": 0, "flagStr": "", "isEncrypted": false,
                            "isDownloadingFrom": true, "isUploadingTo": false,
                        })
                    })
                    .collect(),
                None => Vec::new(),
            };
            json!(list)
        }
        "queuePosition" => json!(v.rec.queue_position),
        "downloadLimit" => json!(v.rec.settings.download_limit.unwrap_or(0) / 1000),
        "downloadLimited" => json!(v.rec.settings.download_limit.is_some()),
        "uploadLimit" => json!(v.rec.settings.upload_limit.unwrap_or(0) / 1000),
        "uploadLimited" => json!(v.rec.settings.upload_limit.is_some()),
        "honorsSessionLimits" => json!(true),
        "sequentialDownload" => json!(v.rec.settings.sequential),
        "torrentFile" => json!(""),
        "primary-mime-type" => json!("application/octet-stream"),
        "files" | "fileStats" => {
            let list: Vec<Value> = crate::rest::file_progress(app, v)
                .into_iter()
                .map(|(path, length, have)| {
                    if name == "files" {
                        json!({ "name": path, "length": length, "bytesCompleted": have })
                    } else {
                        json!({ "bytesCompleted": have, "wanted": true, "priority": 0 })
                    }
                })
                .collect();
            json!(list)
        }
        "wanted" | "priorities" => {
            let n = t.map_or(0, |t| {
                t.layout.files.iter().filter(|f| !f.is_padding()).count()
            });
            json!(vec![if name == "wanted" { 1 } else { 0 }; n])
        }
        "trackers" | "trackerStats" | "trackerList" => {
            let tiers = t.map_or_else(|| v.rec.trackers.clone(), |t| t.trackers.clone());
            if name == "trackerList" {
                let s: Vec<String> = tiers.iter().map(|tier| tier.join("\n")).collect();
                return Some(json!(s.join("\n\n")));
            }
            let mut list = Vec::new();
            for (tier, urls) in tiers.iter().enumerate() {
                for url in urls {
                    let id = list.len();
                    list.push(if name == "trackers" {
                        json!({ "announce": url, "id": id, "scrape": "", "tier": tier })
                    } else {
                        json!({
                            "announce": url, "host": url, "id": id, "tier": tier, "scrape": "",
                            "announceState": 0, "downloadCount": -1, "hasAnnounced": false,
                            "hasScraped": false, "isBackup": false, "lastAnnouncePeerCount": 0,
                            "lastAnnounceResult": "", "lastAnnounceStartTime": 0,
                            "lastAnnounceSucceeded": false, "lastAnnounceTime": 0,
                            "lastAnnounceTimedOut": false, "lastScrapeResult": "",
                            "lastScrapeStartTime": 0, "lastScrapeSucceeded": false,
                            "lastScrapeTime": 0, "lastScrapeTimedOut": false,
                            "leecherCount": -1, "nextAnnounceTime": 0, "nextScrapeTime": 0,
                            "scrapeState": 0, "seederCount": -1, "sitename": "",
                        })
                    });
                }
            }
            json!(list)
        }
        _ => return None,
    })
}

fn torrent_get(app: &AppState, args: &Map<String, Value>) -> RpcResult {
    let Some(fields) = args.get("fields").and_then(Value::as_array) else {
        return Err("no fields specified".into());
    };
    let fields: Vec<&str> = fields.iter().filter_map(Value::as_str).collect();
    let recent = matches!(args.get("ids"), Some(Value::String(s)) if s == "recently-active");
    let ids = ids(app, args);
    let views = app.registry.views(Some(&ids));
    let table = args.get("format").and_then(Value::as_str) == Some("table");
    let torrents: Vec<Value> = if table {
        let mut rows = vec![json!(fields)];
        rows.extend(views.iter().map(|v| {
            Value::Array(
                fields
                    .iter()
                    .map(|f| field(app, v, f).unwrap_or(Value::Null))
                    .collect(),
            )
        }));
        rows
    } else {
        views
            .iter()
            .map(|v| {
                let mut o = Map::with_capacity(fields.len());
                for f in &fields {
                    if let Some(val) = field(app, v, f) {
                        o.insert((*f).to_owned(), val);
                    }
                }
                Value::Object(o)
            })
            .collect()
    };
    let mut out = json!({ "torrents": torrents });
    if recent {
        out["removed"] = json!(app.registry.recently_removed());
    }
    Ok(out)
}

fn torrent_set(app: &AppState, args: &Map<String, Value>) -> RpcResult {
    let num = |k: &str| args.get(k).and_then(Value::as_f64);
    let lmode = |k: &str| -> Option<LimitMode> {
        Some(match args.get(k)?.as_i64()? {
            1 => LimitMode::Single,
            2 => LimitMode::Unlimited,
            _ => LimitMode::Global,
        })
    };
    let labels = match args.get("labels") {
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    };
    let limited = |flag: &str, value: &str| -> Option<Option<u64>> {
        match args.get(flag).and_then(Value::as_bool) {
            Some(false) => Some(None),
            Some(true) => Some(Some(num(value).map_or(100, |v| v.max(0.0) as u64) * 1000)),
            None => num(value).map(|v| Some(v.max(0.0) as u64 * 1000)),
        }
    };
    let c = TorrentChanges {
        labels,
        upload_limit: limited("uploadLimited", "uploadLimit"),
        download_limit: limited("downloadLimited", "downloadLimit"),
        seed_ratio_limit: num("seedRatioLimit").map(Some),
        seed_ratio_mode: lmode("seedRatioMode"),
        seed_idle_limit: num("seedIdleLimit").map(|v| Some(v.max(0.0) as u64)),
        seed_idle_mode: lmode("seedIdleMode"),
        sequential: args.get("sequentialDownload").and_then(Value::as_bool),
    };
    for id in ids(app, args) {
        app.registry.set(id, c.clone()).map_err(err)?;
    }
    Ok(json!({}))
}
