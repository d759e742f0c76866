//! Mainline DHT (BEP 5, 32, 42, 43, 51): a sans-I/O KRPC node and a thin
//! tokio driver.
//!
//! The core ([`Node`]) takes datagrams and time in and gives datagrams and
//! events out; it never touches a socket, a clock or a file. The
//! [`driver`] module (feature `driver`, on by default) runs it on tokio.
//!
//! Modules: [`krpc`] (the message codec) and [`compact`] (node and peer
//! encodings), [`id`] (ids, XOR metric, BEP 42), [`routing`] (k-buckets),
//! [`token`] (write tokens), [`peer_store`] (announced peers),
//! [`rate_limit`] (per-IP query limit), [`lookup`] (iterative lookups),
//! [`node`] (the state machine) and [`driver`].
//!
//! Sharing a UDP port with uTP: datagrams whose first byte is `d` are KRPC.
//!
//! ```no_run
//! # async fn demo(socket: std::sync::Arc<tokio::net::UdpSocket>) {
//! use shoal_dht::{Dht, DriverConfig, NodeId};
//! let out = socket.clone();
//! let (dht, feed) = Dht::spawn_external(DriverConfig::default(), move |to, bytes| {
//!     let _ = out.try_send_to(&bytes, to); // or queue it for the socket's writer
//! });
//! // The demultiplexer: `feed.send((from, bytes)).await` for every datagram
//! // starting with b'd'.
//! let mut peers = dht.get_peers(NodeId([0; 20])).await.unwrap();
//! while let Some(batch) = peers.recv().await { /* connect to them */ }
//! dht.announce(NodeId([0; 20]), Some(6881)).await.unwrap();
//! let state = dht.save_state().await.unwrap(); // DriverConfig::state next time
//! # let _ = (feed, state);
//! # }
//! ```
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod compact;
pub mod id;
pub mod krpc;

pub use compact::NodeInfo;
pub use id::{InfoHash, NodeId};
pub mod config;
pub mod lookup;
pub mod node;
pub mod peer_store;
pub mod rate_limit;
pub mod routing;
pub mod token;

pub use config::Config;
pub use lookup::{LookupId, LookupKind};
pub use node::{CommandError, Event, Family, LookupStats, Node, NodeStats, StateError};

#[cfg(feature = "driver")]
pub mod driver;
#[cfg(feature = "driver")]
pub use driver::{Dht, DhtError, DriverConfig};
