//! uTP (BEP 29) with LEDBAT congestion control: a sans-I/O core and a tokio
//! driver.
//!
//! - [`packet`]: the wire format (header, selective-ack extension).
//! - [`Connection`]: one connection's state machine (handshake, sequence
//!   and ack numbers, selective acks, retransmission, LEDBAT, windows,
//!   FIN/RESET), fed packets and time by its caller.
//! - [`Endpoint`]: every connection of one UDP socket: demultiplexing by
//!   address and connection id, accepting SYNs within bounds, answering
//!   strays with `ST_RESET`, and telling non-uTP datagrams (the DHT) apart.
//! - [`UtpSocket`] / [`UtpStream`]: the tokio driver.
//!
//! Using it from an engine that shares the listen port's UDP socket with
//! the DHT:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use shoal_utp::{SocketConfig, UtpSocket};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let udp = std::sync::Arc::new(shoal_utp::udp_socket("0.0.0.0:6881".parse().unwrap(), 4 << 20)?);
//! let utp = UtpSocket::with_socket(udp, SocketConfig::default());
//! // Datagrams that are not uTP (KRPC starts with `d`) come out here;
//! // the DHT answers with `utp.send_to(..)` from the same port.
//! let mut dht_in = utp.non_utp_datagrams().expect("taken once");
//! // Outgoing: fails after `SocketConfig::connect_timeout` (fall back to TCP).
//! let mut stream = utp.connect("192.0.2.7:51413".parse().unwrap()).await?;
//! stream.write_all(b"\x13BitTorrent protocol").await?;
//! // Incoming:
//! let (mut peer, addr) = utp.accept().await?;
//! let mut buf = [0u8; 68];
//! peer.read_exact(&mut buf).await?;
//! # let _ = (dht_in.recv().await, addr);
//! # Ok(()) }
//! ```
//!
//! Dropping a [`UtpStream`] closes it gracefully (FIN after the data
//! written) in the background; [`UtpStream::reset`] aborts it.
//! [`UtpStream::stats`] and [`UtpStream::info`] give counters (bytes acked
//! and received, for rate statistics) and the window state.

#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod batch_io;
pub mod config;
pub mod congestion;
pub mod connection;
pub mod delay_history;
pub mod endpoint;
pub mod packet;
pub mod recv_buffer;
pub mod rtt;
pub mod send_buffer;
pub mod seq;
pub mod socket;

pub use config::Config;
pub use connection::{Connection, ConnectionError, Info, State, Stats};
pub use endpoint::{
    ConnectionHandle, DatagramEvent, Endpoint, EndpointConfig, EndpointError, Transmit,
};
pub use packet::{looks_like_utp, Header, Packet, PacketError, PacketType};
pub use socket::{udp_socket, Datagram, SocketConfig, UtpSocket, UtpStream};
