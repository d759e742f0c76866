//! The REST/JSON API under `/api/` (see `docs/api.md`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::error::DaemonError;
use crate::registry::{
    AddOptions, QueueMove, Source, State as TState, TorrentChanges, TorrentView,
};
use crate::server::AppState;
use crate::store::LimitMode;

type ApiResult<T> = Result<T, DaemonError>;

/// The `/api` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/session", get(session))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/settings", get(get_settings).patch(patch_settings))
        .route("/stats", get(stats))
        .route("/torrents", get(list).post(add))
        .route("/torrents/pause", post(bulk_pause))
        .route("/torrents/resume", post(bulk_resume))
        .route("/torrents/recheck", post(bulk_recheck))
        .route("/torrents/remove", post(bulk_remove))
        .route(
            "/torrents/{id}",
            get(detail).patch(patch_torrent).delete(remove),
        )
        .route("/torrents/{id}/pause", post(pause))
        .route("/torrents/{id}/resume", post(resume))
        .route("/torrents/{id}/recheck", post(recheck))
        .route("/torrents/{id}/reannounce", post(reannounce))
        .route("/torrents/{id}/move", post(move_torrent))
        .route("/torrents/{id}/queue", post(queue))
        .route("/torrents/{id}/files", get(files).patch(patch_files))
        .route("/torrents/{id}/peers", get(peers))
        .route("/torrents/{id}/pieces", get(pieces))
        .route("/events", get(events))
        .route("/openapi.json", get(crate::openapi::handle))
        .fallback(|| async { DaemonError::NotFound("route".into()) })
}

/// A torrent summary as JSON.
pub fn summary(v: &TorrentView) -> Value {
    json!({
        "id": v.id,
        "info_hash": v.rec.info_hash,
        "name": v.rec.name,
        "state": v.state,
        "error": v.error,
        "download_dir": v.rec.download_dir,
        "total_size": v.total_size(),
        "have_bytes": v.have_bytes,
        "progress": v.progress(),
        "download_rate": v.download_rate,
        "upload_rate": v.upload_rate,
        "downloaded": v.rec.downloaded_ever,
        "uploaded": v.rec.uploaded_ever,
        "ratio": v.ratio(),
        "peers": v.peers,
        "eta": v.eta(),
        "labels": v.rec.labels,
        "added_at": v.rec.added_at,
        "done_at": v.rec.done_at,
        "queue_position": v.rec.queue_position,
        "has_metadata": v.torrent.is_some(),
    })
}

fn detail_json(v: &TorrentView) -> Value {
    let mut j = summary(v);
    let t = v.torrent.as_deref();
    let extra = json!({
        "piece_count": t.map(|t| t.layout.piece_count),
        "piece_length": t.map(|t| t.layout.piece_length),
        "pieces_have": v.have_pieces,
        "private": t.is_some_and(|t| t.private),
        "comment": t.and_then(|t| t.comment.clone()),
        "created_by": t.and_then(|t| t.created_by.clone()),
        "creation_date": t.and_then(|t| t.creation_date),
        "magnet": magnet_link(v),
        "trackers": t.map_or_else(|| v.rec.trackers.clone(), |t| t.trackers.clone()),
        "settings": v.rec.settings,
        "seconds_downloading": v.rec.seconds_downloading,
        "seconds_seeding": v.rec.seconds_seeding,
    });
    if let (Some(a), Value::Object(b)) = (j.as_object_mut(), extra) {
        a.extend(b);
    }
    j
}

/// The magnet link of a torrent.
pub fn magnet_link(v: &TorrentView) -> String {
    match (&v.torrent, &v.rec.magnet) {
        (Some(t), _) => t.magnet().to_string(),
        (None, Some(m)) => m.clone(),
        (None, None) => format!("magnet:?xt=urn:btih:{}", v.rec.info_hash),
    }
}

async fn session(State(app): State<AppState>) -> Json<Value> {
    let s = app.registry.settings();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "transmission_version": crate::rpc::version_string(),
        "api_version": 1,
        "peer_port": app.peer_port,
        "auth_required": app.security.auth_required(),
        "settings": settings_json(&app, &s),
    }))
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    username: String,
    password: String,
}

