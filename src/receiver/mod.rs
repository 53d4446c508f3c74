//! The receiving pipeline every framework adapter shares.
//!
//! This module owns the decision of what to answer for a request. An
//! [`Intake`] checks the headers and the announced size before reading a
//! byte of the body, reads it under a limit and a deadline, and verifies
//! it. A [`Receiver`] then claims the id in a replay store, runs the
//! handler (keeping the claim alive while it runs), and commits (2xx) or
//! releases (anything else, a panic, a dropped request). Adapters call
//! [`Receiver::admit_request`] and [`Admission::run`] and turn a
//! [`Rejection`] into their response type; the inbox's
//! endpoint follows the same intake with a durable write instead.
//!
//! It imports no web framework and is public, so any other framework can
//! use it too (on a Tokio runtime with timers enabled, as axum, hyper and
//! actix-web have).

mod admission;
mod body;
mod claim_lost;
mod guard;
mod intake;
mod log;
mod macros;
mod rejection;
#[cfg(any(feature = "axum", feature = "actix"))]
mod standalone;

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;

pub use admission::Admission;
pub use body::{read_body, read_body_within};
pub use claim_lost::ClaimLost;
pub use intake::{DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_READS, Intake};
pub(crate) use macros::{intake_builder_methods, receiver_builder_methods};
pub use rejection::Rejection;
#[cfg(any(feature = "axum", feature = "actix"))]
pub(crate) use standalone::verify_standalone;

use crate::delivery::Delivery;
use crate::replay::{Claim, MemoryReplayStore, ReplayStore};
use crate::verify::Verifier;
use guard::ClaimGuard;

/// Verifies deliveries and runs a handler at most once per id.
///
/// The adapters ([`WebhookLayer`](crate::tower::WebhookLayer), the actix
/// middleware) are built on it; use it directly for any other framework.
///
/// ```
/// use gemini_webhooks::Receiver;
/// use gemini_webhooks::testing::{Signer, generate_secret};
/// use gemini_webhooks::Verifier;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = generate_secret();
/// let receiver = Receiver::new(Verifier::builder().secret(&secret)?.build()?);
///
/// let body = bytes::Bytes::from_static(br#"{"type":"batch.cancelled"}"#);
/// let headers = Signer::hmac(&secret)?.id("msg_1").sign(&body);
///
/// let handle = |delivery: gemini_webhooks::Delivery| async move { 200u16 };
/// let first = receiver.receive(&headers, body.clone(), handle, |s| *s == 200).await;
/// assert_eq!(first.unwrap(), 200);
///
/// // The retry of a handled delivery does not run the handler again.
/// let retry = receiver.receive(&headers, body, handle, |s| *s == 200).await;
/// assert_eq!(retry.unwrap_err().status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Receiver<R = MemoryReplayStore> {
    intake: Intake,
    store: Arc<R>,
}

// Not derived: the store is shared through its `Arc`, so `R` need not be `Clone`.
impl<R> Clone for Receiver<R> {
    fn clone(&self) -> Self {
        Self {
            intake: self.intake.clone(),
            store: Arc::clone(&self.store),
        }
    }
}

impl Receiver<MemoryReplayStore> {
    /// A receiver with an in-process [`MemoryReplayStore`] (handled ids
    /// remembered for [`DEFAULT_DEDUP_TTL`](crate::replay::DEFAULT_DEDUP_TTL), 25 h) and a
    /// [`DEFAULT_BODY_LIMIT`] (256 KiB) body limit.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            intake: Intake::new(verifier),
            store: Arc::new(MemoryReplayStore::new()),
        }
    }
}

impl<R: ReplayStore> Receiver<R> {
    /// Uses another replay store (e.g. one shared by many replicas); how
    /// long it remembers handled ids is its own
    /// [`dedup_ttl`](ReplayStore::dedup_ttl).
    pub fn replay_store<S: ReplayStore>(self, store: S) -> Receiver<S> {
        Receiver {
            intake: self.intake,
            store: Arc::new(store),
        }
    }

