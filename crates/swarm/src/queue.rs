//! Queueing and seeding goals of a multi-torrent session, as pure
//! decisions: which torrents may run now (at most so many downloading and
//! so many seeding, in queue order), and whether a seeding torrent has met
//! its ratio or idle goal. The engine's session applies the answers.

use std::time::Duration;

/// One torrent as the queue sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEntry {
    /// Place in the queue (lower runs first); ties keep slice order.
    pub position: u32,
    /// The user wants it running (not paused, not in error).
    pub wants_to_run: bool,
    /// Started with "start now": runs whatever the limits, and does not
    /// take a slot from the others.
    pub forced: bool,
    /// Every wanted piece is verified: it needs a seeding slot, not a
    /// downloading one.
    pub seeding: bool,
}

/// How many torrents may be active at once (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueLimits {
    /// Most torrents downloading at once.
    pub max_downloads: Option<usize>,
    /// Most torrents seeding at once.
    pub max_seeds: Option<usize>,
}

/// Which of `entries` should run now, by index: forced ones always, then
/// the others in queue order while their kind has a free slot. A torrent
/// that does not want to run never does.
pub fn decide(entries: &[QueueEntry], limits: QueueLimits) -> Vec<bool> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries[i].position);
    let mut run = vec![false; entries.len()];
    let (mut downloads, mut seeds) = (0usize, 0usize);
    for i in order {
        let e = entries[i];
        if !e.wants_to_run {
            continue;
        }
        if e.forced {
            run[i] = true;
            continue;
        }
        let (count, max) = if e.seeding {
            (&mut seeds, limits.max_seeds)
        } else {
            (&mut downloads, limits.max_downloads)
        };
        if max.is_none_or(|m| *count < m) {
            *count += 1;
            run[i] = true;
        }
    }
    run
}

/// A seeding goal: stop once the ratio or the idle time reaches its limit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SeedGoal {
    /// Stop when uploaded / size reaches this (`None`: never).
    pub ratio: Option<f64>,
    /// Stop after this long without uploading (`None`: never).
    pub idle: Option<Duration>,
}

impl SeedGoal {
    /// Whether a seeding torrent with this `ratio` that has been idle
    /// (nothing uploaded) for `idle` has met the goal.
    pub fn reached(&self, ratio: f64, idle: Duration) -> bool {
        self.ratio.is_some_and(|r| ratio >= r) || self.idle.is_some_and(|i| idle >= i)
    }
}

/// Where a queue move takes a torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMove {
    /// First place.
    Top,
    /// One place earlier.
    Up,
    /// One place later.
    Down,
    /// Last place.
    Bottom,
}

/// Move the torrent at `from` in `order` (torrents by queue place, first
/// first) as `to` says. Returns whether anything moved.
pub fn move_in_queue<T>(order: &mut Vec<T>, from: usize, to: QueueMove) -> bool {
    if from >= order.len() {
        return false;
    }
    let last = order.len() - 1;
    let dest = match to {
        QueueMove::Top => 0,
        QueueMove::Up => from.saturating_sub(1),
        QueueMove::Down => (from + 1).min(last),
        QueueMove::Bottom => last,
    };
    if dest == from {
        return false;
    }
    let item = order.remove(from);
    order.insert(dest, item);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(position: u32, seeding: bool) -> QueueEntry {
        QueueEntry {
            position,
            wants_to_run: true,
            forced: false,
            seeding,
        }
    }

    #[test]
    fn at_most_n_download_and_m_seed_in_queue_order() {
        let entries = [
            entry(3, false),
            entry(0, false),
            entry(1, true),
            entry(2, false),
            entry(4, true),
            entry(5, true),
        ];
        let limits = QueueLimits {
            max_downloads: Some(2),
            max_seeds: Some(1),
        };
        assert_eq!(
            decide(&entries, limits),
            [false, true, true, true, false, false]
        );
        assert_eq!(
            decide(&entries, QueueLimits::default()),
            [true; 6],
            "no limits: everything runs"
        );
    }

    #[test]
    fn paused_take_no_slot_and_forced_bypass_the_limit() {
        let mut entries = [entry(0, false), entry(1, false), entry(2, false)];
        entries[0].wants_to_run = false;
        entries[2].forced = true;
        let limits = QueueLimits {
            max_downloads: Some(1),
            max_seeds: Some(0),
        };
        assert_eq!(decide(&entries, limits), [false, true, true]);
        entries[2].wants_to_run = false;
        assert_eq!(decide(&entries, limits), [false, true, false]);
    }

    #[test]
    fn seed_goal_by_ratio_or_idle() {
        let goal = SeedGoal {
            ratio: Some(1.5),
            idle: Some(Duration::from_secs(60)),
        };
        assert!(!goal.reached(1.4, Duration::from_secs(59)));
        assert!(goal.reached(1.5, Duration::ZERO));
        assert!(goal.reached(0.0, Duration::from_secs(60)));
        assert!(!SeedGoal::default().reached(1e9, Duration::MAX));
    }

    #[test]
    fn queue_moves() {
        let mut q = vec!['a', 'b', 'c', 'd'];
        assert!(move_in_queue(&mut q, 2, QueueMove::Top));
        assert_eq!(q, ['c', 'a', 'b', 'd']);
        assert!(move_in_queue(&mut q, 1, QueueMove::Bottom));
        assert_eq!(q, ['c', 'b', 'd', 'a']);
        assert!(move_in_queue(&mut q, 1, QueueMove::Up));
        assert_eq!(q, ['b', 'c', 'd', 'a']);
        assert!(move_in_queue(&mut q, 2, QueueMove::Down));
        assert_eq!(q, ['b', 'c', 'a', 'd']);
        assert!(!move_in_queue(&mut q, 0, QueueMove::Up));
        assert!(!move_in_queue(&mut q, 3, QueueMove::Down));
        assert!(!move_in_queue(&mut q, 9, QueueMove::Top));
    }
}