async fn login(
    State(app): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Bytes,
) -> Response {
    let sec = &app.security;
    if let Some(secs) = sec.locked_out(peer.ip()) {
        let mut r = DaemonError::BadRequest("too many failed logins: try again later".into())
            .into_response();
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let l: Login = match serde_json::from_slice(&body) {
        Ok(l) => l,
        Err(e) => return DaemonError::BadRequest(format!("invalid JSON: {e}")).into_response(),
    };
    if !sec.check_password(&l.username, &l.password).await {
        sec.record_failure(peer.ip());
        let mut r = DaemonError::BadRequest("wrong user name or password".into()).into_response();
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    let token = sec.new_session();
    let cookie = format!(
        "{}={token}; HttpOnly; SameSite=Strict; Path=/",
        crate::security::COOKIE
    );
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout(State(app): State<AppState>, headers: HeaderMap) -> StatusCode {
    if let Some(t) = crate::security::cookie(&headers, crate::security::COOKIE) {
        app.security.end_session(&t);
    }
    StatusCode::NO_CONTENT
}

fn settings_json(app: &AppState, s: &crate::config::Settings) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_else(|_| json!({}));
    v["download_dir"] = json!(s.download_dir.clone().unwrap_or_else(|| app
        .registry
        .roots()
        .default_dir()
        .to_path_buf()));
    v["download_roots"] = json!(app.registry.roots().list());
    v["peer_port"] = json!(app.peer_port);
    v
}

async fn get_settings(State(app): State<AppState>) -> Json<Value> {
    Json(settings_json(&app, &app.registry.settings()))
}

fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|e| DaemonError::BadRequest(format!("invalid JSON: {e}")))
}

async fn patch_settings(State(app): State<AppState>, body: Bytes) -> ApiResult<Json<Value>> {
    let patch = parse_json(&body)?;
    let Value::Object(patch) = patch else {
        return Err(DaemonError::BadRequest("expected a JSON object".into()));
    };
    let current = app.registry.settings();
    let mut merged = serde_json::to_value(&current).map_err(|e| DaemonError::Io(e.to_string()))?;
    for (k, v) in patch {
        match k.as_str() {
            "download_roots" | "peer_port" | "watch_dir" => continue,
            _ if merged.get(&k).is_none() => {
                return Err(DaemonError::BadRequest(format!("unknown setting {k:?}")))
            }
            _ => merged[k] = v,
        }
    }
    let mut s: crate::config::Settings = serde_json::from_value(merged)
        .map_err(|e| DaemonError::BadRequest(format!("invalid settings: {e}")))?;
    if let Some(d) = &s.download_dir {
        s.download_dir = Some(app.registry.roots().check(d)?);
    }
    app.registry.set_settings(s.clone())?;
    Ok(Json(settings_json(&app, &s)))
}

async fn stats(State(app): State<AppState>) -> Json<Value> {
    Json(json!(app.registry.stats()))
}

