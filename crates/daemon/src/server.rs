//! The HTTP service and the daemon's main loop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};
use axum::Router;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::config::DaemonConfig;
use crate::error::DaemonError;
use crate::paths::Roots;
use crate::registry::Registry;
use crate::security::Security;
use crate::store::Store;

/// Largest request body accepted (a `.torrent` upload, base64 or raw).
pub const MAX_BODY: usize = 16 << 20;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The torrents.
    pub registry: Arc<Registry>,
    /// Authentication and the allow-lists.
    pub security: Arc<Security>,
    /// Transmission's `X-Transmission-Session-Id`.
    pub rpc_session_id: Arc<str>,
    /// Requests served.
    pub requests: Arc<AtomicU64>,
    /// Set to shut the daemon down (Transmission's `session-close`).
    pub shutdown: Arc<Notify>,
    /// The peer port, for display.
    pub peer_port: u16,
}

impl AppState {
    /// Count one request.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// The router with every route and the security middleware.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api", crate::rest::routes())
        .route("/transmission/rpc", any(crate::rpc::handle))
        .route("/transmission/rpc/", any(crate::rpc::handle))
        .route("/metrics", get(crate::metrics::handle))
        .fallback(get(crate::ui::handle))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::security::guard,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Run the daemon until `stop` resolves (a signal) or a client asks it to
/// close: open the state, start the torrents, serve the API, and on the way
/// out stop every torrent (saving resume data).
pub async fn run(
    cfg: DaemonConfig,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    let store = Store::open(&cfg.state_dir)?;
    let roots = Roots::new(&cfg.download_roots, &cfg.download_dir)?;
    let listener = tokio::net::TcpListener::bind(cfg.api_listen)
        .await
        .map_err(|e| DaemonError::Config(format!("cannot listen on {}: {e}", cfg.api_listen)))?;
    let api_addr = listener
        .local_addr()
        .map_err(|e| DaemonError::Config(e.to_string()))?;
    let mut engine = shoal_engine::SessionConfig {
        listen: vec![cfg.peer_listen],
        ..shoal_engine::SessionConfig::default()
    };
    let s = store
        .load_settings()
        .unwrap_or_else(|| cfg.settings.clone());
    if s.alt_enabled {
        engine.upload_limit = s.alt_upload_limit;
        engine.download_limit = s.alt_download_limit;
    } else {
        engine.upload_limit = s.upload_limit;
        engine.download_limit = s.download_limit;
    }
    engine.max_connections = engine.max_connections.max(500);
    if cfg.dht {
        let mut dht = shoal_engine::DhtConfig::default();
        if let Ok(routers) = std::env::var("SHOAL_DHT_ROUTERS") {
            dht.routers = routers
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect();
        }
        engine.dht = Some(dht);
    }
    let registry = Registry::open(
        engine,
        store,
        roots,
        cfg.settings.clone(),
        cfg.watch_dir.clone(),
    )
    .await?;
    let peer_port = registry.session().local_addr().port();
    let state = AppState {
        registry: registry.clone(),
        security: Arc::new(Security::new(
            cfg.username.clone(),
            cfg.password_hash.clone(),
            cfg.allowed_hosts.clone(),
        )),
        rpc_session_id: hex::encode(rand::random::<[u8; 24]>()).into(),
        requests: Arc::new(AtomicU64::new(0)),
        shutdown: Arc::new(Notify::new()),
        peer_port,
    };
    // Tests and scripts read this line to learn the bound addresses.
    println!("shoal daemon: api http://{api_addr} peer port {peer_port}");
    info!(%api_addr, peer_port, "daemon running");
    let ticker = tokio::spawn(tick_loop(registry.clone()));
    let watcher = cfg
        .watch_dir
        .clone()
        .map(|d| tokio::spawn(crate::watch::run(registry.clone(), d)));
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let closing = state.shutdown.clone();
    let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = quit_rx.await;
    });
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        _ = stop => info!("signal received: stopping"),
        _ = closing.notified() => info!("session-close received: stopping"),
        r = &mut server => warn!(result = ?r, "HTTP server ended"),
    }
    let _ = quit_tx.send(());
    // Open connections (an event stream never ends by itself) get a moment
    // to finish, then are dropped.
    if tokio::time::timeout(Duration::from_secs(2), &mut server)
        .await
        .is_err()
    {
        server.abort();
    }
    ticker.abort();
    if let Some(w) = watcher {
        w.abort();
    }
    registry.shutdown().await;
    info!("daemon stopped");
    Ok(())
}

async fn tick_loop(reg: Arc<Registry>) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        interval.tick().await;
        n += 1;
        reg.tick(n % 5 == 0, n % 600 == 0).await;
    }
}
