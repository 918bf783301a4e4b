//! libFuzzer entry for `qualify_fuzz::http` (see `src/lib.rs` for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qualify_fuzz::http(data));
