//! Guides, one page each (no items here): the same text as `docs/*.md`
//! in the repository.

#[doc = include_str!("../docs/sinks.md")]
pub mod sinks {}

#[doc = include_str!("../docs/cloud-run.md")]
pub mod cloud_run {}
