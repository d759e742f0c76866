//! `shoal daemon`: one long-running session for many torrents, driven over
//! HTTP: a REST/JSON API (`/api/`), Transmission's RPC
//! (`/transmission/rpc`), Prometheus metrics (`/metrics`) and the web UI
//! (`/`). The API is documented in `docs/api.md`.
//!
//! * [`config`] — the TOML file and flags.
//! * [`store`] — the state directory (torrent list, settings).
//! * [`paths`] — download roots: where clients may put data.
//! * [`registry`] — the torrents and every operation on them.
//! * [`server`] — the HTTP service and the daemon's main loop.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]
#![recursion_limit = "512"]

pub mod config;
pub mod error;
pub mod events;
mod live;
mod metrics;
mod openapi;
pub mod paths;
pub mod registry;
mod rest;
mod rpc;
mod security;
pub mod server;
pub mod store;
mod ui;
mod watch;

pub use config::{ConfigFile, DaemonConfig, Settings};
pub use error::DaemonError;
pub use server::run;
