//! `shoal remote`: drive a running `shoal daemon` over its REST API.

use std::path::PathBuf;

use anyhow::{bail, Context};
use base64::Engine as _;
use serde_json::{json, Value};

/// Options of `shoal remote`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The daemon's address.
    #[arg(long, env = "SHOAL_URL", default_value = "http://127.0.0.1:9091")]
    pub url: String,
    /// User name.
    #[arg(long, default_value = "shoal")]
    pub user: String,
    /// Password (or the SHOAL_PASSWORD environment variable).
    #[arg(long, env = "SHOAL_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// A remote action.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Add a .torrent file, magnet link or URL.
    Add {
        /// A .torrent file on this machine, a magnet link or an http(s) URL.
        source: String,
        /// Download directory (on the daemon's machine, inside its roots).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Add paused.
        #[arg(long)]
        paused: bool,
        /// A label (repeatable).
        #[arg(long = "label")]
        labels: Vec<String>,
    },
    /// List torrents.
    List {
        /// Print the JSON the daemon returns.
        #[arg(long)]
        json: bool,
    },
    /// Show one torrent.
    Info {
        /// Id or info-hash.
        id: String,
    },
    /// Pause torrents.
    Pause {
        /// Ids or info-hashes.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Resume torrents.
    Resume {
        /// Ids or info-hashes.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Remove torrents.
    Remove {
        /// Ids or info-hashes.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Delete the downloaded data too.
        #[arg(long)]
        delete_data: bool,
    },
    /// Hash a torrent's data again.
    Recheck {
        /// Ids or info-hashes.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Move a torrent's data.
    Move {
        /// Id or info-hash.
        id: String,
        /// New download directory.
        dir: PathBuf,
    },
    /// Session totals.
    Stats,
}

struct Client {
    http: reqwest::Client,
    base: String,
    user: String,
    password: Option<String>,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/api{path}", self.base.trim_end_matches('/'));
        let mut req = self.http.request(method, &url).header("X-Shoal-Csrf", "1");
        if let Some(pw) = &self.password {
            req = req.basic_auth(&self.user, Some(pw));
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&b)?);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the daemon at {}", self.base))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        if !status.is_success() {
            let msg = value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            bail!("{status}: {msg}");
        }
        Ok(value)
    }
}

fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Run a remote action.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<()> {
    let c = Client {
        http: reqwest::Client::new(),
        base: args.url,
        user: args.user,
        password: args.password,
    };
    use reqwest::Method;
    match args.action {
        Action::Add {
            source,
            dir,
            paused,
            labels,
        } => {
            let mut body = json!({ "paused": paused, "labels": labels });
            if let Some(d) = dir {
                body["download_dir"] = json!(d);
            }
            if source.starts_with("magnet:") {
                body["magnet"] = json!(source);
            } else if source.starts_with("http://") || source.starts_with("https://") {
                body["url"] = json!(source);
            } else {
                let bytes =
                    std::fs::read(&source).with_context(|| format!("cannot read {source}"))?;
                body["metainfo"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
            let t = c.call(Method::POST, "/torrents", Some(body)).await?;
            println!(
                "added {} {} ({})",
                t["id"],
                t["name"].as_str().unwrap_or(""),
                t["info_hash"].as_str().unwrap_or("")
            );
        }
        Action::List { json } => {
            let list = c.call(Method::GET, "/torrents", None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            println!(
                "{:>5} {:>6} {:>10} {:>10} {:>10}  {:<11} Name",
                "ID", "Done", "Have", "Down", "Up", "State"
            );
            for t in list.as_array().into_iter().flatten() {
                println!(
                    "{:>5} {:>5.1}% {:>10} {:>8}/s {:>8}/s  {:<11} {}",
                    t["id"],
                    t["progress"].as_f64().unwrap_or(0.0) * 100.0,
                    human(t["have_bytes"].as_u64().unwrap_or(0)),
                    human(t["download_rate"].as_u64().unwrap_or(0)),
                    human(t["upload_rate"].as_u64().unwrap_or(0)),
                    t["state"].as_str().unwrap_or(""),
                    t["name"].as_str().unwrap_or(""),
                );
            }
        }
        Action::Info { id } => {
            let t = c
                .call(Method::GET, &format!("/torrents/{id}"), None)
                .await?;
            println!("{}", serde_json::to_string_pretty(&t)?);
        }
        Action::Pause { ids } => {
            for id in ids {
                c.call(Method::POST, &format!("/torrents/{id}/pause"), None)
                    .await?;
            }
        }
        Action::Resume { ids } => {
            for id in ids {
                c.call(Method::POST, &format!("/torrents/{id}/resume"), None)
                    .await?;
            }
        }
        Action::Recheck { ids } => {
            for id in ids {
                c.call(Method::POST, &format!("/torrents/{id}/recheck"), None)
                    .await?;
            }
        }
        Action::Remove { ids, delete_data } => {
            for id in ids {
                c.call(
                    Method::DELETE,
                    &format!("/torrents/{id}?delete_data={delete_data}"),
                    None,
                )
                .await?;
            }
        }
        Action::Move { id, dir } => {
            c.call(
                Method::POST,
                &format!("/torrents/{id}/move"),
                Some(json!({ "download_dir": dir, "move_data": true })),
            )
            .await?;
        }
        Action::Stats => {
            let s = c.call(Method::GET, "/stats", None).await?;
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
    }
    Ok(())
}
