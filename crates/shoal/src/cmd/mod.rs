//! One module per subcommand.

pub mod create;
pub mod daemon;
pub mod demo;
pub mod download;
pub mod info;
pub mod remote;
pub mod seed;
pub mod tracker;
pub mod verify;
