//! Metrics on the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`): what a receiver decided about each delivery, and how long
//! verification took. Install any `metrics` recorder (Prometheus,
//! StatsD, …) in your application; without one, recording costs nothing.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`gemini_webhooks_deliveries_total`](DELIVERIES) | counter | `outcome`, and `reason` when `outcome="rejected"` |
//! | [`gemini_webhooks_verification_seconds`](VERIFICATION_SECONDS) | histogram | `result`: `verified` or `rejected` |
//!
//! `outcome` is one of (each type names its own: [`Rejection::outcome`],
//! `gemini_webhooks_postgres::inbox::Stored::outcome`):
//!
//! | `outcome` | meaning | status |
//! |---|---|---|
//! | `handled` | the handler ran and answered 2xx | the handler's |
//! | `handler_failed` | the handler ran and answered otherwise; Gemini retries | the handler's |
//! | `handler_unfinished` | the handler panicked, or the client went away before it answered | — |
//! | `duplicate` | already handled (or, with an inbox, already stored); the handler did not run | 200 |
//! | `in_flight` | another copy is being handled | 409 |
//! | `rejected` | not a valid delivery; `reason` says why ([`Rejection::kind`]: `no_matching_signature`, `timestamp_too_old`, `missing_header`, `payload_too_large`, …) | 4xx |
//! | `store_unavailable` | the replay store did not answer | 503 |
//! | `stored` | verified and written to the inbox (`gemini-webhooks-postgres`) | 202 |
//! | `inbox_unavailable` | the inbox did not answer | 503 |
//! | `keys_unavailable` | no signing keys to decide with (JWKS unreachable) | 503 |
//!
//! Deliveries are counted where the middleware ([`WebhookLayer`],
//! `GeminiWebhooks`, or a [`Receiver`] of your own) decides them; the
//! extractors used without the middleware record rejections and
//! verification time, but cannot know whether a handler succeeded.
//!
//! The inbox's jobs, tracked jobs, completions and polls are counted by
//! `gemini-webhooks-postgres` (its feature `metrics`), under the same
//! `gemini_webhooks_` prefix.
//!
//! A signature failure on a configured endpoint (`reason` =
//! `no_matching_signature`) is worth an alert: it is usually a wrong or
//! rotated secret. `missing_header` and `invalid_header` are mostly probes.
//!
//! [`WebhookLayer`]: crate::tower::WebhookLayer
//! [`Receiver`]: crate::Receiver
//! [`Rejection::outcome`]: crate::Rejection::outcome
//! [`Rejection::kind`]: crate::Rejection::kind

#![cfg_attr(not(feature = "metrics"), allow(dead_code))]

#[cfg(feature = "metrics")]
use std::time::Instant;

/// Counter of deliveries by what the receiver decided: labels `outcome` and,
/// for `outcome="rejected"`, `reason`.
pub const DELIVERIES: &str = "gemini_webhooks_deliveries_total";

/// Histogram of the time verification took, in seconds (including any wait
/// for a JWKS refresh the delivery triggered): label `result`.
pub const VERIFICATION_SECONDS: &str = "gemini_webhooks_verification_seconds";

/// Counts a delivery under `outcome`, with a `reason` label when one is given.
#[doc(hidden)] // for the sibling crates, through `__private`
pub fn delivery(outcome: &'static str, reason: Option<&'static str>) {
    #[cfg(feature = "metrics")]
    match reason {
        Some(reason) => {
            ::metrics::counter!(DELIVERIES, "outcome" => outcome, "reason" => reason).increment(1)
        }
        None => ::metrics::counter!(DELIVERIES, "outcome" => outcome).increment(1),
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (outcome, reason);
}

/// Runs `verification`, recording how long it took and whether it verified.
pub(crate) async fn time_verification<T, E>(
    verification: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    #[cfg(feature = "metrics")]
    let started = Instant::now();
    let outcome = verification.await;
    #[cfg(feature = "metrics")]
    {
        let result = if outcome.is_ok() {
            "verified"
        } else {
            "rejected"
        };
        ::metrics::histogram!(VERIFICATION_SECONDS, "result" => result)
            .record(started.elapsed().as_secs_f64());
    }
    outcome
}
