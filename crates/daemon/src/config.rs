//! The daemon's settings: the TOML file (`--config`), command-line
//! overrides, and the runtime settings changed over the API (kept in the
//! state directory, so the user's file is never rewritten).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DaemonError;

/// The config file, as written by the user. Every field is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigFile {
    /// The HTTP API.
    pub api: ApiConfig,
    /// The BitTorrent session.
    pub session: SessionFileConfig,
}

/// `[api]`: where and how the HTTP API is served.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to serve on (default 127.0.0.1:9091).
    pub listen: Option<SocketAddr>,
    /// User name for Basic auth (default `shoal`).
    pub username: Option<String>,
    /// Argon2 hash (PHC string) of the password; none: no authentication
    /// (allowed on loopback only).
    pub password_hash: Option<String>,
    /// Host names accepted in the `Host` header besides IP literals and
    /// `localhost` (a leading `*.` matches subdomains).
    pub allowed_hosts: Vec<String>,
}

/// `[session]`: torrents, directories and limits.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionFileConfig {
    /// Peer listen address (default 0.0.0.0:51413).
    pub listen: Option<SocketAddr>,
    /// Where torrents go unless told otherwise.
    pub download_dir: Option<PathBuf>,
    /// Directories downloads may go into (default: `download_dir`).
    pub download_roots: Vec<PathBuf>,
    /// A folder watched for `.torrent` files.
    pub watch_dir: Option<PathBuf>,
    /// Where the daemon keeps its state.
    pub state_dir: Option<PathBuf>,
    /// Run the Mainline DHT (default true).
    pub dht: Option<bool>,
    /// Initial runtime settings (the API may change them later).
    #[serde(flatten)]
    pub settings: Settings,
}

/// Settings that can change while the daemon runs (over the REST API or
/// Transmission's `session-set`). `None` means unlimited.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    /// Default download directory (inside the roots; `None`: the one
    /// configured at start).
    pub download_dir: Option<PathBuf>,
    /// Global upload limit, bytes/s.
    pub upload_limit: Option<u64>,
    /// Global download limit, bytes/s.
    pub download_limit: Option<u64>,
    /// The alternative ("turtle") upload limit, bytes/s.
    pub alt_upload_limit: Option<u64>,
    /// The alternative download limit, bytes/s.
    pub alt_download_limit: Option<u64>,
    /// Whether the alternative limits are in force.
    pub alt_enabled: bool,
    /// Most torrents downloading at once (the rest are queued).
    pub max_active_downloads: Option<u32>,
    /// Most torrents seeding at once.
    pub max_active_seeds: Option<u32>,
    /// Stop seeding at this upload/download ratio.
    pub seed_ratio_limit: Option<f64>,
    /// Stop seeding after this many minutes without upload.
    pub seed_idle_limit: Option<u64>,
    /// Add torrents paused.
    pub start_added_paused: bool,
}

/// Everything the daemon needs to start, after merging the file and flags.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// HTTP API address.
    pub api_listen: SocketAddr,
    /// Basic-auth user name.
    pub username: String,
    /// Argon2 PHC hash of the password, if any.
    pub password_hash: Option<String>,
    /// Extra allowed `Host` names.
    pub allowed_hosts: Vec<String>,
    /// Peer listen address.
    pub peer_listen: SocketAddr,
    /// Default download directory.
    pub download_dir: PathBuf,
    /// Download roots (never empty).
    pub download_roots: Vec<PathBuf>,
    /// Watch directory, if any.
    pub watch_dir: Option<PathBuf>,
    /// State directory.
    pub state_dir: PathBuf,
    /// Run the DHT.
    pub dht: bool,
    /// Initial settings (overridden by those saved in the state directory).
    pub settings: Settings,
}

/// The default HTTP API address.
pub const DEFAULT_API: &str = "127.0.0.1:9091";

impl ConfigFile {
    /// Read and parse a TOML config file.
    pub fn load(path: &Path) -> Result<ConfigFile, DaemonError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DaemonError::Config(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| DaemonError::Config(format!("{}: {e}", path.display())))
    }
}

/// `$XDG_DATA_HOME/shoal` or `~/.local/share/shoal`.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("shoal");
    }
    home().join(".local/share/shoal")
}

/// `$XDG_DOWNLOAD_DIR` or `~/Downloads`.
pub fn default_download_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DOWNLOAD_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    home().join("Downloads")
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/shoal"))
}

impl DaemonConfig {
    /// Merge the file with command-line overrides (flags win) and check the
    /// result: binding anything but loopback requires a password.
    pub fn resolve(
        file: ConfigFile,
        api: Option<SocketAddr>,
        state_dir: Option<PathBuf>,
        roots: Vec<PathBuf>,
    ) -> Result<DaemonConfig, DaemonError> {
        let api_listen = match api.or(file.api.listen) {
            Some(a) => a,
            None => DEFAULT_API
                .parse()
                .map_err(|_| DaemonError::Config("bad default API address".into()))?,
        };
        if !api_listen.ip().is_loopback() && file.api.password_hash.is_none() {
            return Err(DaemonError::Config(format!(
                "the API would listen on {api_listen}, beyond this machine, without a password: \
                 set [api] password_hash (from `shoal daemon --hash-password`) or listen on 127.0.0.1"
            )));
        }
        if let Some(h) = &file.api.password_hash {
            argon2::PasswordHash::new(h)
                .map_err(|e| DaemonError::Config(format!("[api] password_hash: {e}")))?;
        }
        let s = file.session;
        let download_dir = s.download_dir.unwrap_or_else(default_download_dir);
        let mut download_roots = if roots.is_empty() {
            s.download_roots
        } else {
            roots
        };
        if download_roots.is_empty() {
            download_roots.push(download_dir.clone());
        }
        let peer_listen = match s.listen {
            Some(a) => a,
            None => SocketAddr::from(([0, 0, 0, 0], 51413)),
        };
        Ok(DaemonConfig {
            api_listen,
            username: file.api.username.unwrap_or_else(|| "shoal".into()),
            password_hash: file.api.password_hash,
            allowed_hosts: file.api.allowed_hosts,
            peer_listen,
            download_dir,
            download_roots,
            watch_dir: s.watch_dir,
            state_dir: state_dir.or(s.state_dir).unwrap_or_else(default_state_dir),
            dht: s.dht.unwrap_or(true),
            settings: s.settings,
        })
    }
}

/// Hash a password for `[api] password_hash` (argon2id, random salt).
pub fn hash_password(password: &str) -> Result<String, DaemonError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DaemonError::Config(format!("cannot hash the password: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_api_needs_a_password() {
        let file: ConfigFile = toml::from_str("[api]\nlisten = \"0.0.0.0:9091\"\n").unwrap();
        let err = DaemonConfig::resolve(file, None, None, vec![]).unwrap_err();
        assert!(err.to_string().contains("without a password"), "{err}");
        let hash = hash_password("pw").unwrap();
        let file: ConfigFile = toml::from_str(&format!(
            "[api]\nlisten = \"0.0.0.0:9091\"\npassword_hash = \"{hash}\"\n[session]\ndownload_dir = \"/srv/dl\"\nupload_limit = 1000\n"
        ))
        .unwrap();
        let cfg = DaemonConfig::resolve(file, None, None, vec![]).unwrap();
        assert_eq!(cfg.download_roots, vec![PathBuf::from("/srv/dl")]);
        assert_eq!(cfg.settings.upload_limit, Some(1000));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<ConfigFile>("[api]\nlisten_typo = 1\n").is_err());
    }
}
