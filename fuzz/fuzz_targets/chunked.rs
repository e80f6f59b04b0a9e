//! See `targets::chunked` in crates/morello-http/tests/common/targets.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    morello_http_fuzz::common::targets::chunked(data);
});
