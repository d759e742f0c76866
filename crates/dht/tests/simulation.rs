//! Hundreds of Shoal DHT nodes on a virtual network and clock: lookups
//! converge, and keep working after 20% of the nodes leave and 10% turn
//! hostile (garbage answers, or themselves for every id).

#[path = "support/sim.rs"]
mod sim;

use std::time::{Duration, Instant};

use sim::Sim;

#[test]
fn lookups_converge_and_survive_churn_and_hostile_nodes() {
    let started = Instant::now();
    let mut sim = Sim::new(400, 42);
    sim.join_all(Duration::from_millis(200), Duration::from_secs(120));
    let table = sim.mean_table();
    println!("400 nodes joined: mean routing table {table:.1} nodes");
    assert!(table >= 20.0, "tables too small: {table}");

    let find = sim.find_closest(40);
    let peers = sim.announce_and_find(40);
    println!("healthy: find_node {find:?}");
    println!("healthy: get_peers {peers:?}");
    assert!(
        find.successes >= 38,
        "find_node missed the closest node: {find:?}"
    );
    assert_eq!(
        peers.successes, peers.lookups,
        "get_peers missed announced peers: {peers:?}"
    );
    assert!(
        peers.messages < 60.0,
        "too many messages per lookup: {peers:?}"
    );

    sim.kill(0.2);
    sim.corrupt(0.1);
    let find = sim.find_closest(40);
    let peers = sim.announce_and_find(40);
    println!("20% gone, 10% hostile: find_node {find:?}");
    println!("20% gone, 10% hostile: get_peers {peers:?}");
    assert!(find.successes >= 34, "find_node after churn: {find:?}");
    assert!(
        peers.successes * 100 >= peers.lookups * 90,
        "get_peers after churn: {peers:?}"
    );
    // Let maintenance run: dead and hostile nodes leave the tables.
    sim.run_for(Duration::from_secs(20 * 60));
    let peers = sim.announce_and_find(20);
    println!("after 20 minutes of maintenance: get_peers {peers:?}");
    assert!(peers.successes * 100 >= peers.lookups * 90, "{peers:?}");
    println!(
        "virtual-network packets delivered: {}, wall time {:?}",
        sim.delivered,
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}
