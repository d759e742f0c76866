//! Web seeds (BEP 19) end to end on loopback: a local HTTP server with
//! range support (tests/http_seed) serves the files, alone or next to a
//! Shoal seeder, honest or faulty.

mod http_seed;
mod session_support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use http_seed::{Fault, HttpSeed};
use session_support::{add, assert_same_tree, complete_within, make_torrent, write_content};
use shoal_engine::{Session, SessionConfig, TorrentHandle, WebSeedSettings, WebSeedStatus};
use shoal_metainfo::Torrent;

/// A loopback session whose web seeds back off from `backoff` and are
/// dropped after three failures in a row or two bad pieces.
async fn session(backoff: Duration, upload_limit: Option<u64>) -> Session {
    session_with(settings(backoff), upload_limit).await
}

fn settings(backoff: Duration) -> WebSeedSettings {
    let mut web_seed = WebSeedSettings::default();
    web_seed.core.base_backoff = backoff;
    web_seed.core.max_errors = 3;
    web_seed.core.max_bad_pieces = 2;
    web_seed.read_timeout = Duration::from_secs(5);
    web_seed
}

async fn session_with(web_seed: WebSeedSettings, upload_limit: Option<u64>) -> Session {
    let cfg = SessionConfig {
        listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
        upload_limit,
        web_seed,
        ..SessionConfig::default()
    };
    Session::start(cfg).await.unwrap()
}

fn with_seed(mut t: Torrent, url: String) -> Torrent {
    t.web_seeds = vec![url];
    t
}

/// Wait until `f` holds, failing after `secs`.
async fn wait_for(secs: u64, what: &str, h: &TorrentHandle, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "{what}: not after {secs} s: {:?} {:?}",
            h.stats(),
            h.web_seeds()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn single_file_from_a_web_seed_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_content(&src, &[("big file.bin", 1_234_567)], 1);
    let server = HttpSeed::start(&src, Fault::None, None).await;
    // The URL names the folder: the torrent's name is appended.
    let t = with_seed(
        make_torrent(&src.join("big file.bin"), 32768),
        server.url(""),
    );
    let s = session(Duration::from_secs(1), None).await;
    let dst = tmp.path().join("dst");
    let h = add(&s, &t, &dst, vec![]).await;
    complete_within(&h, 20).await;
    assert_same_tree(&src, &dst);
    let st = h.stats();
    assert_eq!(st.web_seed_downloaded, 1_234_567);
    assert_eq!(st.downloaded, 1_234_567);
    let ws = h.web_seeds();
    assert_eq!(ws.len(), 1);
    assert_eq!(ws[0].downloaded, 1_234_567);
    {
        let log = server.log.lock().unwrap();
        assert!(log
            .requests
            .iter()
            .all(|(_, p, r)| p == "/big%20file.bin" && r.is_some()));
    }
    h.stop().await;
}

#[tokio::test]
async fn multi_file_from_a_web_seed_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("www").join("mirror");
    let files = [
        ("pack/a.bin", 100_000),
        ("pack/empty", 0),
        ("pack/sub dir/b #1.bin", 70_001),
        ("pack/c.bin", 300_000),
    ];
    write_content(&src, &files, 2);
    let server = HttpSeed::start(&tmp.path().join("www"), Fault::None, None).await;
    // No trailing slash: a multi-file web seed URL names the folder
    // holding the torrent's folder all the same.
    let t = with_seed(make_torrent(&src.join("pack"), 16384), server.url("mirror"));
    assert!(t.layout.multi_file);
    let s = session(Duration::from_secs(1), None).await;
    let dst = tmp.path().join("dst");
    let h = add(&s, &t, &dst, vec![]).await;
    complete_within(&h, 20).await;
    assert_same_tree(&src, &dst);
    assert!(dst.join("pack/empty").is_file());
    assert_eq!(h.stats().web_seed_downloaded, 470_001);
    {
        let log = server.log.lock().unwrap();
        assert!(log
            .requests
            .iter()
            .any(|(_, p, _)| p == "/mirror/pack/sub%20dir/b%20%231.bin"));
    }
    h.stop().await;
}

/// A Shoal seeder of `src` (uploading at `rate`) and its address.
async fn seeder(
    src: &Path,
    t: &Torrent,
    rate: Option<u64>,
) -> (Session, TorrentHandle, SocketAddr) {
    let s = session(Duration::from_secs(1), rate).await;
    let mut plain = t.clone();
    plain.web_seeds.clear();
    let h = add(&s, &plain, src.parent().unwrap(), vec![]).await;
    assert!(h.stats().complete);
    let addr = s.local_addr();
    (s, h, addr)
}

