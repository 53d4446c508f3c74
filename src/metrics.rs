//! Metrics on the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`): what a receiver decided about each delivery, and how long
//! verification took. Install any `metrics` recorder (Prometheus,
//! StatsD, …) in your application; without one, recording costs nothing.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`gemini_webhooks_deliveries_total`](DELIVERIES) | counter | `outcome`, and `reason` when `outcome="rejected"` |
//! | [`gemini_webhooks_verification_seconds`](VERIFICATION_SECONDS) | histogram | `result`: `verified` or `rejected` |
//! | [`gemini_webhooks_jobs_total`](JOBS) | counter | `outcome`: how an inbox job's attempt ended (feature `postgres`) |
//! | [`gemini_webhooks_job_seconds`](JOB_SECONDS) | histogram | `outcome`, as for the counter |
//! | [`gemini_webhooks_jobs_tracked_total`](JOBS_TRACKED) | counter | `kind`: `batch`, `video`, `interaction` (features `postgres`, `api`) |
//! | [`gemini_webhooks_completions_total`](COMPLETIONS) | counter | `origin`: `webhook` or `poll` (feature `postgres`) |
//! | [`gemini_webhooks_late_webhooks_total`](LATE_WEBHOOKS) | counter | — : webhooks of a completion a poll stored first |
//! | [`gemini_webhooks_polls_total`](POLLS) | counter | `result`: `ended`, `action`, `running`, `failed`, `rate_limited`, `abandoned` |
//! | [`gemini_webhooks_endpoint_enabled`](ENDPOINT_ENABLED) | gauge | `webhook`, `state`: 1 when the watched webhook is `enabled` |
//!
//! `outcome` is one of (each type names its own: [`Rejection::outcome`],
//! `inbox::Stored::outcome`):
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
//! | `stored` | verified and written to the inbox (feature `postgres`) | 202 |
//! | `inbox_unavailable` | the inbox did not answer | 503 |
//! | `keys_unavailable` | no signing keys to decide with (JWKS unreachable) | 503 |
//!
//! Deliveries are counted where the middleware ([`WebhookLayer`],
//! `GeminiWebhooks`, or a [`Receiver`] of your own) decides them; the
//! extractors used without the middleware record rejections and
//! verification time, but cannot know whether a handler succeeded.
//!
//! An inbox job's attempt (feature `postgres`) ends with `outcome`:
//!
//! | `outcome` | meaning |
//! |---|---|
//! | `handled` | the handler succeeded and the job was marked done with its writes |
//! | `retried` | the handler failed or panicked; the job runs again after its backoff (or, if the failure could not be recorded, once its lease lapses) |
//! | `dead` | it failed for good (attempts used up, or a body the handler's type cannot take): a dead letter |
//! | `not_committed` | the handler succeeded but the commit did not; the job runs again once its lease lapses |
//!
//! A rising `dead` count is worth an alert: those deliveries wait for
//! `Inbox::requeue`.
//!
//! So are `gemini_webhooks_endpoint_enabled == 0` (Gemini stopped
//! delivering), a rising share of `origin="poll"` completions (webhooks
//! are not arriving in time), and `result="abandoned"` polls.
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

/// Counter of inbox jobs' attempts by how they ended: label `outcome`.
pub const JOBS: &str = "gemini_webhooks_jobs_total";

/// Histogram of the time an inbox job's attempt took, in seconds, from
/// opening its transaction to its commit or the failure's record: label
/// `outcome`.
pub const JOB_SECONDS: &str = "gemini_webhooks_job_seconds";

/// Counts an inbox job's attempt under `outcome` and records how long it took.
#[cfg(feature = "postgres")]
pub(crate) fn job_finished(outcome: &'static str, took: std::time::Duration) {
    #[cfg(feature = "metrics")]
    {
        ::metrics::counter!(JOBS, "outcome" => outcome).increment(1);
        ::metrics::histogram!(JOB_SECONDS, "outcome" => outcome).record(took.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (outcome, took);
}

/// Counter of jobs an inbox tracks (`Tracking::track`): label `kind`
/// (`batch`, `video`, `interaction`).
pub const JOBS_TRACKED: &str = "gemini_webhooks_jobs_tracked_total";

/// Counter of job completions stored in an inbox: label `origin`
/// (`webhook`, or `poll` when the reconciler found it first).
pub const COMPLETIONS: &str = "gemini_webhooks_completions_total";

/// Counter of webhook deliveries of a completion a poll had stored already:
/// the webhook came late, after the job's deadline.
pub const LATE_WEBHOOKS: &str = "gemini_webhooks_late_webhooks_total";

/// Counter of the reconciler's polls by `result`: `ended`, `action` (an
/// interaction waiting on the caller), `running`, `failed`,
/// `rate_limited`, or `abandoned` (past its horizon).
pub const POLLS: &str = "gemini_webhooks_polls_total";

/// Gauge of the watched webhook's state: 1 when `enabled`, else 0; labels
/// `webhook` (its id) and `state`.
pub const ENDPOINT_ENABLED: &str = "gemini_webhooks_endpoint_enabled";

/// Counts a job newly tracked, of `kind`.
#[cfg(all(feature = "postgres", feature = "api"))]
pub(crate) fn job_tracked(kind: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(JOBS_TRACKED, "kind" => kind).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = kind;
}

/// Counts a completion stored, by `origin`.
#[cfg(feature = "postgres")]
pub(crate) fn completion_stored(origin: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(COMPLETIONS, "origin" => origin).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = origin;
}

/// Counts `count` late webhooks.
#[cfg(feature = "postgres")]
pub(crate) fn late_webhooks(count: u64) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(LATE_WEBHOOKS).increment(count);
    #[cfg(not(feature = "metrics"))]
    let _ = count;
}

/// Counts a poll under `result`.
#[cfg(all(feature = "postgres", feature = "api"))]
pub(crate) fn poll(result: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(POLLS, "result" => result).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// Sets the watched webhook's gauge.
#[cfg(all(feature = "postgres", feature = "api"))]
pub(crate) fn endpoint_state(webhook: &str, state: &str, enabled: bool) {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!(ENDPOINT_ENABLED, "webhook" => webhook.to_owned(), "state" => state.to_owned())
        .set(if enabled { 1.0 } else { 0.0 });
    #[cfg(not(feature = "metrics"))]
    let _ = (webhook, state, enabled);
}

/// Counts a delivery under `outcome`, with a `reason` label when one is given.
pub(crate) fn delivery(outcome: &'static str, reason: Option<&'static str>) {
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
