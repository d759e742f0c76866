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
