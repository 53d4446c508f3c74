//! The shared replay stores, Redis and PostgreSQL (TLS included), each run against the store contract.
//!
//! One test binary for the area (each file a module), so a build links
//! it once.

#[path = "../common/mod.rs"]
mod common;

mod postgres;
mod postgres_tls;
mod redis;
