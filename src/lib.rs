#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod delivery;
pub mod event;
pub mod keys;
mod raw_body;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;
pub mod verify;

pub use delivery::{Delivery, VerifiedBy};
pub use event::{EventError, GeminiEvent};
pub use keys::KeyError;
pub use raw_body::RawBody;
pub use verify::{Verifier, VerifierBuilder, VerifyError};
