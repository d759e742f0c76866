//! `/metrics` in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::server::AppState;

/// Render the metrics.
pub async fn handle(State(app): State<AppState>) -> impl IntoResponse {
    let views = app.registry.views(None);
    let stats = app.registry.stats();
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    for s in [
        "queued",
        "checking",
        "metadata",
        "downloading",
        "seeding",
        "paused",
        "error",
    ] {
        by_state.insert(s.to_owned(), 0);
    }
    for v in &views {
        let name = serde_json::to_value(v.state)
            .ok()
            .and_then(|s| s.as_str().map(str::to_owned))
            .unwrap_or_default();
        *by_state.entry(name).or_default() += 1;
    }
    let mut out = String::new();
    let _ = writeln!(out, "# HELP shoal_torrents Torrents by state.");
    let _ = writeln!(out, "# TYPE shoal_torrents gauge");
    for (state, n) in &by_state {
        let _ = writeln!(out, "shoal_torrents{{state=\"{state}\"}} {n}");
    }
    let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {v}");
    };
    gauge(
        &mut out,
        "shoal_download_rate_bytes",
        "Download rate, bytes per second.",
        "gauge",
        stats.download_rate,
    );
    gauge(
        &mut out,
        "shoal_upload_rate_bytes",
        "Upload rate, bytes per second.",
        "gauge",
        stats.upload_rate,
    );
    gauge(
        &mut out,
        "shoal_downloaded_bytes_total",
        "Payload downloaded by all torrents.",
        "counter",
        stats.downloaded,
    );
    gauge(
        &mut out,
        "shoal_uploaded_bytes_total",
        "Payload uploaded by all torrents.",
        "counter",
        stats.uploaded,
    );
    gauge(
        &mut out,
        "shoal_peers",
        "Connected peers.",
        "gauge",
        stats.peers as u64,
    );
    gauge(
        &mut out,
        "shoal_api_requests_total",
        "HTTP requests served.",
        "counter",
        app.requests.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "shoal_uptime_seconds",
        "Seconds since the daemon started.",
        "counter",
        stats.uptime,
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
