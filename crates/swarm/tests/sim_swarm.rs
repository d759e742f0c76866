//! The swarm simulator on the pure core: a 100-peer swarm, determinism,
//! smart-ban, super-seeding, endgame with a slow peer, and churn. Each
//! test prints its figures (`cargo test -- --nocapture`).

use std::time::Duration;

use shoal_swarm::sim::{NodeSpec, Report, Role, Scenario, Simulation};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// One seeder and `leechers` leechers, all uploading 1 MiB/s, 20–100 ms
/// apart, 256 KiB pieces.
fn swarm(leechers: usize, size: u64, seed: u64) -> Scenario {
    Scenario::new(size, 256 * KIB as u32, seed)
        .seeders(1, MIB)
        .leechers(leechers, MIB)
        .latency(Duration::from_millis(10), Duration::from_millis(50))
}

fn run(label: &str, s: Scenario) -> Report {
    let r = Simulation::new(s).run();
    println!("--- {label}\n{r}");
    r
}

/// Every leecher stored exactly the content, once.
fn assert_every_leecher_has_everything(r: &Report, size: u64) {
    assert!(r.all_complete(), "some leecher never completed");
    for (i, n) in r.leechers() {
        assert_eq!(
            n.from_seeders + n.from_leechers - wasted(n),
            size,
            "leecher {i} stored extra or missing bytes"
        );
    }
}

/// Bytes of pieces that failed their check (downloaded again).
fn wasted(n: &shoal_swarm::sim::NodeReport) -> u64 {
    u64::from(n.hash_failures) * 256 * KIB
}

#[test]
fn a_hundred_peer_swarm_completes_within_a_small_multiple_of_t_star() {
    // 8 MiB in 32 pieces. Measured T/T* 2.65-2.96 over repeated runs
    // (4 MiB varied far more, 3.4-5.6: the start-up dominates).
    let r = run("100 leechers", swarm(100, 8 * MIB, 1));
    assert_every_leecher_has_everything(&r, 8 * MIB);
    let ratio = r.ratio().unwrap();
    println!("T/T* = {ratio:.2}");
    assert!(ratio < 3.6, "T/T* = {ratio:.2}");
    // Most of the data came from other leechers, not the seeder.
    let (s, l) = r.leechers().fold((0, 0), |(s, l), (_, n)| {
        (s + n.from_seeders, l + n.from_leechers)
    });
    assert!(l > 10 * s, "from seeders {s}, from leechers {l}");
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    // Twenty leechers: every core holds many peers, so any map that
    // iterated in a per-process random order would change the run.
    let a = run("seed 7", swarm(20, 4 * MIB, 7));
    let b = run("seed 7 again", swarm(20, 4 * MIB, 7));
    let c = run("seed 8", swarm(20, 4 * MIB, 8));
    assert!(a.all_complete());
    assert_eq!(a, b, "same seed, different runs");
    assert_ne!(a.trace_hash, c.trace_hash, "another seed, same trace");
}

#[test]
fn smart_ban_bans_the_corrupt_node_and_no_honest_one() {
    let mut s = Scenario::new(4 * MIB, 256 * KIB as u32, 3)
        .seeders(1, MIB)
        .leechers(8, MIB)
        .latency(Duration::from_millis(10), Duration::from_millis(50));
    let mut corrupt = NodeSpec::new(Role::Seeder, MIB);
    corrupt.corrupt_pieces = (0..16).step_by(2).collect();
    s = s.node(corrupt);
    let bad = s.nodes.len() - 1;
    let r = run("a corrupt seeder", s);
    assert!(r.all_complete());
    let failures: u32 = r.nodes.iter().map(|n| n.hash_failures).sum();
    println!(
        "hash failures {failures}, corrupt node banned by {:?}",
        r.nodes[bad].banned_by
    );
    assert!(failures > 0, "the corrupt node never got to send anything");
    for (i, n) in r.nodes.iter().enumerate() {
        if i == bad {
            continue;
        }
        assert!(
            n.banned_by.is_empty(),
            "honest node {i} banned by {:?}",
            n.banned_by
        );
        if n.hash_failures > 0 {
            assert!(
                r.nodes[bad].banned_by.contains(&i),
                "node {i} got corrupt data but did not ban its sender"
            );
        }
    }
}

#[test]
fn super_seeding_sends_each_piece_about_once_before_a_full_copy_is_out() {
    // A seed with a thin upload among faster leechers; many more pieces
    // than the two offers each peer holds at a time.
    let base = || {
        Scenario::new(4 * MIB, 64 * KIB as u32, 5)
            .seeders(1, 256 * KIB)
            .leechers(10, MIB)
            .latency(Duration::from_millis(10), Duration::from_millis(50))
    };
    let plain = run("default seeding", base());
    let sup = run("super-seeding", base().super_seed(true));
    assert!(plain.all_complete() && sup.all_complete());
    println!(
        "seeder copies before a full copy is out: default {:.2}, super-seed {:.2}",
        plain.seeder_copies(),
        sup.seeder_copies()
    );
    assert!(sup.seeder_copies() <= 1.25, "{:.2}", sup.seeder_copies());
    assert!(sup.seeder_copies() < plain.seeder_copies());
}

#[test]
fn endgame_does_not_wait_for_a_very_slow_peer() {
    let base = || swarm(10, 4 * MIB, 9);
    let fast = run("ten fast leechers", base());
    let mut slow = NodeSpec::new(Role::Leecher, 8 * KIB);
    slow.latency = Some(Duration::from_millis(150));
    let with_slow = run("plus one very slow leecher", base().node(slow));
    assert_every_leecher_has_everything(&with_slow, 4 * MIB);
    let (t_fast, t_slow) = (fast.t.unwrap(), with_slow.t.unwrap());
    println!("T without the slow peer {t_fast:?}, with it {t_slow:?}");
    assert!(
        t_slow.as_secs_f64() < 1.5 * t_fast.as_secs_f64(),
        "{t_slow:?} against {t_fast:?}"
    );
}

#[test]
fn the_swarm_completes_after_the_seeder_leaves_once_a_full_copy_is_out() {
    let mut s = swarm(20, 4 * MIB, 11);
    s.nodes[0].leave_after_full_copy = true;
    let r = run("the seeder leaves", s);
    let left = r.nodes[0].departed_at.expect("the seeder never left");
    assert_eq!(Some(left), r.full_copy_at);
    assert_every_leecher_has_everything(&r, 4 * MIB);
    assert!(
        r.t.unwrap() > left,
        "everyone was done before the seeder left"
    );
    // What the leechers got from the seeder is no more than it sent
    // before it left.
    let from_seeder: u64 = r.leechers().map(|(_, n)| n.from_seeders).sum();
    let sent: u64 = r.seeder_piece_bytes.iter().sum();
    assert!(from_seeder <= sent, "{from_seeder} > {sent}");
}
