//! What a run measured, and the minimum distribution time it is judged
//! against.

use std::fmt;
use std::time::Duration;

use super::scenario::{Role, Scenario};

/// The minimum distribution time T* of a scenario, the lower bound on the
/// time until every leecher holds the file (Kumar and Ross, 2006):
///
/// ```text
/// T* = max( F / u_s,  N·F / (u_s + Σ u_i),  F / d_min )
/// ```
///
/// with `F` the file size, `u_s` the seeders' total upload rate, `u_i`
/// the leechers' upload rates, `N` the number of leechers and `d_min` the
/// slowest leecher download rate (the term is left out when no leecher
/// has a download limit). The seeders must send every byte at least once;
/// the swarm as a whole must deliver `N·F` bytes; the slowest downloader
/// must receive `F` bytes. Latency and protocol overhead come on top, so
/// a real swarm always takes longer than T*.
pub fn min_distribution_time(scenario: &Scenario) -> Duration {
    let f = scenario.total_length as f64;
    let seeds: f64 = scenario
        .nodes
        .iter()
        .filter(|n| n.role == Role::Seeder)
        .map(|n| n.upload as f64)
        .sum();
    let leechers: Vec<_> = scenario
        .nodes
        .iter()
        .filter(|n| n.role == Role::Leecher)
        .collect();
    if leechers.is_empty() || f == 0.0 {
        return Duration::ZERO;
    }
    let n = leechers.len() as f64;
    let all: f64 = seeds + leechers.iter().map(|l| l.upload as f64).sum::<f64>();
    let mut t = f / seeds.max(1.0);
    t = t.max(n * f / all.max(1.0));
    if let Some(d) = leechers.iter().filter_map(|l| l.download).min() {
        t = t.max(f / (d.max(1) as f64));
    }
    Duration::from_secs_f64(t)
}

/// One node's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// Seeder or leecher.
    pub role: Role,
    /// When it held every piece (a seeder: at the start).
    pub completed_at: Option<Duration>,
    /// Payload bytes stored that came from seeders.
    pub from_seeders: u64,
    /// Payload bytes stored that came from leechers.
    pub from_leechers: u64,
    /// Block bytes it sent.
    pub uploaded: u64,
    /// Pieces that failed the hash check here.
    pub hash_failures: u32,
    /// Nodes that banned this one.
    pub banned_by: Vec<usize>,
    /// When it left the swarm, if it did.
    pub departed_at: Option<Duration>,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Per node, in scenario order.
    pub nodes: Vec<NodeReport>,
    /// Time until every leecher held every piece (`None`: some never did
    /// within the time limit).
    pub t: Option<Duration>,
    /// The minimum distribution time; see [`min_distribution_time`].
    pub t_star: Duration,
    /// When the leechers first held every piece among them.
    pub full_copy_at: Option<Duration>,
    /// Per piece, block bytes the seeders' uplinks had transmitted by then
    /// (all they transmitted if that never happened).
    pub seeder_piece_bytes: Vec<u64>,
    /// Piece sizes, for [`Report::copies_per_piece`].
    pub piece_sizes: Vec<u32>,
    /// Content size, bytes.
    pub total_length: u64,
    /// Events processed.
    pub events: u64,
    /// A digest of every event processed (time, kind, node): equal
    /// digests mean, short of a collision, identical runs.
    pub trace_hash: u64,
    /// Virtual time when the run stopped.
    pub end: Duration,
}

impl Report {
    /// T / T* (`None` if the swarm did not complete).
    pub fn ratio(&self) -> Option<f64> {
        let t = self.t?;
        (!self.t_star.is_zero()).then(|| t.as_secs_f64() / self.t_star.as_secs_f64())
    }

    /// Per piece, copies the seeders sent before the leechers held a full
    /// copy among them.
    pub fn copies_per_piece(&self) -> Vec<f64> {
        self.seeder_piece_bytes
            .iter()
            .zip(&self.piece_sizes)
            .map(|(&b, &s)| b as f64 / f64::from(s.max(1)))
            .collect()
    }

    /// Copies of the whole content the seeders sent before the leechers
    /// held a full copy among them.
    pub fn seeder_copies(&self) -> f64 {
        let sent: u64 = self.seeder_piece_bytes.iter().sum();
        sent as f64 / (self.total_length.max(1) as f64)
    }

    /// Whether every leecher completed.
    pub fn all_complete(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| n.role == Role::Seeder || n.completed_at.is_some())
    }

    /// Indices of the leechers.
    pub fn leechers(&self) -> impl Iterator<Item = (usize, &NodeReport)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.role == Role::Leecher)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |d: Option<Duration>| {
            d.map_or("never".to_owned(), |d| format!("{:.2}s", d.as_secs_f64()))
        };
        let copies = self.copies_per_piece();
        let max = copies.iter().copied().fold(0.0, f64::max);
        let min = copies.iter().copied().fold(f64::INFINITY, f64::min);
        let (mut from_s, mut from_l) = (0u64, 0u64);
        for (_, n) in self.leechers() {
            from_s += n.from_seeders;
            from_l += n.from_leechers;
        }
        writeln!(
            f,
            "T = {}  T* = {:.2}s  T/T* = {}",
            secs(self.t),
            self.t_star.as_secs_f64(),
            self.ratio().map_or("-".to_owned(), |r| format!("{r:.2}"))
        )?;
        writeln!(
            f,
            "full copy among leechers at {}; seeder copies before: {:.2} (per piece min {:.2} max {:.2})",
            secs(self.full_copy_at),
            self.seeder_copies(),
            if min.is_finite() { min } else { 0.0 },
            max
        )?;
        writeln!(
            f,
            "leechers got {:.1} MiB from seeders, {:.1} MiB from leechers",
            from_s as f64 / 1048576.0,
            from_l as f64 / 1048576.0
        )?;
        write!(
            f,
            "events {}  virtual end {:.2}s  trace {:016x}",
            self.events,
            self.end.as_secs_f64(),
            self.trace_hash
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_star_takes_the_tightest_bound() {
        // One seed at 1 MB/s, 4 leechers at 1 MB/s, 8 MB: the seed must
        // send 8 MB (8 s), more than the swarm bound 4·8/(1+4) = 6.4 s.
        let s = Scenario::new(8_000_000, 262_144, 1)
            .seeders(1, 1_000_000)
            .leechers(4, 1_000_000);
        assert_eq!(min_distribution_time(&s), Duration::from_secs(8));
        // With 100 leechers at 0.5 MB/s the swarm bound wins: 100·8/51 s.
        let s = Scenario::new(8_000_000, 262_144, 1)
            .seeders(1, 1_000_000)
            .leechers(100, 500_000);
        let t = min_distribution_time(&s).as_secs_f64();
        assert!((t - 800.0 / 51.0).abs() < 1e-6, "{t}");
        // A slow downloader bounds it too.
        let mut s = Scenario::new(8_000_000, 262_144, 1)
            .seeders(1, 1_000_000)
            .leechers(1, 1_000_000);
        s.nodes[1].download = Some(500_000);
        assert_eq!(min_distribution_time(&s), Duration::from_secs(16));
    }
}
