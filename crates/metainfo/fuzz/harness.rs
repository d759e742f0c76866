//! Checks shared by the metainfo fuzz targets and the corpus-replay test.
#![allow(dead_code)]

/// Parse `data` as a .torrent; an accepted torrent must be consistent and
/// every path component safe.
pub fn torrent(data: &[u8]) {
    if let Ok(t) = shoal_metainfo::Torrent::from_bytes(data) {
        assert_eq!(t.piece_hashes.len(), t.piece_count() as usize);
        assert!(t.total_length() > 0);
        for f in &t.layout.files {
            assert!(!f.path.is_empty());
            for c in &f.path {
                assert!(!c.is_empty() && c != "." && c != "..");
                assert!(!c.contains('/') && !c.contains('\\') && !c.contains('\0'));
            }
        }
        let _ = t.magnet().to_string();
    }
}

/// Parse `data` as a magnet link; an accepted link must round-trip.
pub fn magnet(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(m) = shoal_metainfo::Magnet::parse(s) {
            let again = shoal_metainfo::Magnet::parse(&m.to_string());
            assert_eq!(again.as_ref().ok(), Some(&m));
        }
    }
}
