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
//! pipeline for any other framework.
//!
//! # Answers on the wire
//!
//! Mapped in one place, [`Rejection::status`]:
//!
//! | case | status |
//! |---|---|
//! | verified, new id | the handler's own |
//! | verified, id already handled | 200, handler not run ([`Rejection::AlreadyHandled`]) |
//! | verified, id in flight in another copy | 409 ([`Rejection::InFlight`]) |
//! | missing or malformed `webhook-*` headers | 400 ([`VerifyError::MissingHeader`], [`VerifyError::InvalidHeader`], [`VerifyError::InvalidTimestamp`]) |
//! | timestamp outside the window, or no signature entry verifies | 401 ([`VerifyError::TimestampTooOld`], [`VerifyError::TimestampInFuture`], [`VerifyError::NoMatchingSignature`]) |
//! | body over the limit | 413 ([`Rejection::PayloadTooLarge`]) |
//! | replay store unreachable | 503 ([`Rejection::StoreUnavailable`]) |
//! | signed body that is not a valid event | 422 ([`EventError`]) |
//!
//! # Features
//!
//! - `axum` (default): extractors for [`Delivery`], [`GeminiEvent`] and
//!   [`Verified<T>`].
//! - `test-util`: `testing::Signer` and key generation, to test your own
//!   handlers with correctly signed deliveries.
//! - `jwks-fetch`: fetch, cache and refresh a JWKS over HTTPS
//!   (`keys::jwks::RemoteJwks`, `VerifierBuilder::jwks_url`) for dynamic
//!   webhooks. A static set needs no feature ([`VerifierBuilder::jwks`]).
//! - `actix`: the actix-web middleware `actix::GeminiWebhooks` and
//!   `FromRequest` extractors, with the same behaviour as the tower layer.
//! - `redis`: `replay::RedisReplayStore`, one replay record shared by every
//!   replica of a receiver.
//! - `postgres`: `replay::PostgresReplayStore`, the replay record in a
//!   PostgreSQL table; and `inbox`, a durable inbox: its endpoint stores
//!   verified deliveries and answers 202, workers run the handler later,
//!   exactly once, with retries and dead letters.
//! - `postgres-tls`: `postgres` over TLS (`sslmode=require` in the URL),
//!   the server's certificate verified with rustls.
//! - `jwt`: the JWT form of dynamic webhooks Gemini's docs describe
//!   (`VerifierBuilder::jwt_audience`), verified with aws-lc-rs.
//! - `metrics`: deliveries by outcome and verification time on the
//!   `metrics` facade (names in `metrics`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod delivery;
pub mod event;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod inbox;
pub mod keys;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
pub(crate) mod metrics;
#[cfg(feature = "postgres")]
mod postgres;
mod raw_body;
pub mod receiver;
pub mod replay;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;
pub mod tower;
mod verified;
pub mod verify;

pub use delivery::{Delivery, VerifiedBy};
pub use event::{EventError, GeminiEvent};
pub use keys::KeyError;
pub use raw_body::RawBody;
pub use receiver::{Admission, Intake, Receiver, Rejection};
pub use verified::Verified;
pub use verify::{Verifier, VerifierBuilder, VerifyError};
