//! The multi-torrent session against a real client: a torrent added with
//! `Session::add` downloads from a libtorrent seeder (Debian's
//! python3-libtorrent, `crates/shoal/tests/scripts/lt_node.py`) on
//! loopback, with its peer list showing libtorrent while it runs, a pause
//! in the middle, and the events in order.

mod session_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use session_support::*;
use shoal_engine::{AddOptions, EventKind, TorrentSource, TorrentStatus};

/// Kills the child process (by its handle) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shoal/tests/scripts/lt_node.py")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_downloads_from_a_libtorrent_seeder() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("seed");
    write_content(
        &seed_dir.join("show"),
        &[("e01.bin", 2_000_000), ("e02.bin", 1_000_001)],
        21,
    );
    let torrent = make_torrent(&seed_dir.join("show"), 64 * 1024);
    let torrent_file = tmp.path().join("show.torrent");
    let mut bytes = b"d4:info".to_vec();
    bytes.extend_from_slice(&torrent.info_bytes);
    bytes.push(b'e');
    std::fs::write(&torrent_file, &bytes).unwrap();

    // libtorrent seeds at 1.5 MB/s, so the download lasts about 2 s.
    let port = free_port();
    let mut child = Command::new("/usr/bin/python3")
        .arg(script())
        .arg(&torrent_file)
        .arg(&seed_dir)
        .arg(port.to_string())
        .args(["--seed", "--up", "1500000", "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run /usr/bin/python3 (python3-libtorrent)");
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.trim() == "seeding")
    });
    let ready = tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("libtorrent seeding within 30 s")
        .unwrap();
    assert!(ready, "libtorrent exited before seeding");

    let s = session(None, None).await;
    let mut rx = s.subscribe();
    let dl = tmp.path().join("dl");
    let id = s
        .add(
            TorrentSource::File(torrent_file.clone()),
            AddOptions {
                download_dir: Some(dl.clone()),
                peers: vec![([127, 0, 0, 1], port).into()],
                use_trackers: false,
                labels: vec!["tv".into()],
                ..AddOptions::default()
            },
        )
        .await
        .unwrap();

    // While it downloads, the peer list shows libtorrent sending.
    let mut kinds = Vec::new();
    let mut saw_peer = None;
    let mut paused_once = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        let e = tokio::select! {
            e = rx.recv() => Some(e.unwrap()),
            _ = tokio::time::sleep(Duration::from_millis(50)) => None,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "not complete within 45 s: {:?} {kinds:?}",
            s.get(id)
        );
        if saw_peer.is_none() {
            saw_peer = s
                .peers(id)
                .unwrap()
                .into_iter()
                .find(|p| p.client.to_lowercase().contains("libtorrent") && p.downloaded > 0);
        }
        if !paused_once && s.get(id).unwrap().have_bytes > 1_000_000 {
            // Pause and resume halfway: it picks up where it was.
            paused_once = true;
            s.pause(id).await.unwrap();
            assert_eq!(s.get(id).unwrap().status, TorrentStatus::Paused);
            assert!(s.peers(id).unwrap().is_empty());
            s.resume(id).unwrap();
        }
        let Some(e) = e else { continue };
        kinds.push(e.kind.clone());
        if e.kind == EventKind::StateChanged(TorrentStatus::Seeding) {
            break;
        }
    }
    assert_eq!(kinds[0], EventKind::Added);
    let completed = kinds.iter().position(|k| *k == EventKind::Completed);
    assert_eq!(completed, Some(kinds.len() - 2), "{kinds:?}");
    assert!(paused_once);
    assert!(kinds.contains(&EventKind::StateChanged(TorrentStatus::Paused)));
    let peer = saw_peer.expect("libtorrent in the peer list while downloading");
    assert_eq!(peer.address.port(), port);
    assert_same_tree(&seed_dir, &dl);
    let done = s.get(id).unwrap();
    assert_eq!(done.progress, 1.0);
    assert_eq!(done.settings.labels, ["tv"]);
    assert!(
        done.downloaded < torrent.total_length() + 256 * 1024,
        "{done:?}"
    );
    s.shutdown().await;
    drop(child);
}
