//! Hostile input to `shoal daemon`'s APIs: malformed JSON, unknown methods,
//! ids that do not exist, a 100 MB upload, directories outside the roots,
//! path traversal in an added torrent, foreign Host headers, missing CSRF
//! headers, password guessing. Every one gets a clear error, the daemon
//! stays up, and nothing is written outside the download roots.

mod common;
mod daemon_util;

use std::path::Path;

use base64::Engine as _;
use common::*;
use daemon_util::*;
use serde_json::json;

fn bstr(s: &[u8]) -> Vec<u8> {
    let mut v = format!("{}:", s.len()).into_bytes();
    v.extend_from_slice(s);
    v
}

/// A multi-file torrent named `name` whose one file has path `path`.
fn evil_torrent(name: &str, path: &[&str]) -> Vec<u8> {
    let mut info = b"d5:filesld6:lengthi5e4:pathl".to_vec();
    for p in path {
        info.extend(bstr(p.as_bytes()));
    }
    info.extend(b"eee4:name");
    info.extend(bstr(name.as_bytes()));
    info.extend(b"12:piece lengthi16384e6:pieces20:");
    info.extend([7u8; 20]);
    info.extend(b"e");
    let mut t = b"d4:info".to_vec();
    t.extend(info);
    t.extend(b"e");
    t
}

fn files_named(dir: &Path, needle: &str, skip: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.starts_with(skip) {
            continue;
        }
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().contains(needle))
        {
            out.push(p.display().to_string());
        }
        if p.is_dir() && !p.is_symlink() {
            files_named(&p, needle, skip, out);
        }
    }
}

