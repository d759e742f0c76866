//! Fuzz target: `harness::merkle_proof` (see `../harness.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::merkle_proof(data));
