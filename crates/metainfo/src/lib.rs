//! Torrent metainfo (v1), magnet URIs, parallel creation and verification.
