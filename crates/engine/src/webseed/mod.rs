//! Web seeds (BEP 19, `url-list`): pieces downloaded from HTTP(S) servers
//! alongside peers.
//!
//! The rules live in the pure core ([`shoal_swarm::webseed`]): a web seed
//! is a source with every piece that takes blocks through the picker,
//! whose data is trusted only once its piece passes the hash check, and
//! that is backed off and then dropped when it fails. Here are the
//! driver's parts: the URLs ([`url`]), the mapping of blocks to range
//! requests and of bytes back to blocks ([`plan`]), and one task per web
//! seed running the HTTP requests (`fetch`, with `reqwest` over rustls).
//! Bodies are streamed into one block at a time and never read past the
//! range asked for.

mod fetch;
pub mod plan;
pub mod url;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

pub use fetch::FetchError;
pub use shoal_swarm::webseed::{WebSeedConfig, WebSeedInfo, WebSeedStatus, MAX_WEB_SEEDS};

use crate::torrent::TorrentShared;

/// Web seed settings of a session.
#[derive(Debug, Clone)]
pub struct WebSeedSettings {
    /// Use the web seeds torrents list.
    pub enabled: bool,
    /// Request size, backoff and drop rules.
    pub core: WebSeedConfig,
    /// Time allowed to connect to a web seed.
    pub connect_timeout: Duration,
    /// Longest wait for bytes of a response (a stalled web seed fails).
    pub read_timeout: Duration,
}

impl Default for WebSeedSettings {
    fn default() -> Self {
        WebSeedSettings {
            enabled: true,
            core: WebSeedConfig::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(20),
        }
    }
}

/// Start a task for each usable web seed of the torrent.
pub(crate) fn spawn(t: &Arc<TorrentShared>) -> Vec<tokio::task::JoinHandle<()>> {
    let settings = &t.session.config.web_seed;
    if !settings.enabled || t.torrent.web_seeds.is_empty() {
        return Vec::new();
    }
    let urls = url::normalise(&t.torrent.web_seeds, MAX_WEB_SEEDS);
    if urls.is_empty() {
        return Vec::new();
    }
    let client = reqwest::Client::builder()
        .user_agent(t.session.config.client_name.clone())
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.read_timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "no HTTP client for web seeds");
            return Vec::new();
        }
    };
    let now = Instant::now();
    let mut tasks = Vec::new();
    let mut st = t.lock();
    st.set_web_seed_config(settings.core.clone());
    for url in urls {
        let Some(key) = st.add_web_seed(url.to_string(), now) else {
            break;
        };
        info!(%url, "web seed");
        tasks.push(tokio::spawn(fetch::run(
            t.clone(),
            key,
            url,
            client.clone(),
        )));
    }
    tasks
}
