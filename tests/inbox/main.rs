//! The durable inbox: its endpoint, workers, faults of the connection and the clock.
//!
//! One test binary for the area (each file a module), so a build links
//! it once.

#[path = "../common/mod.rs"]
mod common;

mod browse;
mod inbox;
mod inbox_faults;
mod order;
mod reconcile;
