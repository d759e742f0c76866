//! Request counters, kept per thread slot so cores do not fight over one
//! cache line, summed on demand for `/stats` and `/metrics`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::store::Store;

/// What a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Kind {
    /// UDP connect answered.
    UdpConnect,
    /// UDP announce answered.
    UdpAnnounce,
    /// UDP scrape answered.
    UdpScrape,
    /// UDP request answered with an error packet.
    UdpError,
    /// UDP datagram dropped unanswered.
    UdpDropped,
    /// HTTP announce answered.
    HttpAnnounce,
    /// HTTP scrape answered.
    HttpScrape,
    /// HTTP request answered with a failure.
    HttpError,
    /// Other HTTP requests (`/stats`, `/metrics`).
    HttpOther,
}

const KINDS: usize = 9;
const NAMES: [&str; KINDS] = [
    "udp_connect",
    "udp_announce",
    "udp_scrape",
    "udp_error",
    "udp_dropped",
    "http_announce",
    "http_scrape",
    "http_error",
    "http_other",
];
const SLOTS: usize = 16;

#[repr(align(128))]
struct Slot([AtomicU64; KINDS]);

/// The counters.
pub struct Stats {
    slots: Box<[Slot]>,
}

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn my_slot() -> usize {
    MY_SLOT.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
        s.set(v);
        v
    })
}

impl Stats {
    /// All zero.
    pub fn new() -> Stats {
        Stats {
            slots: (0..SLOTS)
                .map(|_| Slot(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    /// Count one request of `kind`.
    pub fn add(&self, kind: Kind) {
        self.slots[my_slot()].0[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The count of `kind` over all slots.
    pub fn get(&self, kind: Kind) -> u64 {
        self.slots
            .iter()
            .map(|s| s.0[kind as usize].load(Ordering::Relaxed))
            .sum()
    }

    /// Counters plus the store's totals.
    pub fn snapshot(&self, store: &Store) -> StatsSnapshot {
        let t = store.totals();
        StatsSnapshot {
            requests: std::array::from_fn(|i| {
                self.slots
                    .iter()
                    .map(|s| s.0[i].load(Ordering::Relaxed))
                    .sum()
            }),
            torrents: t.torrents,
            seeders: t.seeders,
            leechers: t.leechers,
            peer_bytes: t.peer_bytes,
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Requests by kind, in the order of [`Kind`].
    pub requests: [u64; KINDS],
    /// Torrents.
    pub torrents: usize,
    /// Seeders.
    pub seeders: usize,
    /// Leechers.
    pub leechers: usize,
    /// Bytes held by peer vectors.
    pub peer_bytes: usize,
}

impl StatsSnapshot {
    /// The count of one kind.
    pub fn count(&self, kind: Kind) -> u64 {
        self.requests[kind as usize]
    }

    /// Append as a JSON object.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let _ = write!(out, "{{\"requests\":{{");
        for (i, n) in NAMES.iter().enumerate() {
            let sep = if i + 1 < KINDS { "," } else { "" };
            let _ = write!(out, "\"{n}\":{}{sep}", self.requests[i]);
        }
        let _ = writeln!(
            out,
            "}},\"torrents\":{},\"seeders\":{},\"leechers\":{},\"peer_bytes\":{}}}",
            self.torrents, self.seeders, self.leechers, self.peer_bytes
        );
    }

    /// Append in the Prometheus text format.
    pub fn write_prometheus(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let _ = writeln!(out, "# HELP shoal_tracker_requests_total Requests by kind.");
        let _ = writeln!(out, "# TYPE shoal_tracker_requests_total counter");
        for (i, n) in NAMES.iter().enumerate() {
            let _ = writeln!(
                out,
                "shoal_tracker_requests_total{{kind=\"{n}\"}} {}",
                self.requests[i]
            );
        }
        for (name, help, v) in [
            ("torrents", "Torrents with peers.", self.torrents),
            ("seeders", "Seeders over all torrents.", self.seeders),
            ("leechers", "Leechers over all torrents.", self.leechers),
            ("peer_bytes", "Bytes held by peer lists.", self.peer_bytes),
        ] {
            let _ = writeln!(out, "# HELP shoal_tracker_{name} {help}");
            let _ = writeln!(out, "# TYPE shoal_tracker_{name} gauge");
            let _ = writeln!(out, "shoal_tracker_{name} {v}");
        }
    }
}
