//! Verification, keys, JWTs, JWKS fetching, events and hostile input: the core, without a database.
//!
//! One test binary for the area (each file a module), so a build links
//! it once.

#[path = "../common/mod.rs"]
mod common;

mod events;
mod hostile;
mod jwks;
mod jwt;
mod verify;
