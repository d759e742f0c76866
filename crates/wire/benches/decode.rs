//! Placeholder until the decode benchmark is written.
fn main() {}
