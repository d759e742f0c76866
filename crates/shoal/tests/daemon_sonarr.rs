//! The HTTP exchanges Sonarr and Radarr perform against a Transmission
//! download client, replayed byte for byte against `shoal daemon`: the
//! connection test (a request without the session id gets 409 carrying
//! `X-Transmission-Session-Id`, then the retry with it), `session-get` and
//! the version parse, `torrent-add` with a label (base64 metainfo and a
//! magnet), `torrent-get` with their field list, `torrent-set` seed limits,
//! `queue-move-top`, and `torrent-remove` with the data.

mod common;
mod daemon_util;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use daemon_util::*;
use serde_json::{json, Value};

/// The fields Sonarr's and Radarr's TransmissionProxy ask for.
const SONARR_FIELDS: &[&str] = &[
    "id",
    "hashString",
    "name",
    "downloadDir",
    "totalSize",
    "leftUntilDone",
    "isFinished",
    "eta",
    "status",
    "secondsDownloading",
    "secondsSeeding",
    "errorString",
    "uploadedEver",
    "downloadedEver",
    "seedRatioLimit",
    "seedRatioMode",
    "seedIdleLimit",
    "seedIdleMode",
    "fileCount",
    "labels",
];

struct Sonarr<'a> {
    d: &'a Daemon,
    auth: String,
    session_id: Option<String>,
}

impl Sonarr<'_> {
    /// Sonarr's ProcessRequest: POST with Basic auth and the last session
    /// id; on 409 take the new id from the header and send again.
    fn call(&mut self, method: &str, arguments: Value) -> Value {
        let body = json!({ "method": method, "arguments": arguments }).to_string();
        for _ in 0..2 {
            let mut headers = vec![
                ("Authorization", self.auth.as_str()),
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ];
            let sid;
            if let Some(s) = &self.session_id {
                sid = s.clone();
                headers.push(("X-Transmission-Session-Id", sid.as_str()));
            }
            let r = self
                .d
                .request("POST", "/transmission/rpc", &headers, body.as_bytes());
            assert!(r.header("x-transmission-rpc-version").is_none());
            if r.status == 409 {
                self.session_id = Some(
                    r.header("x-transmission-session-id")
                        .expect("409 carries the session id")
                        .to_owned(),
                );
                continue;
            }
            assert_eq!(r.status, 200, "{method}: {}", r.text());
            let v = r.json();
            assert_eq!(v["result"], "success", "{method}: {v}");
            return v["arguments"].clone();
        }
        panic!("{method}: 409 twice");
    }
}