async fn list(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let views = app.registry.views(None);
    let out: Vec<Value> = views
        .iter()
        .filter(|v| q.get("label").is_none_or(|l| v.rec.labels.contains(l)))
        .filter(|v| {
            q.get("state")
                .is_none_or(|s| json!(v.state).as_str() == Some(s.as_str()))
        })
        .map(summary)
        .collect();
    Json(Value::Array(out))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AddBody {
    magnet: Option<String>,
    url: Option<String>,
    metainfo: Option<String>,
    path: Option<PathBuf>,
    download_dir: Option<PathBuf>,
    paused: Option<bool>,
    #[serde(default)]
    labels: Vec<String>,
}

async fn add(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or("");
    let (source, opts) = if ctype.starts_with("application/x-bittorrent") {
        let opts = AddOptions {
            download_dir: q.get("download_dir").map(PathBuf::from),
            paused: q.get("paused").map(|p| p == "true" || p == "1"),
            labels: q
                .get("labels")
                .map(|l| {
                    l.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        };
        (Source::Metainfo(body.to_vec()), opts)
    } else {
        let b: AddBody = serde_json::from_slice(&body)
            .map_err(|e| DaemonError::BadRequest(format!("invalid JSON: {e}")))?;
        let mut sources = Vec::new();
        if let Some(m) = b.magnet {
            sources.push(Source::Magnet(m));
        }
        if let Some(u) = b.url {
            sources.push(Source::Url(u));
        }
        if let Some(m) = b.metainfo {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(m.trim())
                .map_err(|e| DaemonError::BadRequest(format!("metainfo is not base64: {e}")))?;
            sources.push(Source::Metainfo(bytes));
        }
        if let Some(p) = b.path {
            sources.push(Source::Path(p));
        }
        if sources.len() != 1 {
            return Err(DaemonError::BadRequest(
                "give exactly one of magnet, url, metainfo, path".into(),
            ));
        }
        let opts = AddOptions {
            download_dir: b.download_dir,
            paused: b.paused,
            labels: b.labels,
        };
        (sources.remove(0), opts)
    };
    let v = app.registry.add(source, opts).await?;
    Ok((StatusCode::CREATED, Json(summary(&v))))
}

async fn detail(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = app.registry.resolve(&id)?;
    Ok(Json(detail_json(&app.registry.view(id)?)))
}

fn opt_field<T: serde::de::DeserializeOwned>(
    obj: &serde_json::Map<String, Value>,
    key: &str,
) -> ApiResult<Option<T>> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| DaemonError::BadRequest(format!("{key}: {e}"))),
    }
}

async fn patch_torrent(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let id = app.registry.resolve(&id)?;
    let Value::Object(o) = parse_json(&body)? else {
        return Err(DaemonError::BadRequest("expected a JSON object".into()));
    };
    const KNOWN: &[&str] = &[
        "labels",
        "upload_limit",
        "download_limit",
        "seed_ratio_limit",
        "seed_ratio_mode",
        "seed_idle_limit",
        "seed_idle_mode",
        "sequential",
    ];
    if let Some(k) = o.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(DaemonError::BadRequest(format!("unknown field {k:?}")));
    }
    let c = TorrentChanges {
        labels: opt_field(&o, "labels")?,
        upload_limit: opt_field(&o, "upload_limit")?,
        download_limit: opt_field(&o, "download_limit")?,
        seed_ratio_limit: opt_field(&o, "seed_ratio_limit")?,
        seed_ratio_mode: opt_field::<LimitMode>(&o, "seed_ratio_mode")?,
        seed_idle_limit: opt_field(&o, "seed_idle_limit")?,
        seed_idle_mode: opt_field::<LimitMode>(&o, "seed_idle_mode")?,
        sequential: opt_field(&o, "sequential")?,
    };
    app.registry.set(id, c)?;
    Ok(Json(detail_json(&app.registry.view(id)?)))
}

