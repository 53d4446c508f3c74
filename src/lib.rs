//! Receive Google Gemini API webhooks safely and fast.
//!
//! Gemini sends an HTTP `POST` when a long-running job ends (a batch, an
//! interaction, a video). Deliveries follow the
//! [Standard Webhooks](https://www.standardwebhooks.com/) spec: three
//! headers, `webhook-id`, `webhook-timestamp` and `webhook-signature`, and a
//! signature over `{id}.{timestamp}.{raw body}`:
//!
//! - static (project) webhooks sign with HMAC-SHA256 (`v1,` entries, `whsec_`
//!   secrets);
//! - dynamic (per-request) webhooks sign with Ed25519 (`v1a,` entries) under
//!   Google's keys, published as a JWKS ([`keys::jwks`]); static `whpk_`
//!   public keys work too, and so does the JWT form Gemini's docs describe.
//!
//! This crate's core is framework-free: a [`Verifier`] checks the headers,
//! the timestamp window and the signature, and returns a [`Delivery`] whose
//! body parses into a typed [`GeminiEvent`].
//!
//! ```
//! use gemini_webhooks::{GeminiEvent, Verifier};
//! # use gemini_webhooks::testing::{Signer, generate_secret};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let secret = generate_secret();
//! let verifier = Verifier::builder().secret(&secret)?.build()?;
//! # let body = br#"{"type":"batch.expired","timestamp":"2026-01-01T00:00:00Z","data":{"id":"batches/7"}}"#;
//! # let headers = Signer::hmac(&secret)?.sign(body);
//!
//! // `headers: http::HeaderMap` and `body` as received, byte for byte.
//! match verifier.verify(&headers, &body[..]) {
//!     Ok(delivery) => match delivery.event()? {
//!         GeminiEvent::BatchExpired(event) => println!("{} expired", event.data.id),
//!         other => println!("{} about {:?}", other.event_type(), other.resource_id()),
//!     },
//!     // 400 for malformed headers, 401 for a bad signature or stale timestamp.
//!     Err(err) => println!("answer {}: {err}", err.status()),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Around it, [`tower::WebhookLayer`] (any tower service, axum included)
//! reads the body under a limit, verifies, and runs the handler at most once
//! per delivery id with a [`replay::ReplayStore`]; [`Receiver`] is the same
//! pipeline for any other framework, and the durable inbox (crate
//! `gemini-webhooks-postgres`) is an endpoint of its own on the same
//! [`Intake`].
//!
//! | crate | what it holds |
//! |---|---|
//! | `gemini-webhooks` (this one) | the verifier, keys and events; the receiver, the tower, axum and actix adapters; the memory and Redis replay stores; `jwks-fetch`, `jwt`, `metrics`, `test-util` |
//! | [`gemini-webhooks-postgres`](https://docs.rs/gemini-webhooks-postgres) | the PostgreSQL replay store, the durable inbox and its workers, reconciliation by polling (feature `reconcile`), the actix inbox resource |
//! | [`gemini-webhooks-api`](https://docs.rs/gemini-webhooks-api) | a typed client of the Gemini API: webhooks, job status, results |
//!
//! The three are released together, the siblings pinning this crate's
//! exact version.
//!
//! - What each case answers, and at which level it is logged:
//!   [`guide::answers`], mapped in one place ([`Rejection::status`]).
//! - Features, and what each builds: [`guide::features`].
//! - Guides (Gemini-side setup, dynamic webhooks, many replicas, the inbox,
//!   the CLI, observability, security, performance): [`guide`].
//!
//! The modules' imports run one way: `verify`, `keys`, `event` (the core,
//! no framework and no runtime) ← `replay` ← `receiver` (the intake and
//! the admission pipeline) ← the adapters (`tower`, `axum`, `actix`);
//! `metrics` is a leaf. The core builds alone (`default-features =
//! false`), for `wasm32-unknown-unknown` too (Cloudflare Workers);
//! everything from `receiver` up comes with feature `receiver`, which
//! `axum`, `actix`, `redis` and `metrics` imply.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod backoff;
mod clock;
mod config_error;
mod delivery;
mod error_chain;
pub mod event;
pub mod guide;
pub mod keys;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
pub(crate) mod metrics;
mod raw_body;
#[cfg(feature = "receiver")]
#[cfg_attr(docsrs, doc(cfg(feature = "receiver")))]
pub mod receiver;
pub mod replay;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;
#[cfg(feature = "receiver")]
#[cfg_attr(docsrs, doc(cfg(feature = "receiver")))]
pub mod tower;
mod verified;
pub mod verify;

/// What the sibling crates (`gemini-webhooks-api`, `gemini-webhooks-postgres`)
/// share with this one and no one else: not part of the public API, and
/// free to change in any release (the siblings pin this crate's exact
/// version).
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "receiver")]
    pub use crate::__intake_builder_methods as intake_builder_methods;
    #[cfg(feature = "actix")]
    pub use crate::actix::{
        PayloadBody as ActixPayloadBody, core_headers as actix_headers,
        plain_text as actix_plain_text,
    };
    pub use crate::backoff::doubled;
    pub use crate::metrics::delivery as count_delivery;
    #[cfg(feature = "receiver")]
    pub use crate::replay::background::{
        fail_open_claim, fail_open_extension, retry_until, token_hex,
    };
    #[cfg(feature = "receiver")]
    pub use crate::tower::plain_text;
}

pub use config_error::ConfigError;
pub use delivery::{Delivery, DeliveryRecord, VerifiedBy};
pub use error_chain::ErrorChain;
pub use event::{EventError, GeminiEvent};
pub use keys::KeyError;
pub use raw_body::RawBody;
#[cfg(feature = "receiver")]
pub use receiver::{Admission, Intake, Receiver, Rejection};
pub use verified::Verified;
pub use verify::{Verifier, VerifierBuilder, VerifyError};
