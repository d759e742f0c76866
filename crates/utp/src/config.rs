//! Tunables of a uTP connection, with libtorrent-like defaults.

use std::time::Duration;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest datagram sent, header included (path MTU minus IP/UDP
    /// headers; 1400 is safe on IPv4 paths and most tunnels). A selective
    /// ack may add up to 34 bytes on top.
    pub packet_size: usize,
    /// Offer (in the SYN or its answer) to use datagrams of up to this
    /// size with a peer that offers the same (Shoal's `EXT_MAX_DATAGRAM`);
    /// the smaller offer wins. Meant for loopback, where the path takes
    /// 64 KiB datagrams but other implementations still receive into
    /// 1500-byte buffers. `None`: no offer, `packet_size` throughout.
    pub large_packet_size: Option<usize>,
    /// Bytes the application may have written and not had acknowledged.
    pub send_buffer: usize,
    /// Receive buffer: in-order and out-of-order bytes together; its free
    /// space is the advertised window.
    pub recv_buffer: usize,
    /// Most packets held ahead of a gap.
    pub max_out_of_order: usize,
    /// LEDBAT target queueing delay.
    pub target_delay: Duration,
    /// Most the congestion window grows per round trip, bytes.
    pub gain: usize,
    /// Hard cap of the congestion window, bytes.
    pub max_cwnd: usize,
    /// Retransmission timeout floor.
    pub min_rto: Duration,
    /// Retransmission timeout before any RTT sample.
    pub initial_rto: Duration,
    /// Consecutive timeouts of one packet before the connection fails.
    pub max_retransmissions: u32,
    /// SYN resends before a connect fails.
    pub syn_retries: u32,
    /// Hold back a short packet while data is in flight (Nagle).
    pub nagle: bool,
    /// Connection fails when nothing is received for this long.
    pub idle_timeout: Duration,
    /// Send an ack after this long without sending anything (NAT keepalive).
    pub keepalive: Duration,
    /// How long a closed connection keeps acknowledging retransmitted FINs.
    pub linger: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            packet_size: 1400,
            large_packet_size: None,
            send_buffer: 1 << 20,
            recv_buffer: 1 << 20,
            max_out_of_order: 1024,
            target_delay: Duration::from_millis(100),
            gain: 3000,
            max_cwnd: 16 << 20,
            min_rto: Duration::from_millis(500),
            initial_rto: Duration::from_secs(1),
            max_retransmissions: 6,
            syn_retries: 3,
            nagle: true,
            idle_timeout: Duration::from_secs(120),
            keepalive: Duration::from_secs(29),
            linger: Duration::from_secs(2),
        }
    }
}
