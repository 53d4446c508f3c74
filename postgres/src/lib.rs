#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The modules' imports run one way: `connection` (pools, TLS, timeouts,
// the schema lock) ← `replay` and `inbox` ← `reconcile` and `actix` ←
// `dashboard` (pages over the inbox's and tracking's calls, no SQL of its
// own); `metrics` is a leaf.

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
mod connection;
#[cfg(feature = "dashboard")]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
pub mod dashboard;
pub mod guide;
pub mod inbox;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
pub(crate) mod metrics;
#[cfg(feature = "reconcile")]
#[cfg_attr(docsrs, doc(cfg(feature = "reconcile")))]
pub mod reconcile;
pub mod replay;
