//! Feed arbitrary bytes to the BEP 52 hash message parser (see
//! `../hash_harness.rs` for the input layout and the properties checked).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../hash_harness.rs"]
mod hash_harness;

fuzz_target!(|data: &[u8]| hash_harness::run(data));
