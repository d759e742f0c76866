//! Which swarms a torrent is in: a v1 torrent in the swarm of its SHA-1
//! info-hash, a v2 torrent in that of its SHA-256 info-hash truncated to
//! 20 bytes (BEP 52), a hybrid torrent in both. Incoming connections on
//! any of them reach the one torrent; trackers and the DHT get an announce
//! for each.

use shoal_metainfo::Torrent;

/// The 20-byte swarm names of `torrent`, its primary
/// [`Torrent::info_hash`] first.
pub(crate) fn swarm_hashes(torrent: &Torrent) -> Vec<[u8; 20]> {
    let mut out = vec![torrent.info_hash.0];
    if let Some(v2) = torrent.info_hash_v2() {
        let h = v2.truncated().0;
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_metainfo::{CreateOptions, CreateProgress, Creator, MetaVersion};

    fn make(version: MetaVersion) -> Torrent {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), vec![7u8; 40_000]).unwrap();
        let opts = CreateOptions {
            version,
            ..CreateOptions::default()
        };
        Creator::scan(&dir.path().join("f"))
            .unwrap()
            .create(&opts, &CreateProgress::default())
            .unwrap()
            .1
    }

    #[test]
    fn hybrid_is_in_both_swarms_and_the_others_in_one() {
        let v1 = make(MetaVersion::V1);
        assert_eq!(swarm_hashes(&v1), vec![v1.info_hash.0]);
        let v2 = make(MetaVersion::V2);
        let v2_hash = v2.info_hash_v2().unwrap().truncated().0;
        assert_eq!(swarm_hashes(&v2), vec![v2_hash]);
        let hybrid = make(MetaVersion::Hybrid);
        let hs = swarm_hashes(&hybrid);
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[0], hybrid.info_hash_v1().unwrap().0);
        assert_eq!(hs[1], hybrid.info_hash_v2().unwrap().truncated().0);
    }
}
