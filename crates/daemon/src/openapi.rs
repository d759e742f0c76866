//! `/api/openapi.json`: an OpenAPI 3 description of the REST API (the
//! prose is in `docs/api.md`).

use axum::Json;
use serde_json::{json, Value};

fn op(summary: &str) -> Value {
    json!({ "summary": summary, "responses": { "200": { "description": "OK" } } })
}

/// The document.
pub async fn handle() -> Json<Value> {
    let id = json!([{ "name": "id", "in": "path", "required": true,
        "description": "torrent id or info-hash", "schema": { "type": "string" } }]);
    let with_id = |mut v: Value| {
        if let Some(o) = v.as_object_mut() {
            for (_, m) in o.iter_mut() {
                m["parameters"] = id.clone();
            }
        }
        v
    };
    Json(json!({
        "openapi": "3.0.3",
        "info": { "title": "Shoal daemon API", "version": env!("CARGO_PKG_VERSION"),
            "description": "See docs/api.md. State-changing requests need the header X-Shoal-Csrf: 1." },
        "components": { "securitySchemes": { "basic": { "type": "http", "scheme": "basic" } } },
        "security": [{ "basic": [] }],
        "paths": {
            "/api/session": { "get": op("Daemon version, peer port, settings") },
            "/api/login": { "post": op("Log in: {password}; sets a cookie") },
            "/api/logout": { "post": op("Log out") },
            "/api/settings": { "get": op("Settings"), "patch": op("Change settings") },
            "/api/stats": { "get": op("Session totals") },
            "/api/torrents": { "get": op("List torrents (?label=, ?state=)"),
                "post": op("Add a torrent: {magnet|url|metainfo|path, download_dir, paused, labels} or an application/x-bittorrent body") },
            "/api/torrents/pause": { "post": op("Pause {ids}") },
            "/api/torrents/resume": { "post": op("Resume {ids}") },
            "/api/torrents/recheck": { "post": op("Recheck {ids}") },
            "/api/torrents/remove": { "post": op("Remove {ids, delete_data}") },
            "/api/torrents/{id}": with_id(json!({ "get": op("Torrent detail"),
                "patch": op("Change labels, limits, seeding limits"),
                "delete": op("Remove (?delete_data=true)") })),
            "/api/torrents/{id}/pause": with_id(json!({ "post": op("Pause") })),
            "/api/torrents/{id}/resume": with_id(json!({ "post": op("Resume (?now=true skips the queue)") })),
            "/api/torrents/{id}/recheck": with_id(json!({ "post": op("Hash all data again") })),
            "/api/torrents/{id}/reannounce": with_id(json!({ "post": op("Announce again") })),
            "/api/torrents/{id}/move": with_id(json!({ "post": op("Move: {download_dir, move_data}") })),
            "/api/torrents/{id}/queue": with_id(json!({ "post": op("Queue move: {to: top|up|down|bottom}") })),
            "/api/torrents/{id}/files": with_id(json!({ "get": op("Files with progress") })),
            "/api/torrents/{id}/peers": with_id(json!({ "get": op("Peers") })),
            "/api/torrents/{id}/pieces": with_id(json!({ "get": op("Verified-piece bitfield, base64") })),
            "/api/events": { "get": op("Server-sent events: added, metadata, state, completed, error, removed, stats") },
        }
    }))
}