async fn remove(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let id = app.registry.resolve(&id)?;
    let delete = q
        .get("delete_data")
        .is_some_and(|v| v == "true" || v == "1");
    app.registry.remove(id, delete).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pause(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = app.registry.resolve(&id)?;
    app.registry.stop(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn resume(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let id = app.registry.resolve(&id)?;
    let now = q.get("now").is_some_and(|v| v == "true" || v == "1");
    app.registry.start(id, now)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn recheck(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = app.registry.resolve(&id)?;
    app.registry.recheck(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reannounce(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = app.registry.resolve(&id)?;
    app.registry.reannounce(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    download_dir: PathBuf,
    #[serde(default = "yes")]
    move_data: bool,
}

fn yes() -> bool {
    true
}

async fn move_torrent(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let id = app.registry.resolve(&id)?;
    let b: MoveBody = serde_json::from_slice(&body)
        .map_err(|e| DaemonError::BadRequest(format!("invalid JSON: {e}")))?;
    app.registry
        .set_location(id, &b.download_dir, b.move_data)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn queue(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let id = app.registry.resolve(&id)?;
    let v = parse_json(&body)?;
    let to = match v.get("to").and_then(Value::as_str) {
        Some("top") => QueueMove::Top,
        Some("up") => QueueMove::Up,
        Some("down") => QueueMove::Down,
        Some("bottom") => QueueMove::Bottom,
        _ => {
            return Err(DaemonError::BadRequest(
                "\"to\" must be top, up, down or bottom".into(),
            ))
        }
    };
    app.registry.queue_move(&[id], to)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Per-file `(path, length, bytes verified)`.
pub fn file_progress(app: &AppState, v: &TorrentView) -> Vec<(String, u64, u64)> {
    let Some(t) = &v.torrent else {
        return Vec::new();
    };
    let bits = app
        .registry
        .handle(v.id)
        .ok()
        .flatten()
        .map(|h| h.verified_pieces());
    let complete = v.total_size() > 0 && v.have_bytes == v.total_size();
    let pl = t.layout.piece_length.max(1);
    t.layout
        .files
        .iter()
        .filter(|f| !f.is_padding())
        .map(|f| {
            let mut path = if t.layout.multi_file {
                vec![t.name.clone()]
            } else {
                Vec::new()
            };
            path.extend(f.path.iter().cloned());
            let have = if complete {
                f.length
            } else if let (Some(bits), true) = (&bits, f.length > 0) {
                let first = f.offset / pl;
                let last = (f.offset + f.length - 1) / pl;
                (first..=last)
                    .filter(|&p| bits.get(p as usize))
                    .map(|p| {
                        let start = (p * pl).max(f.offset);
                        let end = ((p + 1) * pl).min(f.offset + f.length);
                        end - start
                    })
                    .sum()
            } else {
                0
            };
            (path.join("/"), f.length, have)
        })
        .collect()
}

async fn files(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = app.registry.resolve(&id)?;
    let v = app.registry.view(id)?;
    let out: Vec<Value> = file_progress(&app, &v)
        .into_iter()
        .enumerate()
        .map(|(i, (path, length, have))| {
            json!({
                "index": i, "path": path, "length": length, "have": have,
                "progress": if length == 0 { 1.0 } else { have as f64 / length as f64 },
                "wanted": true, "priority": "normal",
            })
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

async fn patch_files(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    app.registry.resolve(&id)?;
    Err(DaemonError::Unsupported(
        "file selection (the engine downloads every file)",
    ))
}

async fn peers(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = app.registry.resolve(&id)?;
    let out: Vec<Value> = match app.registry.handle(id)? {
        Some(h) => peer_list(&h),
        None => Vec::new(),
    };
    Ok(Json(Value::Array(out)))
}

/// Connected peers (flags, rates, totals, progress), then peers that sent
/// data earlier and are gone (`connected: false`).
fn peer_list(h: &shoal_engine::TorrentHandle) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut connected = std::collections::HashSet::new();
    for p in h.peer_reports() {
        connected.insert(p.addr);
        out.push(json!({
            "address": p.addr.to_string(), "client": p.client, "connected": true,
            "direction": if p.outgoing { "outgoing" } else { "incoming" },
            "download_rate": p.download_rate, "upload_rate": p.upload_rate,
            "downloaded": p.downloaded, "uploaded": p.uploaded, "progress": p.progress,
            "am_choking": p.am_choking, "am_interested": p.am_interested,
            "peer_choking": p.peer_choking, "peer_interested": p.peer_interested,
            "snubbed": p.snubbed,
        }));
    }
    for c in h.contributions() {
        if !connected.contains(&c.peer) {
            out.push(json!({
                "address": c.peer.to_string(), "client": c.client, "connected": false,
                "downloaded": c.bytes,
            }));
        }
    }
    out
}

/// The verified-piece bitfield of a torrent (BEP 3 layout).
pub fn piece_bits(app: &AppState, v: &TorrentView) -> Vec<u8> {
    let count = v.torrent.as_ref().map_or(0, |t| t.layout.piece_count) as usize;
    if let Ok(Some(h)) = app.registry.handle(v.id) {
        return h.verified_pieces().as_bytes().to_vec();
    }
    let mut bytes = vec![0u8; count.div_ceil(8)];
    if v.state == TState::Seeding || (count > 0 && v.have_pieces as usize == count) {
        for i in 0..count {
            bytes[i / 8] |= 0x80 >> (i % 8);
        }
    }
    bytes
}

async fn pieces(State(app): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = app.registry.resolve(&id)?;
    let v = app.registry.view(id)?;
    let bits = piece_bits(&app, &v);
    let have: u32 = bits.iter().map(|b| b.count_ones()).sum();
    let mut out = json!({
        "piece_count": v.torrent.as_ref().map_or(0, |t| t.layout.piece_count),
        "bitfield": base64::engine::general_purpose::STANDARD.encode(&bits),
        "have": have,
    });
    // While it runs: pieces under way, and copies of each among the peers.
    if let Ok(Some(h)) = app.registry.handle(id) {
        let r = h.piece_report();
        out["downloading"] = json!(r.downloading);
        out["availability"] = json!(r.availability);
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct BulkBody {
    ids: Vec<Value>,
    #[serde(default)]
    delete_data: bool,
}

fn bulk_ids(app: &AppState, body: &[u8]) -> ApiResult<(Vec<u64>, bool)> {
    let b: BulkBody = serde_json::from_slice(body)
        .map_err(|e| DaemonError::BadRequest(format!("invalid JSON: {e}")))?;
    let mut ids = Vec::new();
    for v in b.ids {
        let key = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s,
            other => return Err(DaemonError::BadRequest(format!("bad id {other}"))),
        };
        ids.push(app.registry.resolve(&key)?);
    }
    Ok((ids, b.delete_data))
}

async fn bulk_pause(State(app): State<AppState>, body: Bytes) -> ApiResult<StatusCode> {
    for id in bulk_ids(&app, &body)?.0 {
        app.registry.stop(id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn bulk_resume(State(app): State<AppState>, body: Bytes) -> ApiResult<StatusCode> {
    for id in bulk_ids(&app, &body)?.0 {
        app.registry.start(id, false)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn bulk_recheck(State(app): State<AppState>, body: Bytes) -> ApiResult<StatusCode> {
    for id in bulk_ids(&app, &body)?.0 {
        app.registry.recheck(id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn bulk_remove(State(app): State<AppState>, body: Bytes) -> ApiResult<StatusCode> {
    let (ids, delete) = bulk_ids(&app, &body)?;
    for id in ids {
        app.registry.remove(id, delete).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Every torrent's (id, summary), for the event stream's `update` events.
fn summaries(app: &AppState) -> Vec<(u64, Value)> {
    app.registry
        .views(None)
        .iter()
        .map(|v| (v.id, summary(v)))
        .collect()
}

async fn events(
    State(app): State<AppState>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = app.registry.subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let seen = crate::live::SeenSummaries::new(&summaries(&app));
    // Each tick sends `stats` and then, when something changed, `update`.
    let pending: Option<SseEvent> = None;
    let stream = futures_util::stream::unfold(
        (rx, tick, app, seen, pending),
        |(mut rx, mut tick, app, mut seen, mut pending)| async move {
            if let Some(ev) = pending.take() {
                return Some((Ok(ev), (rx, tick, app, seen, pending)));
            }
            let ev = tokio::select! {
                r = rx.recv() => match r {
                    Ok(ev) => SseEvent::default().event(ev.kind).json_data(&ev).unwrap_or_default(),
                    Err(RecvError::Lagged(n)) => SseEvent::default().event("lagged").data(n.to_string()),
                    Err(RecvError::Closed) => return None,
                },
                _ = tick.tick() => {
                    let changed = seen.changed(summaries(&app));
                    if !changed.is_empty() {
                        pending = Some(SseEvent::default().event("update").json_data(changed).unwrap_or_default());
                    }
                    SseEvent::default()
                        .event("stats")
                        .json_data(app.registry.stats())
                        .unwrap_or_default()
                }
            };
            Some((Ok(ev), (rx, tick, app, seen, pending)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
