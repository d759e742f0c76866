//! Errors of `shoal info`/`create`/`verify` are one stderr line that names
//! each cause once (the bencode or I/O error used to be printed twice).

mod common;

use common::*;
use std::time::Duration;

fn one_error_line(args: &[&str]) -> String {
    let out = run_with_timeout(shoal().args(args), Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    err.trim_end().to_string()
}

/// How often `needle` occurs in `hay`.
fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn bencode_error_printed_once() {
    let tmp = tempdir();
    let t = tmp.path().join("garbage.torrent");
    std::fs::write(&t, b"xyz").expect("write");
    let t = t.to_str().expect("utf-8 path");
    for args in [vec!["info", t], vec!["verify", t, "--dir", "."]] {
        let err = one_error_line(&args);
        assert_eq!(count(&err, "bencode:"), 1, "{err}");
        assert_eq!(count(&err, "at byte 0"), 1, "{err}");
        assert_eq!(
            err,
            format!("shoal: error: {t}: invalid torrent: bencode: unexpected byte 0x78, expected 'i', 'l', 'd' or a digit at byte 0")
        );
    }
}

#[test]
fn io_error_printed_once() {
    let tmp = tempdir();
    let missing = tmp.path().join("nothing-here");
    let m = missing.to_str().expect("utf-8 path");
    let err = one_error_line(&["create", m, "-o", "/dev/null"]);
    assert_eq!(count(&err, "No such file or directory"), 1, "{err}");
    assert_eq!(
        err,
        format!("shoal: error: {m}: No such file or directory (os error 2)")
    );
    let err = one_error_line(&["info", m]);
    assert_eq!(count(&err, "No such file or directory"), 1, "{err}");
}
