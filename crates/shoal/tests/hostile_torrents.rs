//! Hostile `.torrent` files and magnet links: each must get a one-line
//! error naming the problem and a non-zero exit, never a panic or a huge
//! allocation (the CLI runs under a 512 MiB address-space limit here).

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn info_dict(extra: &str, piece_length: &str, pieces: usize) -> Vec<u8> {
    let mut v = format!(
        "d4:infod{extra}4:name4:evil12:piece length{piece_length}6:pieces{}:",
        pieces * 20
    )
    .into_bytes();
    v.extend(std::iter::repeat_n(b'x', pieces * 20));
    v.extend_from_slice(b"ee");
    v
}

fn multi_with_path(path: &[&[u8]]) -> Vec<u8> {
    let mut p = b"l".to_vec();
    for c in path {
        p.extend_from_slice(format!("{}:", c.len()).as_bytes());
        p.extend_from_slice(c);
    }
    p.push(b'e');
    let mut extra = b"5:filesld6:lengthi10e4:path".to_vec();
    extra.extend_from_slice(&p);
    extra.extend_from_slice(b"ee");
    info_dict(&String::from_utf8_lossy(&extra), "i16384e", 1)
}

/// Run `shoal info` (and `shoal verify`) on `bytes` with bounded memory;
/// assert a single clear error line containing `expected`.
fn assert_rejected(name: &str, bytes: &[u8], expected: &str) {
    let tmp = tempdir();
    let t = tmp.path().join(format!("{name}.torrent"));
    std::fs::write(&t, bytes).expect("write");
    for sub in ["info", "verify"] {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("ulimit -v 524288; exec \"$0\" \"$@\"")
            .arg(shoal_bin())
            .arg(sub)
            .arg(&t);
        if sub == "verify" {
            cmd.arg("--dir").arg(tmp.path());
        }
        let out = run_with_timeout(&mut cmd, Duration::from_secs(20));
        let err = stderr(&out);
        assert!(!out.status.success(), "{name}: accepted by {sub}");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {sub} exit {:?}: {err}",
            out.status
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{name}: not one line: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: panic: {err}");
        assert!(
            err.contains(expected),
            "{name}: {sub} said {err:?}, expected {expected:?}"
        );
    }
    // Nothing was created next to the torrent.
    let entries = std::fs::read_dir(tmp.path()).expect("ls").count();
    assert_eq!(entries, 1, "{name}: files appeared in {:?}", tmp.path());
}

/// `shoal info --json` of `bytes`: accepted, with the given on-disk paths
/// (relative to `--dir`) and at least one warning.
fn assert_sanitized(name: &str, bytes: &[u8], expected: &[&str]) {
    let tmp = tempdir();
    let t = tmp.path().join(format!("{name}.torrent"));
    std::fs::write(&t, bytes).expect("write");
    let out = run_with_timeout(
        shoal().arg("info").arg("--json").arg(&t),
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let paths: Vec<&str> = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, expected, "{name}");
    let warnings = v["warnings"].as_array().expect("warnings");
    assert!(!warnings.is_empty(), "{name}: no warning");
    // The text form shows one warning line per rename.
    let out = run_with_timeout(shoal().arg("info").arg(&t), Duration::from_secs(20));
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("warning:")).count(),
        warnings.len(),
        "{name}: {text}"
    );
    for p in &paths {
        assert!(text.contains(p), "{name}: {p} not shown: {text}");
    }
}

