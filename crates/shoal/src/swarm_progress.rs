//! Progress of a download or seed on stderr: a bar (percent, rates, ETA,
//! peers) on a terminal, a plain line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shoal_engine::{TorrentHandle, TorrentStats};

use crate::cmd::download::human_bytes;
use crate::progress::plain_interval;

/// A background thread showing a torrent's progress until finished.
pub struct SwarmProgress {
    done: Arc<AtomicBool>,
    label: Arc<Mutex<String>>,
    handle: Option<JoinHandle<()>>,
}

fn eta(s: &TorrentStats) -> String {
    let left = s.total_length - s.bytes_have;
    if left == 0 {
        return "0s".into();
    }
    if s.download_rate == 0 {
        return "?".into();
    }
    let secs = left / s.download_rate;
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// ` web 1.2 MiB` once web seeds (BEP 19) sent something, else nothing.
fn web_part(s: &TorrentStats) -> String {
    if s.web_seed_downloaded == 0 {
        String::new()
    } else {
        format!(" web {}", human_bytes(s.web_seed_downloaded))
    }
}

fn line(label: &str, s: &TorrentStats) -> String {
    let pct = if s.total_length == 0 {
        100.0
    } else {
        s.bytes_have as f64 * 100.0 / s.total_length as f64
    };
    format!(
        "{label}: {pct:.1}% ({}/{} pieces) down {}/s up {}/s eta {} peers {} ({}){}",
        s.pieces_have,
        s.piece_count,
        human_bytes(s.download_rate),
        human_bytes(s.upload_rate),
        eta(s),
        s.peers,
        s.peers_by_source.summary(),
        web_part(s)
    )
}

impl SwarmProgress {
    /// Start showing `handle`'s progress (nothing if `quiet`).
    pub fn start(handle: TorrentHandle, quiet: bool) -> SwarmProgress {
        let done = Arc::new(AtomicBool::new(false));
        let label = Arc::new(Mutex::new(String::from("downloading")));
        let flag = done.clone();
        let lbl = label.clone();
        let thread = (!quiet).then(|| {
            std::thread::spawn(move || {
                let label = || lbl.lock().map(|l| l.clone()).unwrap_or_default();
                if std::io::stderr().is_terminal() {
                    let total = handle.stats().total_length;
                    let bar =
                        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                    bar.set_style(
                        ProgressStyle::with_template("[{bar:30}] {percent:>3}% {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    while !flag.load(Ordering::Relaxed) {
                        let s = handle.stats();
                        bar.set_position(s.bytes_have);
                        bar.set_message(format!(
                            "{} ↓ {}/s ↑ {}/s eta {} peers {} ({}){}",
                            label(),
                            human_bytes(s.download_rate),
                            human_bytes(s.upload_rate),
                            eta(&s),
                            s.peers,
                            s.peers_by_source.summary(),
                            web_part(&s)
                        ));
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    bar.finish_and_clear();
                } else {
                    let mut last = Instant::now();
                    let every = plain_interval();
                    while !flag.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100));
                        if last.elapsed() >= every {
                            last = Instant::now();
                            eprintln!("{}", line(&label(), &handle.stats()));
                        }
                    }
                }
            })
        });
        SwarmProgress {
            done,
            label,
            handle: thread,
        }
    }

    /// Change the label (e.g. to "seeding").
    pub fn set_message(&self, msg: &str) {
        if let Ok(mut l) = self.label.lock() {
            *l = msg.to_owned();
        }
    }

    /// Stop the display.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for SwarmProgress {
    fn drop(&mut self) {
        self.stop();
    }
}
