//! Shoal tracker server (HTTP + UDP).