#[test]
fn path_attacks_are_sanitized() {
    assert_sanitized(
        "dotdot",
        &multi_with_path(&[b"..", b"..", b"etc", b"passwd"]),
        &["evil/etc/passwd"],
    );
    assert_sanitized(
        "absolute",
        &multi_with_path(&[b"/etc/passwd"]),
        &["evil/_etc_passwd"],
    );
    assert_sanitized(
        "embedded",
        &multi_with_path(&[b"a/../../x"]),
        &["evil/a_.._.._x"],
    );
    assert_sanitized(
        "backslash",
        &multi_with_path(&[b"..\\..\\x"]),
        &["evil/.._.._x"],
    );
    assert_sanitized("empty", &multi_with_path(&[b"a", b"", b"b"]), &["evil/a/b"]);
    assert_sanitized("dot", &multi_with_path(&[b"."]), &["evil/_"]);
    assert_sanitized("nul", &multi_with_path(&[b"a\0b"]), &["evil/a_b"]);
    let name =
        b"d4:infod6:lengthi10e4:name2:..12:piece lengthi16384e6:pieces20:xxxxxxxxxxxxxxxxxxxxee";
    assert_sanitized("name", name, &["_"]);
    let name =
        b"d4:infod6:lengthi10e4:name4:/tmp12:piece lengthi16384e6:pieces20:xxxxxxxxxxxxxxxxxxxxee";
    assert_sanitized("abs-name", name, &["_tmp"]);
}

#[test]
fn absurd_sizes() {
    assert_rejected(
        "pieces-short",
        &info_dict("6:lengthi40000e", "i16384e", 2),
        "pieces",
    );
    assert_rejected(
        "pieces-long",
        &info_dict("6:lengthi40000e", "i16384e", 9),
        "pieces",
    );
    assert_rejected(
        "piece-len-0",
        &info_dict("6:lengthi10e", "i0e", 1),
        "invalid piece length 0",
    );
    assert_rejected(
        "piece-len-2^40",
        &info_dict("6:lengthi10e", "i1099511627776e", 1),
        "invalid piece length 1099511627776",
    );
    assert_rejected(
        "len-minus-1",
        &info_dict("6:lengthi-1e", "i16384e", 1),
        "invalid file length -1",
    );
    assert_rejected(
        "len-2^63",
        &info_dict("6:lengthi9223372036854775808e", "i16384e", 1),
        "out of 64-bit range",
    );
    assert_rejected(
        "len-2^62",
        &info_dict("6:lengthi4611686018427387904e", "i16384e", 1),
        "invalid file length",
    );
}

#[test]
fn malformed_bencode() {
    let mut deep = b"d4:info".to_vec();
    deep.extend(std::iter::repeat_n(b'l', 100_000));
    assert_rejected("deep", &deep, "nesting deeper than 64");
    let mut bomb = b"d4:infod6:pieces4294967296:".to_vec();
    bomb.resize(1024, b'x');
    assert_rejected("4GiB-string", &bomb, "declares 4294967296 bytes");
    assert_rejected("garbage", b"\x00\x01hello", "unexpected byte 0x00");
    // Trailing bytes after the root are ignored (as libtorrent does): this
    // one fails on its content, not on the tail.
    assert_rejected(
        "trailing",
        b"d4:infod6:lengthi1eeeXYZ",
        "missing required key 'info.name'",
    );
    assert_rejected("leading-zero", b"d4:infod6:lengthi01eee", "leading zero");
    assert_rejected("empty-file", b"", "unexpected end of input");
}

#[test]
fn bad_magnets() {
    for (m, expected) in [
        ("magnet:?dn=x", "no 'xt=urn:btih:'"),
        ("magnet:?xt=urn:btmh:1220abcd", "invalid v2 info-hash"),
        ("magnet:?xt=urn:btih:1234", "invalid info-hash"),
        (
            "magnet:?xt=urn:btih:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "invalid info-hash",
        ),
    ] {
        let out = run_with_timeout(shoal().args(["info", m]), Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(1), "{m}");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(expected), "{m}: {err}");
    }
}

#[test]
fn oversized_torrent_file_is_refused_without_reading_it() {
    let tmp = tempdir();
    let t = tmp.path().join("huge.torrent");
    let f = std::fs::File::create(&t).expect("create");
    f.set_len(1 << 30).expect("sparse 1 GiB");
    let out = run_with_timeout(shoal().arg("info").arg(&t), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("too large for a .torrent"),
        "{}",
        stderr(&out)
    );
}
