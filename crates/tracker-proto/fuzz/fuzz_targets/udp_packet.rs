//! Fuzz the BEP 15 packet parsers (checks in `../harness.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    harness::udp_packet(data);
});
