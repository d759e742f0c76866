//! Shoal BitTorrent session engine.
