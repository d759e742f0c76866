//! Local service discovery (BEP 14) against libtorrent 2.0, in a network
//! namespace this test creates (`ip netns add`; its loopback up with
//! multicast on and the multicast range routed to it), so the announces
//! reach nobody else: a `shoal download` with no tracker, no DHT and no
//! `--peer` finds a libtorrent seeder (LSD on, DHT off) by its multicast
//! `BT-SEARCH` and downloads from it.
//!
//! Creating a namespace needs root (CAP_SYS_ADMIN): where that is
//! impossible the test prints `SKIPPED` with the reason on stderr and
//! passes; everywhere the suite runs as root it runs.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    /// Create it with multicast on its loopback; `Err` says why not.
    fn create() -> Result<Netns, String> {
        let name = format!("shoal-lsd-{}", std::process::id());
        let ok = |args: &[&str]| -> Result<(), String> {
            let o = Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| format!("ip {args:?}: {e}"))?;
            if o.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "ip {args:?}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
        };
        ok(&["netns", "add", &name])?;
        let ns = Netns(name.clone());
        ok(&[
            "netns",
            "exec",
            &name,
            "ip",
            "link",
            "set",
            "lo",
            "up",
            "multicast",
            "on",
        ])?;
        ok(&[
            "netns",
            "exec",
            &name,
            "ip",
            "route",
            "add",
            "224.0.0.0/4",
            "dev",
            "lo",
        ])?;
        Ok(ns)
    }

    /// `cmd` to run inside the namespace.
    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn shoal_finds_a_libtorrent_seeder_by_local_service_discovery() {
    require_libtorrent();
    let ns = match Netns::create() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED: cannot create a network namespace for the LSD test: {why}");
            return;
        }
    };
    let tmp = tempdir();
    let work = tmp.path();
    let seed_dir = work.join("seed");
    let file = seed_dir.join("payload.bin");
    write_file(&file, 2 * 1024 * 1024 + 5, 21);
    let torrent = work.join("t.torrent");
    let o = run_with_timeout(
        shoal().arg("create").arg(&file).arg("-o").arg(&torrent),
        LIMIT,
    );
    assert!(o.status.success(), "shoal create: {}", stderr(&o));

    // Shoal first, so the seeder's announce at start is what it hears.
    let out = work.join("out");
    let mut cmd = ns.command(&shoal_bin());
    cmd.arg("download").arg(&torrent).arg("--dir").arg(&out);
    cmd.args(["--listen", "127.0.0.1:40002", "--no-dht", "--json"]);
    cmd.env("SHOAL_DHT_ROUTERS", "").env_remove("SHOAL_LSD");
    let mut dl = Logged::spawn("shoal", work, &mut cmd);
    dl.listening();

    let mut lt = ns.command(Path::new(SYSTEM_PYTHON));
    lt.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/lt_discovery.py"));
    lt.arg(&torrent).arg(&seed_dir).arg("40001");
    lt.args(["--seed", "--lsd", "--timeout", "90"])
        .env("TMPDIR", work);
    let _seed = Logged::spawn("lt-seed", work, &mut lt);

    let report: Value = dl.finish_json(LIMIT);
    assert_eq!(sha256_file(&out.join("payload.bin")), sha256_file(&file));
    let from = &report["downloaded_from"][0];
    assert_eq!(from["peer"], "127.0.0.1:40001", "{report}");
    assert_eq!(from["source"], "lsd", "{report}");
    assert!(
        report["peer_sources"]["lsd"].as_u64().unwrap_or(0) >= 1,
        "{report}"
    );
}
