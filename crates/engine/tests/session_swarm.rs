//! One seeding session and two leeching sessions exchange a multi-file
//! torrent with odd sizes and a zero-length file over loopback.

mod session_support;

use session_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeder_and_two_leechers_multi_file() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let content = seed_dir.join("album");
    write_content(
        &content,
        &[
            ("a.bin", 100_001),
            ("empty.txt", 0),
            ("sub/b.bin", 333_333),
            ("sub/deeper/c.bin", 16_385),
            ("z.bin", 7),
        ],
        42,
    );
    let torrent = make_torrent(&content, 32 * 1024);
    assert!(torrent.layout.files.iter().any(|f| f.length == 0));

    let s0 = session(None, None).await;
    let seed = add(&s0, &torrent, &seed_dir, vec![]).await;
    assert!(seed.stats().complete);

    // Leecher 1 knows the seeder; leecher 2 knows both.
    let s1 = session(None, None).await;
    let s2 = session(None, None).await;
    let dl1 = tmp.path().join("dl1");
    let dl2 = tmp.path().join("dl2");
    let h1 = add(&s1, &torrent, &dl1, vec![s0.local_addr()]).await;
    let h2 = add(&s2, &torrent, &dl2, vec![s0.local_addr(), s1.local_addr()]).await;
    complete_within(&h1, 30).await;
    complete_within(&h2, 30).await;

    assert_same_tree(&seed_dir, &dl1);
    assert_same_tree(&seed_dir, &dl2);
    assert!(dl1.join("album/empty.txt").is_file());
    assert_eq!(
        std::fs::metadata(dl2.join("album/empty.txt"))
            .unwrap()
            .len(),
        0
    );
    assert_eq!(h1.stats().downloaded, torrent.total_length());
    for h in [&h1, &h2, &seed] {
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_without_downloading_again() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("one.bin", 1_000_000)], 7);
    let torrent = make_torrent(&seed_dir.join("one.bin"), 64 * 1024);
    let s0 = session(None, None).await;
    let seed = add(&s0, &torrent, &seed_dir, vec![]).await;

    let dl = tmp.path().join("dl");
    let s1 = session(None, None).await;
    let h = add(&s1, &torrent, &dl, vec![s0.local_addr()]).await;
    complete_within(&h, 30).await;
    h.stop().await;
    drop(s1);

    // A new session on the same directory trusts the resume file.
    let s2 = session(None, None).await;
    let (h2, report) = s2
        .add_torrent(
            torrent.clone(),
            shoal_engine::AddTorrentOptions {
                dir: dl.clone(),
                peers: vec![],
                use_trackers: false,
                check_progress: None,
                super_seed: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(report.hashed_bytes, 0, "{report:?}");
    assert!(h2.stats().complete);
    assert_eq!(h2.stats().downloaded, 0);
    h2.stop().await;
    seed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_metadata_from_a_seeder() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    // Enough files that the info dictionary spans several 16 KiB pieces.
    let files: Vec<(String, usize)> = (0..1500)
        .map(|i| (format!("f/file-{i:04}.bin"), 100 + i % 500))
        .collect();
    let refs: Vec<(&str, usize)> = files.iter().map(|(p, n)| (p.as_str(), *n)).collect();
    write_content(&seed_dir, &refs, 9);
    let torrent = make_torrent(&seed_dir.join("f"), 16 * 1024);
    assert!(torrent.info_bytes.len() > 2 * 16 * 1024);
    let s0 = session(None, None).await;
    let seed = add(&s0, &torrent, &seed_dir, vec![]).await;

    let s1 = session(None, None).await;
    let magnet = torrent.magnet();
    let fetched = s1
        .fetch_magnet(
            &magnet,
            &[s0.local_addr()],
            false,
            std::time::Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(fetched.info_hash, torrent.info_hash);
    assert_eq!(fetched.info_bytes, torrent.info_bytes);
    let dl = tmp.path().join("dl");
    let h = add(&s1, &fetched, &dl, vec![s0.local_addr()]).await;
    complete_within(&h, 30).await;
    assert_same_tree(&seed_dir, &dl);
    h.stop().await;
    seed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_seeds_part_and_stay_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("x.bin", 300_000)], 11);
    let torrent = make_torrent(&seed_dir.join("x.bin"), 32 * 1024);
    let s0 = session(None, None).await;
    let a = add(&s0, &torrent, &seed_dir, vec![]).await;
    let s1 = session(None, None).await;
    let b = add(&s1, &torrent, &seed_dir, vec![s0.local_addr()]).await;
    // They meet, find nothing to trade, and do not come back.
    let wait = |secs| tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    let tick = || tokio::time::sleep(std::time::Duration::from_millis(100));
    let deadline = wait(20);
    while a.stats().peers_seen == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the seeds never connected"
        );
        tick().await;
    }
    let deadline = wait(10);
    while a.stats().peers + b.stats().peers > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the seeds never parted"
        );
        tick().await;
    }
    // Staying apart: no reconnection for a while (a reconnection would
    // show for at least one housekeeping tick of 500 ms).
    let until = wait(6);
    while tokio::time::Instant::now() < until {
        assert_eq!(a.stats().peers + b.stats().peers, 0, "the seeds met again");
        tick().await;
    }
    assert_eq!(b.stats().peers_seen, 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_limit_is_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("r.bin", 1_000_000)], 13);
    let torrent = make_torrent(&seed_dir.join("r.bin"), 64 * 1024);
    let s0 = session(None, None).await;
    let seed = add(&s0, &torrent, &seed_dir, vec![]).await;
    let s1 = session(None, Some(500_000)).await;
    let start = std::time::Instant::now();
    let h = add(&s1, &torrent, &tmp.path().join("dl"), vec![s0.local_addr()]).await;
    complete_within(&h, 30).await;
    let t = start.elapsed().as_secs_f64();
    // 1 MB at 500 kB/s, less the first burst (100 kB): at least 1.6 s.
    assert!(t >= 1.5, "finished in {t:.2} s despite the limit");
    assert!(t < 10.0, "{t:.2} s");
    h.stop().await;
    seed.stop().await;
}

