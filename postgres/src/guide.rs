//! Guides, one page each (no items here): the same text as `docs/*.md`
//! in the repository; their code is compiled by the crate's tests.

#[doc = include_str!("../docs/inbox.md")]
pub mod inbox {}

#[doc = include_str!("../docs/reconcile.md")]
#[cfg(feature = "reconcile")]
#[cfg_attr(docsrs, doc(cfg(feature = "reconcile")))]
pub mod reconcile {}

#[doc = include_str!("../docs/dashboard.md")]
#[cfg(feature = "dashboard")]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
pub mod dashboard {}
