//! `gemini-webhooks-harness`: the crate's benchmarks (`benches/verify.rs`,
//! criterion, against the Standard Webhooks reference crate and bare
//! primitives), its property tests and its interop tests. Nothing to import;
//! a separate package so that the crate's own examples build without
//! criterion, proptest and the reference crate.
//!
//! `cargo bench -p gemini-webhooks-harness`, `cargo test -p gemini-webhooks-harness`.
