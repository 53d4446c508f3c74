//! The receiving pipeline through its adapters: the tower layer, checks before the body, extractors, logs and metrics.
//!
//! One test binary for the area (each file a module), so a build links
//! it once.

#[path = "../common/mod.rs"]
mod common;

mod actix_extract;
mod adapters;
mod axum_extract;
mod before_the_body;
mod layer;
mod metrics;
mod observability;
