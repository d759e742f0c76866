//! A torrent full of hostile names downloads end to end with every byte
//! inside `--dir`: `..` components, absolute paths, separators inside
//! names, an over-long name, duplicate paths, a file that is also a
//! folder, padding, and symlinks pointing inside and outside. The seeder's
//! data sits where `shoal info` says (the sanitized paths); after the
//! download a walk over the whole temporary tree finds nothing but the
//! expected entries, and the copy matches. Loopback only, bounded waits.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Writes `evil.torrent` (v1, 16 KiB pieces, real SHA-1s) and prints the
/// file bytes are `(i * 7 + length) % 251` (every length differs), padding
/// zeros, symlinks no data.
const MAKE: &str = r#"
import hashlib, sys
def be(v):
    if isinstance(v, int): return b"i%de" % v
    if isinstance(v, bytes): return b"%d:%s" % (len(v), v)
    if isinstance(v, list): return b"l" + b"".join(be(x) for x in v) + b"e"
    if isinstance(v, dict):
        return b"d" + b"".join(be(k) + be(v[k]) for k in sorted(v)) + b"e"
files = [
    ([b"..", b"..", b"etc", b"passwd"], 20000, b""),
    ([b"/abs", b"x"], 5000, b""),
    ([b"a/../../y"], 3000, b""),
    ([b"x" * 300 + b".bin"], 1234, b""),
    ([b"dup"], 100, b""),
    ([b"dup"], 200, b""),
    ([b"dir"], 50, b""),
    ([b"dir", b"inner"], 60, b""),
    ([b".pad", b"1"], 4000, b"p"),
    ([b"exe"], 10, b"x"),
    ([b"link-in"], 0, b"l"),
    ([b"link-out"], 0, b"l"),
]
stream = b""
entries = []
for n, (path, length, attr) in enumerate(files):
    e = {b"path": path, b"length": length}
    if attr: e[b"attr"] = attr
    if attr == b"l":
        e[b"symlink path"] = [b"exe"] if path == [b"link-in"] else [b"..", b"..", b"etc"]
    entries.append(e)
    if attr == b"p": stream += b"\0" * length
    elif attr != b"l": stream += bytes((i * 7 + length) % 251 for i in range(length))
pl = 16384
pieces = b"".join(hashlib.sha1(stream[i:i + pl]).digest() for i in range(0, len(stream), pl))
info = {b"name": b"../evil", b"piece length": pl, b"pieces": pieces, b"files": entries}
open(sys.argv[1], "wb").write(be({b"info": info}))
"#;

/// The bytes of the torrent's file of `len` bytes.
fn data(len: u64) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + len) % 251) as u8).collect()
}

/// Every entry under `root` (files, folders, symlinks), relative.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel)).expect("read_dir") {
            let e = e.expect("entry");
            let r = rel.join(e.file_name());
            if e.file_type().expect("type").is_dir() {
                stack.push(r.clone());
            }
            out.push(r);
        }
    }
    out.sort();
    out
}

#[test]
fn hostile_names_download_with_every_byte_inside_dir() {
    let tmp = tempdir();
    let work = tmp.path();
    let torrent = work.join("evil.torrent");
    let py = work.join("make.py");
    std::fs::write(&py, MAKE).expect("script");
    let o = run_with_timeout(Command::new(SYSTEM_PYTHON).arg(&py).arg(&torrent), LIMIT);
    assert!(o.status.success(), "make: {}", stderr(&o));
    let info = run_with_timeout(shoal().arg("info").arg("--json").arg(&torrent), LIMIT);
    assert!(info.status.success(), "info: {}", stderr(&info));
    let info: serde_json::Value = serde_json::from_str(&stdout(&info)).expect("json");
    assert!(!info["warnings"].as_array().expect("warnings").is_empty());

    // The seeder's data at the on-disk paths `shoal info` gives.
    let seed = work.join("seed");
    let files = info["files"].as_array().expect("files");
    let mut expected = Vec::new();
    for f in files {
        let rel = f["path"].as_str().expect("path");
        let len = f["length"].as_u64().expect("length");
        assert!(
            !rel.starts_with('/') && !rel.split('/').any(|c| c == ".."),
            "{rel}"
        );
        if rel.contains("/.pad/") || rel.ends_with("link-in") || rel.ends_with("link-out") {
            continue;
        }
        let p = seed.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data(len)).expect("write");
        expected.push((rel.to_string(), data(len)));
    }
    let mut s = Logged::spawn(
        "seed",
        work,
        shoal()
            .arg("seed")
            .arg(&torrent)
            .arg("--dir")
            .arg(&seed)
            .args(["--listen", "127.0.0.1:0", "--no-dht"]),
    );
    let addr = s.listening();
    s.wait_for("seeding ", LIMIT);

    let jail = work.join("jail");
    let out = jail.join("out");
    let mut dl = Logged::spawn(
        "download",
        work,
        shoal()
            .arg("download")
            .arg(&torrent)
            .arg("--dir")
            .arg(&out)
            .args(["--listen", "127.0.0.1:0", "--json", "--no-dht"])
            .args(["--peer", &addr.to_string()]),
    );
    dl.finish_json(LIMIT);
    drop(s);

    // Nothing outside --dir: the jail holds `out` only, the work dir only
    // what the test itself made.
    assert_eq!(walk(&jail).first(), Some(&PathBuf::from("out")));
    assert!(walk(&jail).iter().all(|p| p.starts_with("out")));
    let top: Vec<PathBuf> = std::fs::read_dir(work)
        .expect("read_dir")
        .map(|e| PathBuf::from(e.expect("entry").file_name()))
        .collect();
    for t in &top {
        let name = t.to_string_lossy();
        assert!(
            ["evil.torrent", "make.py", "seed", "jail"].contains(&name.as_ref())
                || name.ends_with(".out")
                || name.ends_with(".err"),
            "unexpected entry {name} beside --dir"
        );
    }
    // The copy: every file in place, no padding on disk, the inside link
    // made (relative, to the file inside), the outside one not.
    for (rel, bytes) in &expected {
        assert_eq!(&std::fs::read(out.join(rel)).expect(rel), bytes, "{rel}");
    }
    let entries = walk(&out);
    assert!(!entries.iter().any(|p| p.to_string_lossy().contains(".pad")));
    let base = out.join(
        files[0]["path"]
            .as_str()
            .expect("p")
            .split('/')
            .next()
            .expect("base"),
    );
    let link = base.join("link-in");
    assert!(std::fs::symlink_metadata(&link)
        .expect("link-in")
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&link).expect("through link"), data(10));
    assert!(std::fs::symlink_metadata(base.join("link-out")).is_err());
    for p in &entries {
        let full = out.join(p);
        if let Ok(canon) = std::fs::canonicalize(&full) {
            assert!(
                canon.starts_with(std::fs::canonicalize(&out).expect("out")),
                "{p:?} -> {canon:?}"
            );
        }
    }
}
