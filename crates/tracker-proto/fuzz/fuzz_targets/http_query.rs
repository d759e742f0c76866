//! Fuzz the HTTP tracker query and response parsers (checks in
//! `../harness.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    harness::http_query(data);
});
