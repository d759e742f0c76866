//! The multi-torrent session API (`Session::add` and the operations by
//! id) with real transfers between sessions on loopback: events, pause and
//! resume, remove with data, recheck, move, file selection, queueing and
//! seeding goals.

mod session_support;

use std::path::Path;
use std::time::Duration;

use session_support::*;
use shoal_engine::{
    AddOptions, EventKind, FilePriority, Limit, Session, SessionEvent, SessionSettings, TorrentId,
    TorrentSource, TorrentStatus, TorrentUpdate,
};
use shoal_metainfo::Torrent;
use tokio::sync::broadcast::Receiver;

/// Wait for the first event about `id` that `pred` accepts, failing the
/// test after `secs` seconds; returns every event about `id` seen on the
/// way (that one included).
async fn until(
    rx: &mut Receiver<SessionEvent>,
    id: TorrentId,
    secs: u64,
    pred: impl Fn(&EventKind) -> bool,
) -> Vec<EventKind> {
    let mut seen = Vec::new();
    let wait = async {
        loop {
            let e = rx.recv().await.expect("event channel");
            if e.id != id {
                continue;
            }
            let hit = pred(&e.kind);
            seen.push(e.kind);
            if hit {
                return;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(secs), wait)
        .await
        .is_err()
    {
        panic!("no such event within {secs} s; saw {seen:?}");
    }
    seen
}

fn is_state(s: TorrentStatus) -> impl Fn(&EventKind) -> bool {
    move |k| *k == EventKind::StateChanged(s)
}

/// Add `torrent` with data under `dir`, dialing `peers`, no trackers.
async fn add_to(
    s: &Session,
    torrent: &Torrent,
    dir: &Path,
    peers: Vec<std::net::SocketAddr>,
) -> TorrentId {
    s.add(
        TorrentSource::Torrent(Box::new(torrent.clone())),
        AddOptions {
            download_dir: Some(dir.to_path_buf()),
            peers,
            use_trackers: false,
            ..AddOptions::default()
        },
    )
    .await
    .unwrap()
}

/// A seeding session for `torrent` whose data is under `dir`, seeding
/// when this returns.
async fn seeder(torrent: &Torrent, dir: &Path, upload_limit: Option<u64>) -> (Session, TorrentId) {
    let s = session(upload_limit, None).await;
    let mut rx = s.subscribe();
    let id = add_to(&s, torrent, dir, vec![]).await;
    until(&mut rx, id, 20, is_state(TorrentStatus::Seeding)).await;
    (s, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_order_pause_stops_traffic_resume_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("movie.bin", 3 << 20)], 1);
    let torrent = make_torrent(&seed_dir.join("movie.bin"), 64 * 1024);
    // 1.5 MiB/s out of the seeder: the download takes about two seconds.
    let (s0, _) = seeder(&torrent, &seed_dir, Some(1536 * 1024)).await;

    let s1 = session(None, None).await;
    let mut rx = s1.subscribe();
    let dl = tmp.path().join("dl");
    let id = add_to(&s1, &torrent, &dl, vec![s0.local_addr()]).await;
    assert_eq!(s1.ids(), vec![(id, torrent.info_hash)]);
    assert_eq!(s1.find(&torrent.info_hash), Some(id));
    let seen = until(&mut rx, id, 20, is_state(TorrentStatus::Downloading)).await;
    assert_eq!(
        seen,
        [
            EventKind::Added,
            EventKind::StateChanged(TorrentStatus::Queued),
            EventKind::StateChanged(TorrentStatus::Checking),
            EventKind::StateChanged(TorrentStatus::Downloading),
        ]
    );

    // Wait until some data arrived, then pause.
    tokio::time::timeout(Duration::from_secs(20), async {
        while s1.get(id).unwrap().have_bytes < 512 * 1024 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("no data within 20 s");
    s1.pause(id).await.unwrap();
    until(&mut rx, id, 5, is_state(TorrentStatus::Paused)).await;
    let paused = s1.get(id).unwrap();
    assert_eq!(paused.status, TorrentStatus::Paused);
    assert_eq!(paused.peers, 0);
    assert!(paused.have_bytes < torrent.total_length(), "{paused:?}");
    assert!(s1.peers(id).unwrap().is_empty());
    // Nothing moves while paused (the seeder would send 1.5 MB in that time).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = s1.get(id).unwrap();
    assert_eq!(later.downloaded, paused.downloaded);
    assert_eq!(later.have_bytes, paused.have_bytes);
    assert_eq!(s0.stats().peers, 0, "the seeder sees the connection gone");

    // Resume: it continues from where it was (no piece fetched twice).
    s1.resume(id).unwrap();
    let seen = until(&mut rx, id, 30, |k| *k == EventKind::Completed).await;
    assert_eq!(
        seen,
        [
            EventKind::StateChanged(TorrentStatus::Queued),
            EventKind::StateChanged(TorrentStatus::Checking),
            EventKind::StateChanged(TorrentStatus::Downloading),
            EventKind::Completed,
        ]
    );
    until(&mut rx, id, 5, is_state(TorrentStatus::Seeding)).await;
    let done = s1.get(id).unwrap();
    assert_eq!(done.progress, 1.0);
    assert_eq!(done.left_until_done, 0);
    assert!(done.done_at.is_some());
    assert!(
        done.downloaded < torrent.total_length() + 256 * 1024,
        "pieces downloaded twice: {done:?}"
    );
    assert_same_tree(&seed_dir, &dl);
    let pieces = s1.pieces(id).unwrap();
    assert_eq!(pieces.have, pieces.piece_count);
    let files = s1.files(id).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].have, files[0].length);

    s1.shutdown().await;
    s0.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_with_data_deletes_only_the_torrents_files() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(
        &seed_dir.join("album"),
        &[("a.bin", 200_000), ("sub/b.bin", 100_000)],
        2,
    );
    let torrent = make_torrent(&seed_dir.join("album"), 32 * 1024);
    let (s0, _) = seeder(&torrent, &seed_dir, None).await;

    let dl = tmp.path().join("dl");
    // Someone else's files in the same directory and in the torrent's
    // folder stay.
    write_content(&dl, &[("other.txt", 10), ("album/mine.txt", 5)], 3);
    let s1 = session(None, None).await;
    let mut rx = s1.subscribe();
    let id = add_to(&s1, &torrent, &dl, vec![s0.local_addr()]).await;
    until(&mut rx, id, 30, |k| *k == EventKind::Completed).await;
    assert!(dl.join("album/sub/b.bin").is_file());

    s1.remove(id, true).await.unwrap();
    until(&mut rx, id, 5, |k| *k == EventKind::Removed).await;
    assert!(s1.list().is_empty());
    assert!(s1.get(id).is_err());
    assert!(!dl.join("album/a.bin").exists());
    assert!(!dl.join("album/sub").exists());
    assert!(dl.join("album/mine.txt").is_file());
    assert!(dl.join("other.txt").is_file());
    assert!(!shoal_engine::resume::resume_path(&dl, &torrent.info_hash).exists());

    // Without data: the files stay.
    let id2 = add_to(&s1, &torrent, &dl, vec![s0.local_addr()]).await;
    assert_ne!(id2, id, "ids are not reused");
    until(&mut rx, id2, 30, |k| *k == EventKind::Completed).await;
    s1.remove(id2, false).await.unwrap();
    assert!(dl.join("album/a.bin").is_file());
    // Added again paused, it shows the progress its resume data records.
    let id3 = s1
        .add(
            TorrentSource::Torrent(Box::new(torrent.clone())),
            AddOptions {
                download_dir: Some(dl.clone()),
                paused: true,
                ..AddOptions::default()
            },
        )
        .await
        .unwrap();
    let paused = s1.get(id3).unwrap();
    assert_eq!(
        (paused.status, paused.progress),
        (TorrentStatus::Paused, 1.0)
    );
    s1.shutdown().await;
    s0.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recheck_finds_corruption_and_downloads_it_again() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("data.bin", 1 << 20)], 4);
    let torrent = make_torrent(&seed_dir.join("data.bin"), 64 * 1024);
    let (s0, _) = seeder(&torrent, &seed_dir, None).await;

    let dl = tmp.path().join("dl");
    let s1 = session(None, None).await;
    let mut rx = s1.subscribe();
    let id = add_to(&s1, &torrent, &dl, vec![]).await;
    // Alone, it cannot download: copy the data in, corrupt one piece.
    until(&mut rx, id, 20, is_state(TorrentStatus::Downloading)).await;
    s1.pause(id).await.unwrap();
    let mut bytes = std::fs::read(seed_dir.join("data.bin")).unwrap();
    bytes[5 * 64 * 1024 + 17] ^= 0xff;
    std::fs::write(dl.join("data.bin"), &bytes).unwrap();
    s1.recheck(id).await.unwrap();
    s1.resume(id).unwrap();
    until(&mut rx, id, 20, is_state(TorrentStatus::Downloading)).await;
    let s = s1.get(id).unwrap();
    assert_eq!(s.pieces_have, s.piece_count - 1, "{s:?}");
    assert_eq!(s.left_until_done, 64 * 1024);
    let pieces = s1.pieces(id).unwrap();
    assert_eq!(pieces.bitfield[0], 0b1111_1011, "piece 5 is missing");

    // Given a peer, it fetches the corrupt piece only.
    s1.pause(id).await.unwrap();
    s1.remove(id, false).await.unwrap();
    let id = s1
        .add(
            TorrentSource::Bytes(shoal_metainfo_bytes(&torrent)),
            AddOptions {
                download_dir: Some(dl.clone()),
                peers: vec![s0.local_addr()],
                use_trackers: false,
                ..AddOptions::default()
            },
        )
        .await
        .unwrap();
    until(&mut rx, id, 30, |k| *k == EventKind::Completed).await;
    assert_eq!(s1.get(id).unwrap().downloaded, 64 * 1024);
    assert_same_tree(&seed_dir, &dl);
    s1.shutdown().await;
    s0.shutdown().await;
}