#[tokio::test]
async fn a_web_seed_and_a_peer_both_contribute() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_content(&src, &[("data.bin", 3 << 20)], 3);
    let path = src.join("data.bin");
    let server = HttpSeed::start(&src, Fault::None, Some(1 << 20)).await;
    let t = with_seed(make_torrent(&path, 65536), server.url(""));
    let (_ss, sh, addr) = seeder(&path, &t, Some(1 << 20)).await;
    let s = session(Duration::from_secs(1), None).await;
    let dst = tmp.path().join("dst");
    let h = add(&s, &t, &dst, vec![addr]).await;
    complete_within(&h, 25).await;
    assert_same_tree(&src, &dst);
    let st = h.stats();
    let from_peer: u64 = h.contributions().iter().map(|c| c.bytes).sum();
    assert!(st.web_seed_downloaded > 0, "{st:?}");
    assert!(from_peer > 0, "{st:?}");
    assert!(st.web_seed_downloaded + from_peer >= 3 << 20);
    h.stop().await;
    sh.stop().await;
}

#[tokio::test]
async fn a_corrupt_web_seed_is_dropped_and_the_peer_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_content(&src, &[("data.bin", 2 << 20)], 4);
    let path = src.join("data.bin");
    let server = HttpSeed::start(&src, Fault::Corrupt, None).await;
    let t = with_seed(make_torrent(&path, 32768), server.url(""));
    let (_ss, sh, addr) = seeder(&path, &t, Some(4 << 20)).await;
    let s = session(Duration::from_millis(100), None).await;
    let dst = tmp.path().join("dst");
    let h = add(&s, &t, &dst, vec![addr]).await;
    complete_within(&h, 25).await;
    assert_same_tree(&src, &dst);
    let ws = &h.web_seeds()[0];
    assert_eq!(ws.status, WebSeedStatus::Dropped, "{ws:?}");
    assert!(ws.bad_pieces >= 2, "{ws:?}");
    // The honest peer shares the web seed's address: it was not banned
    // (it was the only other source, so the download proves it too).
    assert!(h
        .contributions()
        .iter()
        .any(|c| c.peer == addr && c.bytes > 0));
    h.stop().await;
    sh.stop().await;
}

/// A web seed failing with `fault` is retried after 200 ms, 400 ms, and
/// dropped at the third failure; nothing it sent is kept.
async fn backs_off_then_drops(fault: Fault) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_content(&src, &[("data.bin", 500_000)], 5);
    let server = HttpSeed::start(&src, fault, None).await;
    // One request per round: a piece covers the whole file.
    let t = with_seed(
        make_torrent(&src.join("data.bin"), 512 << 10),
        server.url(""),
    );
    let s = session(Duration::from_millis(200), None).await;
    let h = add(&s, &t, &tmp.path().join("dst"), vec![]).await;
    wait_for(10, "dropped", &h, || {
        h.web_seeds()[0].status == WebSeedStatus::Dropped
    })
    .await;
    // Dropped for good: no further request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (times, requests): (Vec<Instant>, Vec<String>) = {
        let log = server.log.lock().unwrap();
        (
            log.requests.iter().map(|r| r.0).collect(),
            log.requests.iter().map(|r| format!("{r:?}")).collect(),
        )
    };
    assert_eq!(times.len(), 3, "{fault:?}: {requests:?}");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_millis(190), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(390), "doubled: {gaps:?}");
    let st = h.stats();
    assert_eq!(st.pieces_have, 0);
    assert!(h.web_seeds()[0].last_error.is_some());
    h.stop().await;
}

#[tokio::test]
async fn a_web_seed_answering_500_backs_off_then_is_dropped() {
    backs_off_then_drops(Fault::Status(500)).await;
}

#[tokio::test]
async fn a_web_seed_answering_404_backs_off_then_is_dropped() {
    backs_off_then_drops(Fault::Status(404)).await;
}

#[tokio::test]
async fn a_web_seed_sending_short_bodies_backs_off_then_is_dropped() {
    backs_off_then_drops(Fault::Short).await;
}

#[tokio::test]
async fn a_web_seed_ignoring_ranges_backs_off_then_is_dropped() {
    // Pieces of 64 KiB: asking for part of the file, it sends all of it.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_content(&src, &[("data.bin", 500_000)], 6);
    let server = HttpSeed::start(&src, Fault::NoRange, None).await;
    let t = with_seed(make_torrent(&src.join("data.bin"), 65536), server.url(""));
    // One piece per request: never the whole file.
    let mut cfg = settings(Duration::from_millis(100));
    cfg.core.request_bytes = 65536;
    let s = session_with(cfg, None).await;
    let h = add(&s, &t, &tmp.path().join("dst"), vec![]).await;
    wait_for(10, "dropped", &h, || {
        h.web_seeds()[0].status == WebSeedStatus::Dropped
    })
    .await;
    assert_eq!(server.requests(), 3);
    assert_eq!(h.stats().pieces_have, 0);
    h.stop().await;
}
