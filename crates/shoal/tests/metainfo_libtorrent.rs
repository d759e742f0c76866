//! BitTorrent v2 and hybrid torrents against libtorrent 2.0 (through
//! python3-libtorrent): torrents libtorrent creates read the same in Shoal
//! (both info-hashes, the file list, the piece count) and `shoal verify`
//! accepts their data and pins a corrupted byte; torrents Shoal creates load
//! in libtorrent with the same hashes, and libtorrent's full recheck of the
//! data finds every piece valid. Local files only, every step time-bounded.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The libtorrent side: `make`, `describe` and `recheck`, one JSON line out.
const LT_SCRIPT: &str = r#"
import json, sys, time
import libtorrent as lt

def hexes(ti):
    ih = ti.info_hashes()
    return (str(ih.v1) if ih.has_v1() else None, str(ih.v2) if ih.has_v2() else None)

def describe(ti):
    fs = ti.files()
    files = [[fs.file_path(i), fs.file_size(i)] for i in range(fs.num_files())
             if not fs.file_flags(i) & lt.file_storage.flag_pad_file]
    v1, v2 = hexes(ti)
    return {"v1": v1, "v2": v2, "files": files, "pieces": ti.num_pieces()}

cmd = sys.argv[1]
if cmd == "make":
    content, out, piece, kind = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    fs = lt.file_storage()
    lt.add_files(fs, content)
    flags = lt.create_torrent.v2_only if kind == "v2" else 0
    t = lt.create_torrent(fs, piece, flags=flags)
    import os
    lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(content)))
    open(out, "wb").write(lt.bencode(t.generate()))
    print(json.dumps(describe(lt.torrent_info(out))))
elif cmd == "describe":
    print(json.dumps(describe(lt.torrent_info(sys.argv[2]))))
elif cmd == "recheck":
    path, save = sys.argv[2], sys.argv[3]
    ses = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False,
                      "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
                      "alert_mask": lt.alert.category_t.status_notification
                                    | lt.alert.category_t.error_notification})
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(path)
    p.save_path = save
    h = ses.add_torrent(p)
    def wait_checked(limit):
        end = time.time() + limit
        while time.time() < end:
            ses.wait_for_alert(500)
            for a in ses.pop_alerts():
                if isinstance(a, lt.torrent_checked_alert):
                    return True
                if isinstance(a, lt.torrent_error_alert):
                    sys.exit("libtorrent error: " + a.message())
        return False
    if not wait_checked(60):
        sys.exit("initial check did not finish")
    h.force_recheck()
    if not wait_checked(60):
        sys.exit("recheck did not finish")
    s = h.status()
    print(json.dumps({"pieces": p.ti.num_pieces(), "valid": sum(1 for x in s.pieces if x),
                      "v1": hexes(p.ti)[0], "v2": hexes(p.ti)[1]}))
"#;

fn lt(dir: &Path, args: &[&str]) -> serde_json::Value {
    let script = dir.join("lt_v2.py");
    std::fs::write(&script, LT_SCRIPT).expect("write script");
    let out = run_with_timeout(
        Command::new(SYSTEM_PYTHON).arg(&script).args(args),
        Duration::from_secs(150),
    );
    assert!(
        out.status.success(),
        "libtorrent {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_str(stdout(&out).trim()).expect("libtorrent json")
}

fn shoal_json(args: &[&str]) -> serde_json::Value {
    let out = run_with_timeout(shoal().args(args), Duration::from_secs(60));
    assert!(out.status.success(), "shoal {args:?}: {}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).expect("shoal json")
}

/// Content with odd sizes, an empty file and a subfolder (multi), or one
/// odd-sized file (single). Returns the path to share.
fn content(dir: &Path, multi: bool) -> std::path::PathBuf {
    if multi {
        let root = dir.join("multi");
        write_file(&root.join("a.bin"), 100_003, 1);
        write_file(&root.join("empty"), 0, 2);
        write_file(&root.join("one"), 1, 3);
        write_file(&root.join("sub/b.dat"), 70_000, 4);
        write_file(&root.join("sub/c"), 32_768, 5);
        root
    } else {
        let f = dir.join("single.bin");
        write_file(&f, 150_001, 6);
        f
    }
}

fn shoal_files(info: &serde_json::Value) -> Vec<(String, u64)> {
    info["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("path").to_string(),
                f["length"].as_u64().expect("length"),
            )
        })
        .collect()
}

fn lt_files(v: &serde_json::Value) -> Vec<(String, u64)> {
    v["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f[0].as_str().expect("path").to_string(),
                f[1].as_u64().expect("size"),
            )
        })
        .collect()
}

