//! `shoal daemon`'s REST API, event stream, metrics and watch directory,
//! driven by `shoal remote` and a raw HTTP client; SIGTERM stops it cleanly.

mod common;
mod daemon_util;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use daemon_util::*;
use serde_json::json;

fn remote(d: &Daemon, args: &[&str]) -> String {
    let out = run_with_timeout(
        shoal()
            .arg("remote")
            .arg("--url")
            .arg(format!("http://{}", d.api))
            .args(args),
        Duration::from_secs(20),
    );
    assert!(
        out.status.success(),
        "shoal remote {args:?}: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// Follow `/api/events`, sending each event name down the channel.
fn follow_events(d: &Daemon) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let mut s = TcpStream::connect(d.api).unwrap();
    write!(
        s,
        "GET /api/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        d.api
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(s).lines() {
            let Ok(line) = line else { break };
            if let Some(ev) = line.strip_prefix("event: ") {
                if tx.send(ev.trim().to_owned()).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

fn expect_event(rx: &mpsc::Receiver<String>, name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ev) if ev == name => return,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no {name:?} event");
}

#[test]
fn rest_api_events_remote_cli_and_watch_dir() {
    let dir = tempdir();
    let root = dir.path().join("dl");
    std::fs::create_dir_all(&root).unwrap();
    let watch = dir.path().join("watch");
    let torrent = make_torrent(&root, "show.bin", 200_000, 3, None);
    let other = make_torrent(dir.path(), "watched.bin", 50_000, 4, None);
    let mut d = Daemon::start(
        "daemon",
        dir.path(),
        &root,
        "",
        &["--watch-dir", watch.to_str().unwrap()],
    );
    let events = follow_events(&d);

    // Add through the CLI client; the data is there, so it seeds.
    let out = remote(&d, &["add", torrent.to_str().unwrap(), "--label", "tv"]);
    assert!(out.starts_with("added 1 show.bin"), "{out}");
    expect_event(&events, "added");
    expect_event(&events, "completed");
    let list = remote(&d, &["list"]);
    assert!(
        list.contains("show.bin") && list.contains("seeding") && list.contains("100.0%"),
        "{list}"
    );

    let t = d.get("/api/torrents/1");
    assert_eq!(t["labels"], json!(["tv"]));
    assert_eq!(t["piece_count"], 13);
    assert_eq!(t["state"], "seeding");
    let same = d.get(&format!(
        "/api/torrents/{}",
        t["info_hash"].as_str().unwrap()
    ));
    assert_eq!(same["id"], 1);
    let files = d.get("/api/torrents/1/files");
    assert_eq!(files[0]["path"], "show.bin");
    assert_eq!(files[0]["have"], 200_000);
    let pieces = d.get("/api/torrents/1/pieces");
    let bits = base64::engine::general_purpose::STANDARD
        .decode(pieces["bitfield"].as_str().unwrap())
        .unwrap();
    assert_eq!(bits, vec![0xff, 0xf8]);
    assert!(d.get("/api/torrents/1/peers").is_array());
    assert_eq!(d.get("/api/stats")["torrents"], 1);
    assert_eq!(d.get("/api/openapi.json")["openapi"], "3.0.3");
    let metrics = d.request("GET", "/metrics", &[], b"").text();
    assert!(
        metrics.contains("shoal_torrents{state=\"seeding\"} 1"),
        "{metrics}"
    );

    // Labels and seeding limits over PATCH.
    let r = d.request(
        "PATCH",
        "/api/torrents/1",
        &[("X-Shoal-Csrf", "1")],
        br#"{"labels":["tv","hd"],"seed_ratio_limit":3.0,"seed_ratio_mode":"single"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["labels"], json!(["tv", "hd"]));
    assert_eq!(r.json()["settings"]["seed_ratio_limit"], 3.0);
    let r = d.request(
        "PATCH",
        "/api/torrents/1",
        &[("X-Shoal-Csrf", "1")],
        br#"{"bogus":1}"#,
    );
    assert_eq!(r.status, 400);

    // Pause and resume through the CLI.
    remote(&d, &["pause", "1"]);
    assert_eq!(d.get("/api/torrents/1")["state"], "paused");
    expect_event(&events, "state");
    remote(&d, &["resume", "1"]);
    wait_for(Duration::from_secs(15), "seeding again", || {
        (d.get("/api/torrents/1")["state"] == "seeding").then_some(())
    });

    // Settings.
    let r = d.request(
        "PATCH",
        "/api/settings",
        &[("X-Shoal-Csrf", "1")],
        br#"{"max_active_downloads":3,"seed_ratio_limit":2.5}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(d.get("/api/settings")["max_active_downloads"], 3);

    // The watch directory picks up a .torrent file.
    std::fs::copy(&other, watch.join("dropped.torrent")).unwrap();
    wait_for(Duration::from_secs(15), "the watched torrent", || {
        let l = d.get("/api/torrents");
        l.as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "watched.bin")
            .then_some(())
    });
    assert!(watch.join("dropped.torrent.added").exists());

    // Remove with data through the CLI.
    remote(&d, &["remove", "1", "--delete-data"]);
    expect_event(&events, "removed");
    assert!(!root.join("show.bin").exists());
    assert_eq!(d.get("/api/torrents").as_array().unwrap().len(), 1);

    // The web UI route answers.
    let r = d.request("GET", "/", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));

    // SIGTERM: a clean stop.
    d.log.proc.signal(15);
    let status = d.log.finish(Duration::from_secs(15));
    assert!(status.success(), "{status}\n{}", d.log.logs());
    assert!(
        d.log.stderr().contains("daemon stopped"),
        "{}",
        d.log.logs()
    );
}