    /// Configures the intake (the checks, reads and verification before
    /// the replay store).
    pub fn with_intake(mut self, configure: impl FnOnce(Intake) -> Intake) -> Self {
        self.intake = configure(self.intake);
        self
    }

    intake_builder_methods!();

    /// The intake: its verifier and limits.
    pub fn intake(&self) -> &Intake {
        &self.intake
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        self.intake.verifier()
    }

    /// The replay store.
    pub fn store(&self) -> &R {
        &self.store
    }

    /// The largest body accepted, in bytes.
    pub fn limit(&self) -> usize {
        self.intake.limit()
    }

    /// Runs the [`Intake`] (headers checked before the body, the body read
    /// under the limit, verified), then claims the delivery's id: what
    /// every HTTP adapter does. Returns the admission and the raw bytes, to
    /// hand to the handler.
    pub async fn admit_request<B>(
        &self,
        headers: &HeaderMap,
        body: B,
    ) -> Result<(Admission<R>, Bytes), Rejection>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let delivery = self.intake.accept(headers, body).await?;
        let bytes = delivery.body().clone();
        Ok((self.claim(headers, delivery).await?, bytes))
    }

    /// Verifies the delivery and claims its
    /// [`replay_key`](Delivery::replay_key) (the `webhook-id`, or the token
    /// for a JWT delivery): the first half of
    /// [`receive`](Self::receive), for adapters that must give the request
    /// back before the handler runs.
    pub async fn admit(&self, headers: &HeaderMap, body: Bytes) -> Result<Admission<R>, Rejection> {
        let delivery =
            crate::metrics::time_verification(self.intake.verifier().verify_async(headers, body))
                .await
                .map_err(|err| self.intake.reject(headers, err.into()))?;
        self.claim(headers, delivery).await
    }

    /// Claims a verified delivery's replay key.
    async fn claim(
        &self,
        headers: &HeaderMap,
        delivery: Delivery,
    ) -> Result<Admission<R>, Rejection> {
        let claimed_at = tokio::time::Instant::now();
        let token = match self.store.claim(delivery.replay_key()).await {
            Ok(Claim::New(token)) => token,
            Ok(Claim::Done) => return Err(self.intake.reject(headers, Rejection::AlreadyHandled)),
            Ok(Claim::InFlight) => return Err(self.intake.reject(headers, Rejection::InFlight)),
            Err(err) => {
                return Err(self
                    .intake
                    .reject(headers, Rejection::StoreUnavailable(err)));
            }
        };
        tracing::debug!(
            webhook_id = delivery.id(),
            outcome = "verified",
            "gemini webhook verified"
        );
        let guard = ClaimGuard::new(
            Arc::clone(&self.store),
            delivery.replay_key(),
            token,
            claimed_at,
        );
        Ok(Admission::new(delivery, guard, self.store.dedup_ttl()))
    }

    /// Verifies the delivery, claims its id, and runs `handler` if it is new.
    ///
    /// `succeeded` tells from the handler's output whether it succeeded
    /// (for HTTP, a 2xx status): then the id is committed; otherwise it is
    /// released so Gemini's retry runs the handler again. If this future is
    /// dropped or the handler panics, the claim is released too. If the
    /// claim cannot be held while the handler runs, the handler is dropped
    /// and the answer is [`Rejection::ClaimLost`] (`503`): see
    /// [`Admission::run`].
    pub async fn receive<F, Fut, T>(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        handler: F,
        succeeded: impl FnOnce(&T) -> bool,
    ) -> Result<T, Rejection>
    where
        F: FnOnce(Delivery) -> Fut,
        Fut: Future<Output = T>,
    {
        self.admit(headers, body)
            .await?
            .run(handler, succeeded)
            .await
    }
}