/// A caller that stops waiting for `add_torrent` (e.g. on Ctrl-C during
/// the initial check) stops the check too: it no longer hashes the rest of
/// the data on the blocking pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_add_stops_its_check() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;
    let tmp = tempfile::tempdir().unwrap();
    // 4 GiB of sparse data against made-up hashes: a long check that
    // costs no disk space.
    let (len, plen) = (4u64 << 30, 4u64 << 20);
    std::fs::File::create(tmp.path().join("big.bin"))
        .unwrap()
        .set_len(len)
        .unwrap();
    let n = (len / plen) as usize * 20;
    let mut bytes =
        format!("d4:infod6:lengthi{len}e4:name7:big.bin12:piece lengthi{plen}e6:pieces{n}:")
            .into_bytes();
    bytes.extend(vec![0u8; n]);
    bytes.extend(b"ee");
    let torrent = shoal_metainfo::Torrent::from_bytes(&bytes).unwrap();

    let s = session(None, None).await;
    let hashed = std::sync::Arc::new(AtomicU64::new(0));
    let add = s.add_torrent(
        torrent,
        shoal_engine::AddTorrentOptions {
            dir: tmp.path().to_path_buf(),
            check_progress: Some(hashed.clone()),
            ..Default::default()
        },
    );
    let under_way = async {
        while hashed.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        r = add => panic!("a 4 GiB check ended before we gave up: {:?}", r.err()),
        _ = under_way => {}
    }
    // Each hashing thread finishes the batch (about 1 MiB) it is on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let a = hashed.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = hashed.load(Ordering::Relaxed);
    assert_eq!(a, b, "the check went on after its caller gave up");
    assert!(b < len);
}
