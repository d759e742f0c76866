//! Progress display for long operations: a bar on a terminal, plain
//! periodic lines otherwise, always on stderr.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Watches a byte counter from a background thread until dropped.
pub struct ByteProgress {
    done: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl ByteProgress {
    /// Start showing `counter` out of `total` bytes with a label.
    pub fn start(label: &str, total: u64, counter: Arc<AtomicU64>, quiet: bool) -> ByteProgress {
        let done = Arc::new(AtomicBool::new(false));
        let label = label.to_string();
        let flag = done.clone();
        let handle = (!quiet).then(|| {
            std::thread::spawn(move || {
                if std::io::stderr().is_terminal() {
                    let bar =
                        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_message(label);
                    while !flag.load(Ordering::Relaxed) {
                        bar.set_position(counter.load(Ordering::Relaxed));
                        std::thread::park_timeout(Duration::from_millis(100));
                    }
                    bar.set_position(counter.load(Ordering::Relaxed));
                    bar.finish_and_clear();
                } else {
                    let start = Instant::now();
                    let mut last = Instant::now();
                    let every = plain_interval();
                    while !flag.load(Ordering::Relaxed) {
                        std::thread::park_timeout(Duration::from_millis(100));
                        if last.elapsed() >= every {
                            last = Instant::now();
                            let n = counter.load(Ordering::Relaxed);
                            let pct = if total == 0 {
                                100.0
                            } else {
                                n as f64 * 100.0 / total as f64
                            };
                            let rate = n as f64 / start.elapsed().as_secs_f64().max(1e-9);
                            eprintln!("{label}: {pct:.1}% ({} MB/s)", (rate / 1e6).round());
                        }
                    }
                }
            })
        });
        ByteProgress { done, handle }
    }
}

impl Drop for ByteProgress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            // Wake it now rather than after its current 100 ms nap.
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// How often plain progress lines are printed by default.
const PLAIN_INTERVAL: Duration = Duration::from_secs(2);

/// Environment variable overriding [`PLAIN_INTERVAL`] (milliseconds, 100
/// to 60,000); `shoal demo` sets it for its peers to show them each second.
pub const PROGRESS_INTERVAL_ENV: &str = "SHOAL_PROGRESS_INTERVAL_MS";

/// How often plain progress lines are printed (off a terminal):
/// [`PROGRESS_INTERVAL_ENV`] if set to a valid value, else every 2 s.
pub fn plain_interval() -> Duration {
    std::env::var(PROGRESS_INTERVAL_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| (100..=60_000).contains(ms))
        .map_or(PLAIN_INTERVAL, Duration::from_millis)
}
