//! Debian's `transmission-remote` drives `shoal daemon` through
//! Transmission's RPC, with Basic auth: add (file and magnet), list, info,
//! start/stop, verify, move, remove (with and without data), session info
//! and stats; the torrents download from libtorrent seeders found through a
//! tracker and show 100% in `-l`.

mod common;
mod daemon_util;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use daemon_util::*;

fn remote(d: &Daemon, auth: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("transmission-remote");
    cmd.arg(d.tr_addr());
    if let Some(a) = auth {
        cmd.args(["-n", a]);
    }
    cmd.args(args);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(30));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    (out.status.success(), text)
}

/// The `-l` line of torrent `id`.
fn list_line(d: &Daemon, id: u64) -> Option<String> {
    let (_, out) = remote(d, Some("shoal:sesame"), &["-l"]);
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
        .map(str::to_owned)
}

#[test]
fn transmission_remote_drives_the_daemon() {
    require("transmission-remote");
    require_libtorrent();
    let dir = tempdir();
    let (_tracker, announce) = start_tracker(dir.path());
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let file_torrent = make_torrent(&seed_dir, "file.bin", 1 << 20, 1, Some(&announce));
    let magnet_torrent = make_torrent(&seed_dir, "magnet.bin", 700_000, 2, Some(&announce));
    let _s1 = start_lt_seeder(dir.path(), "lt-seed-1", &file_torrent, &seed_dir);
    let _s2 = start_lt_seeder(dir.path(), "lt-seed-2", &magnet_torrent, &seed_dir);

    let root = dir.path().join("dl");
    let hash = hash_password("sesame");
    let config = format!("[api]\npassword_hash = \"{hash}\"\n");
    let d = Daemon::start("daemon", dir.path(), &root, &config, &[]);
    let auth = Some("shoal:sesame");

    // Without credentials, and with wrong ones: refused.
    let (ok, out) = remote(&d, None, &["-l"]);
    assert!(!ok || out.contains("401"), "no auth accepted: {out}");
    let (ok, out) = remote(&d, Some("shoal:wrong"), &["-l"]);
    assert!(!ok || out.contains("401"), "wrong password accepted: {out}");

    // -a with a file, then with a magnet link.
    let (ok, out) = remote(&d, auth, &["-a", file_torrent.to_str().unwrap()]);
    assert!(ok && out.contains("success"), "{out}");
    let info = run_with_timeout(
        shoal().arg("info").arg(&magnet_torrent).arg("--json"),
        Duration::from_secs(10),
    );
    let magnet = serde_json::from_str::<serde_json::Value>(&stdout(&info)).unwrap()["magnet"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ok, out) = remote(&d, auth, &["-a", &magnet]);
    assert!(ok && out.contains("success"), "{out}");

    // Both download from libtorrent and show 100% in -l.
    for id in [1, 2] {
        wait_for(Duration::from_secs(60), "100% in -l", || {
            list_line(&d, id).filter(|l| l.contains("100%"))
        });
    }
    let (_, list) = remote(&d, auth, &["-l"]);
    assert!(
        list.contains("file.bin") && list.contains("magnet.bin"),
        "{list}"
    );
    assert_eq!(
        sha256_file(&root.join("file.bin")),
        sha256_file(&seed_dir.join("file.bin"))
    );
    assert_eq!(
        sha256_file(&root.join("magnet.bin")),
        sha256_file(&seed_dir.join("magnet.bin"))
    );

    // -i shows the details.
    let (ok, out) = remote(&d, auth, &["-t", "1", "-i"]);
    assert!(ok, "{out}");
    assert!(out.contains("Name: file.bin"), "{out}");
    assert!(out.contains("Percent Done: 100%"), "{out}");
    assert!(
        out.contains(&format!(
            "Location: {}",
            std::fs::canonicalize(&root).unwrap().display()
        )),
        "{out}"
    );

    // -S stops, -s starts again.
    let (ok, out) = remote(&d, auth, &["-t", "1", "-S"]);
    assert!(ok, "{out}");
    assert!(list_line(&d, 1).unwrap().contains("Stopped"));
    let (ok, out) = remote(&d, auth, &["-t", "1", "-s"]);
    assert!(ok, "{out}");
    wait_for(Duration::from_secs(20), "torrent 1 to run again", || {
        list_line(&d, 1).filter(|l| !l.contains("Stopped") && l.contains("100%"))
    });

    // -v rechecks all the data: still 100%.
    let (ok, out) = remote(&d, auth, &["-t", "1", "-v"]);
    assert!(ok, "{out}");
    wait_for(Duration::from_secs(20), "the recheck to finish", || {
        list_line(&d, 1).filter(|l| l.contains("100%") && !l.contains("Verifying"))
    });

    // --move moves the data inside the roots; /etc is refused, nothing made.
    let moved = root.join("moved");
    let (ok, out) = remote(&d, auth, &["-t", "1", "--move", moved.to_str().unwrap()]);
    assert!(ok, "{out}");
    wait_for(Duration::from_secs(20), "the moved data", || {
        (moved.join("file.bin").exists() && !root.join("file.bin").exists()).then_some(())
    });
    let (_, out) = remote(&d, auth, &["-t", "1", "--move", "/etc/shoal-test-move"]);
    assert!(out.contains("outside the download roots"), "{out}");
    assert!(!Path::new("/etc/shoal-test-move").exists());
    wait_for(Duration::from_secs(20), "100% after the move", || {
        list_line(&d, 1).filter(|l| l.contains("100%"))
    });

    // -si and -st.
    let (ok, out) = remote(&d, auth, &["-si"]);
    assert!(ok && out.contains("4.0.6 (Shoal"), "{out}");
    assert!(
        out.contains(&format!("Listenport: {}", d.peer_port)),
        "{out}"
    );
    let (ok, out) = remote(&d, auth, &["-st"]);
    assert!(
        ok && out.contains("CURRENT SESSION") && out.contains("Downloaded:"),
        "{out}"
    );
    assert!(
        !out.contains("Downloaded: None"),
        "stats count no download: {out}"
    );

    // -r removes and keeps the data; -rad deletes it too.
    let (ok, out) = remote(&d, auth, &["-t", "2", "-r"]);
    assert!(ok, "{out}");
    assert!(list_line(&d, 2).is_none());
    assert!(root.join("magnet.bin").exists());
    let (ok, out) = remote(&d, auth, &["-t", "1", "-rad"]);
    assert!(ok, "{out}");
    assert!(list_line(&d, 1).is_none());
    assert!(!moved.join("file.bin").exists(), "-rad left the data");
    assert!(d.alive(), "{}", d.log.logs());
}
