//! One module per subcommand.

pub mod create;
pub mod demo;
pub mod info;
pub mod tracker;
pub mod verify;
