//! The fuzz targets' bodies live with the codec's tests, so that the committed corpus is
//! replayed by plain `cargo test` (crates/morello-http/tests/fuzz_corpus.rs); this crate
//! only wires them to libFuzzer.

#[path = "../../crates/morello-http/tests/common/mod.rs"]
pub mod common;
