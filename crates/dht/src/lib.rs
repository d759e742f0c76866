//! Mainline DHT (BEP 5, 32, 42, 43, 51): a sans-I/O KRPC node and a thin
//! tokio driver.
//!
//! The core ([`Node`]) takes datagrams and time in and gives datagrams and
//! events out; it never touches a socket, a clock or a file. The
//! [`driver`] module (feature `driver`, on by default) runs it on tokio.
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
