//! Feed arbitrary bytes to the KRPC decoder and to a DHT node (see
//! `../harness.rs` for the properties checked).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