/// Sonarr's version parse: the leading dotted number.
fn parse_version(v: &str) -> (u32, u32) {
    let num: String = v
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = num.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn sonarr_and_radarr_exchanges() {
    let dir = tempdir();
    let root = dir.path().join("dl");
    let tv = root.join("tv");
    std::fs::create_dir_all(&tv).unwrap();
    // The content is already in place, so the torrent completes at once.
    let torrent = make_torrent(&tv, "episode.mkv", 300_000, 7, None);
    let hash = hash_password("radarr-pw");
    let d = Daemon::start(
        "daemon",
        dir.path(),
        &root,
        &format!("[api]\nusername = \"sonarr\"\npassword_hash = \"{hash}\"\n"),
        &[],
    );
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("sonarr:radarr-pw")
    );

    // The connection test: a bare GET with credentials gets 409 and the id.
    let r = d.request("GET", "/transmission/rpc", &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 409, "{}", r.text());
    let sid = r
        .header("x-transmission-session-id")
        .expect("session id")
        .to_owned();
    assert!(r.header("x-transmission-rpc-version").is_none());
    // Without credentials: 401 with a Basic challenge.
    let r = d.request("GET", "/transmission/rpc", &[], b"");
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap_or("")
        .starts_with("Basic"));

    let mut s = Sonarr {
        d: &d,
        auth,
        session_id: None,
    };
    // session-get: the version must parse as >= 2.40, and >= 4.0 for labels.
    let cfg = s.call("session-get", json!({}));
    assert_eq!(s.session_id.as_deref(), Some(sid.as_str()));
    let version = cfg["version"].as_str().expect("version");
    assert!(version.contains("Shoal"), "{version}");
    let (major, minor) = parse_version(version);
    assert!((major, minor) >= (4, 0), "{version}");
    assert!(cfg["rpc-version"].as_u64().unwrap() >= 14, "{cfg}");
    assert!(cfg["download-dir"].is_string(), "{cfg}");

    // torrent-add with a label, from metainfo (as a .torrent download).
    let meta = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&torrent).unwrap());
    let added = s.call(
        "torrent-add",
        json!({ "metainfo": meta, "download-dir": tv, "paused": false, "labels": ["tv-sonarr"] }),
    );
    let hash_string = added["torrent-added"]["hashString"]
        .as_str()
        .expect("hashString")
        .to_owned();
    // The same again is a duplicate, still success.
    let dup = s.call(
        "torrent-add",
        json!({ "metainfo": meta, "labels": ["tv-sonarr"] }),
    );
    assert_eq!(dup["torrent-duplicate"]["hashString"], hash_string.as_str());
    // A magnet link (Radarr's "filename").
    let magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=movie";
    let m = s.call(
        "torrent-add",
        json!({ "filename": magnet, "paused": true, "labels": ["radarr"] }),
    );
    assert_eq!(m["torrent-added"]["name"], "movie");

    // torrent-get with Sonarr's fields; it completes (the data was there).
    let get = |s: &mut Sonarr| {
        let t = s.call(
            "torrent-get",
            json!({ "fields": SONARR_FIELDS, "ids": [hash_string] }),
        );
        t["torrents"][0].clone()
    };
    let t = wait_for(
        Duration::from_secs(20),
        "the torrent to be complete",
        || {
            let t = get(&mut s);
            (t["leftUntilDone"] == 0 && t["status"] == 6).then_some(t)
        },
    );
    for f in SONARR_FIELDS {
        assert!(t.get(f).is_some(), "field {f} missing: {t}");
    }
    assert_eq!(t["labels"], json!(["tv-sonarr"]));
    assert_eq!(t["totalSize"], 300_000);
    assert_eq!(t["name"], "episode.mkv");
    assert_eq!(
        t["downloadDir"].as_str().unwrap(),
        std::fs::canonicalize(&tv).unwrap().to_str().unwrap()
    );
    assert_eq!(t["errorString"], "");
    assert_eq!(t["isFinished"], false);
    assert!(t["eta"].is_i64());
    // All torrents, as Sonarr's queue poll does (no ids).
    let all = s.call("torrent-get", json!({ "fields": SONARR_FIELDS }));
    assert_eq!(all["torrents"].as_array().unwrap().len(), 2);

    // torrent-set seed limits.
    s.call(
        "torrent-set",
        json!({ "ids": [hash_string], "seedRatioLimit": 1.5, "seedRatioMode": 1,
                "seedIdleLimit": 20, "seedIdleMode": 1 }),
    );
    let t = get(&mut s);
    assert_eq!(t["seedRatioLimit"], 1.5);
    assert_eq!(t["seedRatioMode"], 1);
    assert_eq!(t["seedIdleLimit"], 20);
    assert_eq!(t["seedIdleMode"], 1);

    s.call("queue-move-top", json!({ "ids": [hash_string] }));

    // torrent-remove with the data.
    s.call(
        "torrent-remove",
        json!({ "ids": [hash_string], "delete-local-data": true }),
    );
    let left = s.call(
        "torrent-get",
        json!({ "fields": ["id"], "ids": [hash_string] }),
    );
    assert_eq!(left["torrents"], json!([]));
    assert!(!tv.join("episode.mkv").exists(), "the data was not deleted");

    // A stale session id gets 409 again.
    let r = d.request(
        "POST",
        "/transmission/rpc",
        &[
            ("Authorization", &s.auth),
            ("X-Transmission-Session-Id", "stale"),
        ],
        br#"{"method":"session-get"}"#,
    );
    assert_eq!(r.status, 409);
}
