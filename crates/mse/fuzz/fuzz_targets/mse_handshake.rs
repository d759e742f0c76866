//! Feed arbitrary bytes to both sides of the MSE handshake (see
//! `../harness.rs` for the input layout and the properties checked).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