#[test]
fn hostile_api_input() {
    let dir = tempdir();
    let root = dir.path().join("dl");
    let hash = hash_password("pw");
    let d = Daemon::start(
        "daemon",
        dir.path(),
        &root,
        &format!("[api]\npassword_hash = \"{hash}\"\n"),
        &[],
    );
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("shoal:pw")
    );
    let sid = d
        .request("GET", "/transmission/rpc", &[("Authorization", &auth)], b"")
        .header("x-transmission-session-id")
        .expect("sid")
        .to_owned();
    let rpc = |body: &[u8]| {
        let r = d.request(
            "POST",
            "/transmission/rpc",
            &[
                ("Authorization", &auth),
                ("X-Transmission-Session-Id", &sid),
            ],
            body,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    let api = |method: &str, path: &str, body: &[u8]| {
        d.request(
            method,
            path,
            &[
                ("Authorization", &auth),
                ("X-Shoal-Csrf", "1"),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    };

    // Malformed JSON and unknown methods.
    let r = rpc(b"{\"method\": \"torrent-get\", ");
    assert!(
        r["result"].as_str().unwrap().contains("invalid JSON"),
        "{r}"
    );
    let r = rpc(br#"{"method":"format-disk"}"#);
    assert!(
        r["result"].as_str().unwrap().contains("not recognized"),
        "{r}"
    );
    let r = rpc(br#"{"method":"torrent-get","arguments":"nope"}"#);
    assert_ne!(r["result"], "success");
    let r = api("POST", "/api/torrents", b"{not json");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("invalid JSON"));
    let r = api("POST", "/api/torrents", br#"{"metainfo":"!!!not base64"}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = api("POST", "/api/torrents", br#"{"metainfo":"aGVsbG8="}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("invalid torrent"));

    // Ids that do not exist.
    let r = rpc(br#"{"method":"torrent-get","arguments":{"fields":["id"],"ids":[999,"ffffffffffffffffffffffffffffffffffffffff"]}}"#);
    assert_eq!(r["arguments"]["torrents"], json!([]));
    let r =
        rpc(br#"{"method":"torrent-remove","arguments":{"ids":[999],"delete-local-data":true}}"#);
    assert_eq!(r["result"], "success");
    for (m, p) in [
        ("GET", "/api/torrents/999"),
        ("DELETE", "/api/torrents/999"),
        ("POST", "/api/torrents/999/pause"),
        ("GET", "/api/torrents/..%2F..%2Fetc/files"),
    ] {
        let r = api(m, p, b"");
        assert_eq!(r.status, 404, "{m} {p}: {}", r.text());
        assert!(r.json()["error"].is_string());
    }

    // A 100 MB upload is refused (413, or the connection cut mid-body).
    let big = vec![b'a'; 100 << 20];
    for path in ["/api/torrents", "/transmission/rpc"] {
        let r = std::panic::catch_unwind(|| {
            d.request(
                "POST",
                path,
                &[
                    ("Authorization", &auth),
                    ("X-Shoal-Csrf", "1"),
                    ("X-Transmission-Session-Id", &sid),
                    ("Content-Type", "application/x-bittorrent"),
                ],
                &big,
            )
        });
        if let Ok(r) = r {
            assert_eq!(r.status, 413, "{path}: {}", r.text());
        }
    }

    // Directories outside the roots: refused, nothing created.
    let torrent = make_torrent(dir.path(), "x.bin", 1000, 1, None);
    let meta = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&torrent).unwrap());
    for bad in ["/etc", "/etc/shoal-hostile", "../outside", "/tmp/../etc"] {
        let body =
            json!({"method":"torrent-add","arguments":{"metainfo": meta, "download-dir": bad}});
        let r = rpc(body.to_string().as_bytes());
        assert!(
            r["result"]
                .as_str()
                .unwrap()
                .contains("outside the download roots"),
            "{bad}: {r}"
        );
        let r = api(
            "POST",
            "/api/torrents",
            json!({"metainfo": meta, "download_dir": bad})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(r.status, 400, "{bad}");
    }
    assert!(!Path::new("/etc/shoal-hostile").exists());
    assert!(!Path::new("/etc/x.bin").exists());
    assert!(!dir.path().join("outside").exists());
    let r = rpc(br#"{"method":"free-space","arguments":{"path":"/etc"}}"#);
    assert!(r["result"].as_str().unwrap().contains("outside"), "{r}");
    let r = rpc(br#"{"method":"session-set","arguments":{"download-dir":"/etc"}}"#);
    assert!(r["result"].as_str().unwrap().contains("outside"), "{r}");
    let r = api("PATCH", "/api/settings", br#"{"download_dir":"/etc"}"#);
    assert_eq!(r.status, 400);
    // A .torrent path outside the roots is not read.
    let r = rpc(br#"{"method":"torrent-add","arguments":{"filename":"/etc/passwd"}}"#);
    assert!(r["result"].as_str().unwrap().contains("outside"), "{r}");

    // Path traversal inside an added torrent.
    for (name, path) in [
        ("folder", vec!["..", "..", "evil-traversal.txt"]),
        ("../evil-traversal-dir", vec!["a.txt"]),
        ("folder2", vec!["/abs", "evil-traversal-abs.txt"]),
    ] {
        let meta = base64::engine::general_purpose::STANDARD.encode(evil_torrent(name, &path));
        let body = json!({"method":"torrent-add","arguments":{"metainfo": meta}});
        let _ = rpc(body.to_string().as_bytes());
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut found = Vec::new();
    files_named(dir.path(), "evil-traversal", &root, &mut found);
    assert!(found.is_empty(), "written outside the root: {found:?}");
    for p in ["/evil-traversal.txt", "/tmp/evil-traversal.txt"] {
        assert!(!Path::new(p).exists(), "{p}");
    }

    // Foreign Host header (DNS rebinding): 421. No CSRF header or a foreign
    // Origin on a state-changing call: 403.
    let r = d.request(
        "GET",
        "/api/torrents",
        &[("Host", "evil.example:9091"), ("Authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 421);
    let r = d.request("POST", "/api/torrents", &[("Authorization", &auth)], b"{}");
    assert_eq!(r.status, 403);
    let r = d.request(
        "POST",
        "/api/torrents",
        &[
            ("Authorization", &auth),
            ("X-Shoal-Csrf", "1"),
            ("Origin", "http://evil.example"),
        ],
        b"{}",
    );
    assert_eq!(r.status, 403);

    assert!(d.alive(), "daemon died\n{}", d.log.logs());
    let r = api("GET", "/api/torrents", b"");
    assert_eq!(r.status, 200);

    // Password guessing: after five failures, 429 even for the right one.
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("shoal:guess")
    );
    for _ in 0..5 {
        assert_eq!(
            d.request("GET", "/api/torrents", &[("Authorization", &wrong)], b"")
                .status,
            401
        );
    }
    let r = d.request("GET", "/api/torrents", &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert!(d.alive());
}
