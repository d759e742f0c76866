//! `shoal daemon`: one long-running session for many torrents, driven over
//! HTTP (a REST/JSON API, Transmission's RPC, Prometheus metrics). The API
//! is documented in `docs/api.md`; the modules land one by one.
