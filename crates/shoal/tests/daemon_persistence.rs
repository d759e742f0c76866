//! `shoal daemon` survives `kill -9`: 20 torrents downloading (from a
//! second daemon that seeds them, found through a tracker) under a rate
//! limit; the downloader is killed mid-download and restarted on the same
//! state directory. All 20 come back with their ids, names, labels,
//! directories and paused state, keep every piece verified before the kill,
//! and download only what was missing.

mod common;
mod daemon_util;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use daemon_util::*;
use serde_json::{json, Value};

const COUNT: usize = 20;
const SIZE: u64 = 512 * 1024;
const PIECE: u64 = 16 * 1024;

fn by_id(list: &Value) -> HashMap<u64, Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_u64().unwrap(), t.clone()))
        .collect()
}

#[test]
fn twenty_torrents_survive_kill_9() {
    let dir = tempdir();
    let (_tracker, announce) = start_tracker(dir.path());
    let seed_root = dir.path().join("seed");
    std::fs::create_dir_all(&seed_root).unwrap();
    let torrents: Vec<_> = (0..COUNT)
        .map(|i| {
            make_torrent(
                &seed_root,
                &format!("t{i:02}.bin"),
                SIZE as usize,
                i as u64 + 10,
                Some(&announce),
            )
        })
        .collect();
    let metas: Vec<String> = torrents
        .iter()
        .map(|t| base64::engine::general_purpose::STANDARD.encode(std::fs::read(t).unwrap()))
        .collect();

    // The seeder: a daemon with the data in place.
    let seeder = Daemon::start("seeder", dir.path(), &seed_root, "", &[]);
    for m in &metas {
        let r = seeder.post("/api/torrents", &json!({ "metainfo": m }));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    wait_for(Duration::from_secs(30), "the seeder to seed all", || {
        let l = seeder.get("/api/torrents");
        l.as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "seeding")
            .then_some(())
    });

    // The downloader, limited to 1 MB/s for the 10 MiB.
    let root = dir.path().join("dl");
    let state = dir.path().join("dl-state");
    let config = "[session]\ndownload_limit = 1000000\n";
    let mut d = Daemon::start_in("dl1", dir.path(), &state, &root, config, &[]);
    for (i, m) in metas.iter().enumerate() {
        let r = d.post(
            "/api/torrents",
            &json!({ "metainfo": m, "labels": [format!("l{i}")] }),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let total = SIZE * COUNT as u64;
    wait_for(Duration::from_secs(40), "half the data", || {
        let l = d.get("/api/torrents");
        let have: u64 = l
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["have_bytes"].as_u64().unwrap())
            .sum();
        (have >= total / 2).then_some(())
    });
    // One torrent paused before the kill stays paused.
    let r = d.post("/api/torrents/20/pause", &json!({}));
    assert_eq!(r.status, 204, "{}", r.text());
    let before = by_id(&d.get("/api/torrents"));
    let have_before: u64 = before
        .values()
        .map(|t| t["have_bytes"].as_u64().unwrap())
        .sum();
    assert!(have_before < total, "finished before the kill");
    d.log.proc.kill(); // SIGKILL to the process group

    // What the records held at the kill (the base of the second run).
    let recorded: HashMap<String, u64> = std::fs::read_dir(state.join("torrents"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let v: Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            (
                v["info_hash"].as_str().unwrap().to_owned(),
                v["downloaded_ever"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(recorded.len(), COUNT);

    let d2 = Daemon::start_in("dl2", dir.path(), &state, &root, config, &[]);
    let after = by_id(&d2.get("/api/torrents"));
    assert_eq!(after.len(), COUNT);
    for (id, b) in &before {
        let a = &after[id];
        for k in [
            "info_hash",
            "name",
            "labels",
            "download_dir",
            "added_at",
            "total_size",
        ] {
            assert_eq!(a[k], b[k], "torrent {id}: {k} changed");
        }
    }
    assert_eq!(after[&20]["state"], "paused");

    // Once checked, every torrent has at least what it had verified.
    let checked = wait_for(Duration::from_secs(30), "the checks", || {
        let l = by_id(&d2.get("/api/torrents"));
        l.values()
            .all(|t| !matches!(t["state"].as_str(), Some("checking" | "queued")))
            .then_some(l)
    });
    for (id, b) in &before {
        if *id == 20 {
            continue;
        }
        let (hb, ha) = (
            b["have_bytes"].as_u64().unwrap(),
            checked[id]["have_bytes"].as_u64().unwrap(),
        );
        assert!(
            ha >= hb,
            "torrent {id}: had {hb} verified, {ha} after the restart"
        );
    }
    let r = d2.post("/api/torrents/20/resume", &json!({}));
    assert_eq!(r.status, 204);
    let done = wait_for(Duration::from_secs(40), "every torrent to complete", || {
        let l = by_id(&d2.get("/api/torrents"));
        l.values().all(|t| t["state"] == "seeding").then_some(l)
    });
    // What the second run downloaded: what was missing, plus at most the
    // pieces in flight at the kill.
    let mut second = 0;
    let mut missing = 0;
    for (id, t) in &done {
        let hash = t["info_hash"].as_str().unwrap();
        let got = t["downloaded"].as_u64().unwrap() - recorded[hash];
        let lacked = SIZE - before[id]["have_bytes"].as_u64().unwrap();
        assert!(
            got <= lacked + 4 * PIECE,
            "torrent {id}: downloaded {got} after the restart, lacked {lacked}"
        );
        second += got;
        missing += lacked;
    }
    assert!(
        second <= missing + COUNT as u64 * 2 * PIECE,
        "second run {second}, missing {missing}"
    );
    for i in 0..COUNT {
        let name = format!("t{i:02}.bin");
        assert_eq!(
            sha256_file(&root.join(&name)),
            sha256_file(&seed_root.join(&name)),
            "{name}"
        );
    }
}