/// The `.torrent` bytes of a torrent made by the creator.
fn shoal_metainfo_bytes(t: &Torrent) -> Vec<u8> {
    let mut out = b"d4:info".to_vec();
    out.extend_from_slice(&t.info_bytes);
    out.push(b'e');
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_keeps_seeding_without_rehashing() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(
        &seed_dir.join("pack"),
        &[("x.bin", 300_000), ("y/z.bin", 5)],
        5,
    );
    let torrent = make_torrent(&seed_dir.join("pack"), 32 * 1024);
    let (s0, id0) = seeder(&torrent, &seed_dir, None).await;
    let mut rx0 = s0.subscribe();

    let moved = tmp.path().join("elsewhere");
    s0.move_data(id0, moved.clone(), true).await.unwrap();
    until(&mut rx0, id0, 20, is_state(TorrentStatus::Seeding)).await;
    assert!(moved.join("pack/x.bin").is_file());
    assert!(!seed_dir.join("pack").exists());
    assert_eq!(s0.get(id0).unwrap().download_dir, moved);
    assert_eq!(s0.get(id0).unwrap().progress, 1.0);

    // A leecher gets it from the new place.
    let dl = tmp.path().join("dl");
    let s1 = session(None, None).await;
    let mut rx1 = s1.subscribe();
    let id1 = add_to(&s1, &torrent, &dl, vec![s0.local_addr()]).await;
    until(&mut rx1, id1, 30, |k| *k == EventKind::Completed).await;
    assert_same_tree(&moved, &dl);
    s1.shutdown().await;
    s0.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_files_stay_absent_and_wanted_ones_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    // 64 KiB pieces: b.bin shares its first and last piece with a and c;
    // d.bin starts at piece 8 (a + b + c = 8 pieces) and shares none.
    write_content(
        &seed_dir.join("set"),
        &[
            ("a.bin", 100_000),
            ("b.bin", 324_288),
            ("c.bin", 100_000),
            ("d.bin", 400_000),
        ],
        6,
    );
    let torrent = make_torrent(&seed_dir.join("set"), 64 * 1024);
    let (s0, _) = seeder(&torrent, &seed_dir, None).await;

    let dl = tmp.path().join("dl");
    let s1 = session(None, None).await;
    let mut rx = s1.subscribe();
    let id = s1
        .add(
            TorrentSource::Torrent(Box::new(torrent.clone())),
            AddOptions {
                download_dir: Some(dl.clone()),
                peers: vec![s0.local_addr()],
                use_trackers: false,
                paused: true,
                ..AddOptions::default()
            },
        )
        .await
        .unwrap();
    let files = s1.files(id).unwrap();
    let index = |name: &str| files.iter().find(|f| f.path.ends_with(name)).unwrap().index;
    s1.set_file_priority(id, &[index("b.bin"), index("d.bin")], FilePriority::Skip)
        .unwrap();
    s1.resume(id).unwrap();
    until(&mut rx, id, 30, |k| *k == EventKind::Completed).await;
    let s = s1.get(id).unwrap();
    assert_eq!(s.progress, 1.0);
    assert!(s.pieces_have < s.piece_count);
    assert!(s.wanted_size < s.total_size);
    for name in ["a.bin", "c.bin"] {
        assert_eq!(
            std::fs::read(dl.join("set").join(name)).unwrap(),
            std::fs::read(seed_dir.join("set").join(name)).unwrap()
        );
    }
    assert!(!dl.join("set/d.bin").exists(), "d.bin shares no piece");
    let files = s1.files(id).unwrap();
    let d = &files[index("d.bin")];
    assert_eq!((d.have, d.priority), (0, FilePriority::Skip));
    // b.bin holds at most the two pieces it shares with a and c.
    let b = &files[index("b.bin")];
    assert!(b.have <= 2 * 64 * 1024, "{b:?}");
    // On disk too: b.bin is sparse, with at most those two pieces written.
    use std::os::unix::fs::MetadataExt;
    let allocated = std::fs::metadata(dl.join("set/b.bin")).unwrap().blocks() * 512;
    assert!(
        allocated <= 2 * 64 * 1024 + 8192,
        "b.bin has {allocated} bytes on disk"
    );

    // Wanting d.bin later downloads it.
    s1.set_file_priority(id, &[index("d.bin")], FilePriority::High)
        .unwrap();
    until(&mut rx, id, 30, |k| *k == EventKind::Completed).await;
    assert_eq!(
        std::fs::read(dl.join("set/d.bin")).unwrap(),
        std::fs::read(seed_dir.join("set/d.bin")).unwrap()
    );
    s1.shutdown().await;
    s0.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_keeps_at_most_n_downloading() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    let mut torrents = Vec::new();
    for i in 0..3 {
        let name = format!("t{i}.bin");
        write_content(&seed_dir, &[(&name, 400_000)], 10 + i);
        torrents.push(make_torrent(&seed_dir.join(&name), 32 * 1024));
    }
    // One seeder session serves all three, slowly.
    let s0 = session(Some(600 * 1024), None).await;
    let mut rx0 = s0.subscribe();
    for t in &torrents {
        let id = add_to(&s0, t, &seed_dir, vec![]).await;
        until(&mut rx0, id, 20, is_state(TorrentStatus::Seeding)).await;
    }

    let s1 = session(None, None).await;
    s1.set_settings(SessionSettings {
        download_dir: tmp.path().join("dl"),
        max_active_downloads: Some(1),
        ..SessionSettings::default()
    });
    let mut rx = s1.subscribe();
    let mut ids = Vec::new();
    for t in &torrents {
        ids.push(add_to(&s1, t, &tmp.path().join("dl"), vec![s0.local_addr()]).await);
    }
    // Event-driven: every state change is checked against the limit.
    let mut completed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while completed < 3 {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("three downloads within 40 s")
            .unwrap();
        if e.kind == EventKind::Completed {
            completed += 1;
        }
        let active = s1
            .list()
            .iter()
            .filter(|t| {
                matches!(
                    t.status,
                    TorrentStatus::Downloading | TorrentStatus::Checking
                )
            })
            .count();
        assert!(active <= 1, "{active} active: {:?}", s1.list());
    }
    let positions: Vec<u32> = ids
        .iter()
        .map(|id| s1.get(*id).unwrap().queue_position)
        .collect();
    assert_eq!(positions, [0, 1, 2]);
    s1.shutdown().await;
    s0.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_ratio_goal_stops_seeding() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("r.bin", 500_000)], 8);
    let torrent = make_torrent(&seed_dir.join("r.bin"), 32 * 1024);
    let (s0, id0) = seeder(&torrent, &seed_dir, None).await;
    let mut rx0 = s0.subscribe();
    // Stop once one copy is uploaded.
    s0.update_torrent(
        id0,
        TorrentUpdate {
            seed_ratio: Some(Limit::Single(1.0)),
            labels: Some(vec!["goal".into()]),
            ..TorrentUpdate::default()
        },
    )
    .unwrap();
    let s1 = session(None, None).await;
    let mut rx1 = s1.subscribe();
    let id1 = add_to(&s1, &torrent, &tmp.path().join("dl"), vec![s0.local_addr()]).await;
    until(&mut rx1, id1, 30, |k| *k == EventKind::Completed).await;
    until(&mut rx0, id0, 10, is_state(TorrentStatus::Paused)).await;
    let s = s0.get(id0).unwrap();
    assert!(s.ratio >= 1.0, "{s:?}");
    assert_eq!(s.settings.labels, ["goal"]);
    assert_eq!(s0.stats().paused, 1);
    s1.shutdown().await;
    s0.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_torrent_and_turtle_limits_slow_the_transfer() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(&seed_dir, &[("l.bin", 600_000)], 9);
    let torrent = make_torrent(&seed_dir.join("l.bin"), 32 * 1024);
    let (s0, _) = seeder(&torrent, &seed_dir, None).await;

    // The leecher's own limit for this torrent: 250 KiB/s.
    let s1 = session(None, None).await;
    let mut rx = s1.subscribe();
    let id = s1
        .add(
            TorrentSource::Torrent(Box::new(torrent.clone())),
            AddOptions {
                download_dir: Some(tmp.path().join("dl1")),
                peers: vec![s0.local_addr()],
                use_trackers: false,
                paused: true,
                ..AddOptions::default()
            },
        )
        .await
        .unwrap();
    s1.update_torrent(
        id,
        TorrentUpdate {
            download_limit: Some(Some(250 * 1024)),
            ..TorrentUpdate::default()
        },
    )
    .unwrap();
    let start = std::time::Instant::now();
    s1.resume(id).unwrap();
    until(&mut rx, id, 30, |k| *k == EventKind::Completed).await;
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "600 KB at 250 KiB/s in {took:?}"
    );
    assert_eq!(
        s1.get(id).unwrap().settings.download_limit,
        Some(250 * 1024)
    );

    // The seeder's alternative ("turtle") upload limit: 250 KiB/s.
    s0.set_settings(SessionSettings {
        alt_upload_limit: Some(250 * 1024),
        alt_enabled: true,
        ..s0.settings()
    });
    let s2 = session(None, None).await;
    let mut rx2 = s2.subscribe();
    let start = std::time::Instant::now();
    let id2 = add_to(
        &s2,
        &torrent,
        &tmp.path().join("dl2"),
        vec![s0.local_addr()],
    )
    .await;
    until(&mut rx2, id2, 30, |k| *k == EventKind::Completed).await;
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "600 KB at 250 KiB/s in {took:?}"
    );
    s2.shutdown().await;
    s1.shutdown().await;
    s0.shutdown().await;
}
