//! The virtual clock: an event queue ordered by time, then by insertion.
//!
//! Times are offsets from the simulation's start; [`EventQueue::instant`]
//! turns them into the [`Instant`]s the core expects. Two events due at
//! the same time come out in the order they were scheduled, so a run is a
//! pure function of its inputs.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// An event waiting in the queue.
#[derive(Debug)]
struct Scheduled<E> {
    at: Duration,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    /// Reversed, so that the max-heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events of type `E` ordered by virtual time.
#[derive(Debug)]
pub struct EventQueue<E> {
    start: Instant,
    now: Duration,
    seq: u64,
    heap: BinaryHeap<Scheduled<E>>,
    processed: u64,
}

impl<E> EventQueue<E> {
    /// An empty queue whose time zero is `start`.
    pub fn new(start: Instant) -> EventQueue<E> {
        EventQueue {
            start,
            now: Duration::ZERO,
            seq: 0,
            heap: BinaryHeap::new(),
            processed: 0,
        }
    }

    /// The current virtual time, as an offset from the start.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The current virtual time as an [`Instant`].
    pub fn now_instant(&self) -> Instant {
        self.instant(self.now)
    }

    /// The [`Instant`] at offset `at`.
    pub fn instant(&self, at: Duration) -> Instant {
        self.start + at
    }

    /// Schedule `event` at offset `at` (an event in the past runs now).
    pub fn schedule(&mut self, at: Duration, event: E) {
        let at = at.max(self.now);
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
        self.seq += 1;
    }

    /// Schedule `event` `delay` from now.
    pub fn schedule_in(&mut self, delay: Duration, event: E) {
        self.schedule(self.now + delay, event);
    }

    /// The next event, advancing the clock to its time.
    pub fn pop(&mut self) -> Option<(Duration, E)> {
        let s = self.heap.pop()?;
        self.now = s.at;
        self.processed += 1;
        Some((s.at, s.event))
    }

    /// Events popped so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_by_time_then_by_insertion() {
        let mut q = EventQueue::new(Instant::now());
        q.schedule(Duration::from_millis(5), "late");
        q.schedule(Duration::from_millis(1), "first");
        q.schedule(Duration::from_millis(1), "second");
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["first", "second", "late"]);
        assert_eq!(q.now(), Duration::from_millis(5));
        assert_eq!(q.processed(), 3);
    }

    #[test]
    fn an_event_in_the_past_runs_now() {
        let mut q = EventQueue::new(Instant::now());
        q.schedule(Duration::from_secs(2), 1);
        q.pop();
        q.schedule(Duration::from_secs(1), 2);
        assert_eq!(q.pop(), Some((Duration::from_secs(2), 2)));
    }
}