#[test]
fn libtorrent_v2_and_hybrid_torrents_read_the_same() {
    require_libtorrent();
    for kind in ["v2", "hybrid"] {
        for multi in [false, true] {
            let tmp = tempdir();
            let src = content(tmp.path(), multi);
            let torrent = tmp.path().join(format!("{kind}.torrent"));
            let t = torrent.to_str().expect("utf-8");
            let made = lt(
                tmp.path(),
                &["make", src.to_str().expect("utf-8"), t, "32768", kind],
            );
            let case = format!("{kind} multi={multi}");
            let info = shoal_json(&["info", "--json", t]);
            assert_eq!(info["info_hash_v2"], made["v2"], "{case}");
            let expected_version = if kind == "v2" { "2" } else { "hybrid" };
            assert_eq!(info["meta_version"], expected_version, "{case}");
            if kind == "hybrid" {
                assert_eq!(info["info_hash"], made["v1"], "{case}");
            } else {
                // v2-only: the swarm id is the truncated v2 hash.
                let v2 = made["v2"].as_str().expect("v2");
                assert_eq!(info["info_hash"], v2[..40], "{case}");
            }
            assert_eq!(shoal_files(&info), lt_files(&made), "{case}");
            assert_eq!(info["piece_count"], made["pieces"], "{case}");
            assert!(info["warnings"].as_array().expect("warnings").is_empty());
            let magnet = info["magnet"].as_str().expect("magnet");
            assert!(
                magnet.contains(&format!(
                    "urn:btmh:1220{}",
                    made["v2"].as_str().expect("v2")
                )),
                "{case}: {magnet}"
            );

            // shoal verify accepts libtorrent's data, and pins one bad byte.
            let dir = tmp.path().to_str().expect("utf-8");
            let ok = shoal_json(&["verify", t, "--dir", dir, "--json"]);
            assert_eq!(ok["complete"], true, "{case}: {ok}");
            assert_eq!(ok["valid"], made["pieces"], "{case}");
            let victim = if multi {
                src.join("sub/b.dat")
            } else {
                src.clone()
            };
            let mut bytes = std::fs::read(&victim).expect("read");
            bytes[40_000] ^= 0x55;
            std::fs::write(&victim, &bytes).expect("write");
            let out = run_with_timeout(
                shoal().args(["verify", t, "--dir", dir, "--json"]),
                Duration::from_secs(60),
            );
            assert_eq!(out.status.code(), Some(1), "{case}: corrupt data accepted");
            let bad: serde_json::Value =
                serde_json::from_str(stdout(&out).trim()).expect("verify json");
            assert_eq!(bad["bad"], 1, "{case}: {bad}");
            assert_eq!(bad["missing"], 0, "{case}: {bad}");
        }
    }
}

#[test]
fn shoal_v2_and_hybrid_torrents_load_and_recheck_in_libtorrent() {
    require_libtorrent();
    for flag in ["--v2", "--hybrid"] {
        for multi in [false, true] {
            let tmp = tempdir();
            let src = content(tmp.path(), multi);
            let torrent = tmp.path().join("shoal.torrent");
            let t = torrent.to_str().expect("utf-8");
            let case = format!("{flag} multi={multi}");
            let created = shoal_json(&[
                "create",
                src.to_str().expect("utf-8"),
                flag,
                "--piece-length",
                "32K",
                "--no-date",
                "-o",
                t,
                "--json",
            ]);
            let seen = lt(tmp.path(), &["describe", t]);
            assert_eq!(created["info_hash_v2"], seen["v2"], "{case}");
            if flag == "--hybrid" {
                assert_eq!(created["info_hash"], seen["v1"], "{case}");
            } else {
                assert!(seen["v1"].is_null(), "{case}: {seen}");
            }
            let info = shoal_json(&["info", "--json", t]);
            assert_eq!(shoal_files(&info), lt_files(&seen), "{case}");
            assert_eq!(info["piece_count"], seen["pieces"], "{case}");
            assert!(created["magnet"]
                .as_str()
                .expect("magnet")
                .contains("urn:btmh:1220"));
            let dir = tmp.path().to_str().expect("utf-8");
            let checked = lt(tmp.path(), &["recheck", t, dir]);
            assert_eq!(checked["pieces"], seen["pieces"], "{case}");
            assert_eq!(checked["valid"], seen["pieces"], "{case}: {checked}");
        }
    }
}

#[test]
fn create_version_flags() {
    let tmp = tempdir();
    let src = content(tmp.path(), true);
    let out = tmp.path().join("d.torrent");
    let src = src.to_str().expect("utf-8");
    let out = out.to_str().expect("utf-8");
    let v = shoal_json(&["create", src, "--hybrid", "-o", out, "--json"]);
    assert_eq!(v["meta_version"], "hybrid");
    assert!(v["info_hash_v2"].is_string());
    let magnet = v["magnet"].as_str().expect("magnet");
    assert!(magnet.contains("urn:btih:") && magnet.contains("urn:btmh:1220"));
    let v2 = shoal_json(&["create", src, "--v2", "-o", out, "--json"]);
    assert_eq!(v2["meta_version"], "2");
    let magnet = v2["magnet"].as_str().expect("magnet");
    assert!(!magnet.contains("urn:btih:") && magnet.contains("urn:btmh:1220"));
    // The default stays v1 until the engine skips padding files.
    for flags in [&[][..], &["--v1"][..]] {
        let mut args = vec!["create", src, "-o", out, "--json"];
        args.extend_from_slice(flags);
        let v1 = shoal_json(&args);
        assert_eq!(v1["meta_version"], "1");
        assert!(v1["info_hash_v2"].is_null());
        assert!(!v1["magnet"].as_str().expect("magnet").contains("btmh"));
    }
    // Only one version flag at a time; v2 refuses a non-power-of-two piece.
    let out2 = run_with_timeout(
        shoal().args(["create", src, "--v2", "--hybrid", "-o", out]),
        Duration::from_secs(30),
    );
    assert!(!out2.status.success());
    let out3 = run_with_timeout(
        shoal().args(["create", src, "--v2", "--piece-length", "48K", "-o", out]),
        Duration::from_secs(30),
    );
    assert!(!out3.status.success());
}
