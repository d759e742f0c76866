//! LEDBAT congestion control (RFC 6817, as libtorrent and libutp apply it
//! to uTP): the window grows while the measured queueing delay is under the
//! 100 ms target and shrinks when it is over, in proportion to how far off
//! target it is, at most `gain` bytes per round trip; slow start grows by
//! the bytes acked until the delay reaches the target (libtorrent's exit on
//! delay) or the window passes the slow-start threshold; a loss halves the
//! window; the window never goes below one packet.

/// The congestion window and its parameters.
#[derive(Debug, Clone)]
pub struct Ledbat {
    /// Congestion window, bytes (fractional).
    cwnd: f64,
    slow_start: bool,
    ssthresh: f64,
    target_us: f64,
    gain: f64,
    min_window: f64,
    max_window: f64,
}

impl Ledbat {
    /// A window of `initial` bytes in slow start. `target_us` is the target
    /// queueing delay, `gain` the most the window grows per round trip,
    /// `min_window` one packet, `max_window` a hard cap.
    pub fn new(
        initial: usize,
        target_us: u32,
        gain: usize,
        min_window: usize,
        max_window: usize,
    ) -> Ledbat {
        Ledbat {
            cwnd: initial.max(min_window) as f64,
            slow_start: true,
            ssthresh: 0.0,
            target_us: f64::from(target_us.max(1)),
            gain: gain as f64,
            min_window: min_window as f64,
            max_window: max_window.max(min_window) as f64,
        }
    }

    /// The congestion window in bytes.
    pub fn window(&self) -> usize {
        self.cwnd as usize
    }

    /// True while in slow start.
    pub fn in_slow_start(&self) -> bool {
        self.slow_start
    }

    /// Change the packet size the minimum window is made of.
    pub fn set_min_window(&mut self, min_window: usize) {
        self.min_window = min_window as f64;
        self.cwnd = self.cwnd.max(self.min_window);
    }

    /// `acked` bytes were newly acknowledged, the queueing delay is
    /// `delay_us`, and `saturated` says the sender had enough data to fill
    /// the window (an application-limited sender does not grow it).
    pub fn on_ack(&mut self, acked: usize, delay_us: u32, saturated: bool) {
        if acked == 0 {
            return;
        }
        let acked = acked as f64;
        let delay = f64::from(delay_us);
        if delay >= self.target_us && self.slow_start {
            self.ssthresh = self.cwnd / 2.0;
            self.slow_start = false;
        }
        let off_target = ((self.target_us - delay) / self.target_us).clamp(-1.0, 1.0);
        let window_factor = (acked / self.cwnd).min(1.0);
        let linear = self.gain * off_target * window_factor;
        let change = if off_target < 0.0 {
            // Over target: always back off, saturated or not.
            linear
        } else if !saturated {
            0.0
        } else if self.slow_start {
            if self.ssthresh > 0.0 && self.cwnd + acked > self.ssthresh {
                self.slow_start = false;
                linear
            } else {
                acked.max(linear)
            }
        } else {
            linear
        };
        self.cwnd = (self.cwnd + change).clamp(self.min_window, self.max_window);
    }

    /// A packet was lost (three duplicate acks or a selective-ack gap):
    /// halve the window and leave slow start.
    pub fn on_loss(&mut self) {
        self.cwnd = (self.cwnd / 2.0).max(self.min_window);
        self.ssthresh = self.cwnd;
        self.slow_start = false;
    }

    /// The retransmission timer fired: back to one packet, slow start up
    /// to half the old window.
    pub fn on_timeout(&mut self) {
        self.ssthresh = (self.cwnd / 2.0).max(self.min_window);
        self.cwnd = self.min_window;
        self.slow_start = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledbat() -> Ledbat {
        Ledbat::new(2800, 100_000, 3000, 1400, 1 << 24)
    }

    #[test]
    fn slow_start_doubles_until_delay_reaches_target() {
        let mut l = ledbat();
        // max(bytes acked, linear gain of 3000 for a full window at zero delay)
        l.on_ack(2800, 0, true);
        assert_eq!(l.window(), 5800);
        assert!(l.in_slow_start());
        l.on_ack(5800, 120_000, true);
        assert!(!l.in_slow_start());
        assert!(l.window() < 5800);
    }

    #[test]
    fn gain_is_capped_per_round_trip() {
        let mut l = ledbat();
        l.on_ack(2800, 150_000, true); // leave slow start
        let w = l.window();
        // A full window acked at zero delay: at most `gain` bytes more.
        l.on_ack(w, 0, true);
        assert!(l.window() <= w + 3000);
        assert!(l.window() > w);
        // Application-limited: no growth.
        let w = l.window();
        l.on_ack(w, 0, false);
        assert_eq!(l.window(), w);
    }

    #[test]
    fn backs_off_over_target_and_never_below_one_packet() {
        let mut l = ledbat();
        for _ in 0..10 {
            l.on_ack(2800, 0, true);
        }
        let w = l.window();
        l.on_ack(w, 300_000, true);
        assert!(l.window() < w);
        for _ in 0..10_000 {
            l.on_ack(1400, 1_000_000, true);
        }
        assert_eq!(l.window(), 1400);
        l.on_loss();
        assert_eq!(l.window(), 1400);
    }

    #[test]
    fn loss_halves_and_timeout_resets() {
        let mut l = ledbat();
        for _ in 0..5 {
            l.on_ack(l.window(), 0, true);
        }
        let w = l.window();
        l.on_loss();
        assert_eq!(l.window(), w / 2);
        assert!(!l.in_slow_start());
        l.on_timeout();
        assert_eq!(l.window(), 1400);
        assert!(l.in_slow_start());
    }
}
