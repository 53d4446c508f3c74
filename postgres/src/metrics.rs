//! Metrics of the inbox and reconciliation on the
//! [`metrics`](https://docs.rs/metrics) facade (feature `metrics`, which
//! also turns on `gemini-webhooks`' own: deliveries and verification time).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`gemini_webhooks_jobs_total`](JOBS) | counter | `outcome`: how an inbox job's attempt ended |
//! | [`gemini_webhooks_job_seconds`](JOB_SECONDS) | histogram | `outcome`, as for the counter |
//! | [`gemini_webhooks_jobs_tracked_total`](JOBS_TRACKED) | counter | `kind`: `batch`, `video`, `interaction` (feature `reconcile`) |
//! | [`gemini_webhooks_completions_total`](COMPLETIONS) | counter | `origin`: `webhook` or `poll` |
//! | [`gemini_webhooks_late_webhooks_total`](LATE_WEBHOOKS) | counter | — : webhooks of a completion a poll stored first |
//! | [`gemini_webhooks_polls_total`](POLLS) | counter | `result`: `ended`, `action`, `running`, `failed`, `rate_limited`, `abandoned` |
//! | [`gemini_webhooks_endpoint_enabled`](ENDPOINT_ENABLED) | gauge | `webhook`, `state`: 1 when the watched webhook is `enabled` |
//!
//! An inbox job's attempt ends with `outcome`:
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
//! The inbox's endpoint counts each delivery in
//! `gemini_webhooks_deliveries_total` as the receiver does, with
//! `outcome` `stored` (202) or `inbox_unavailable` (503).

#![cfg_attr(not(feature = "metrics"), allow(dead_code))]

/// Counter of inbox jobs' attempts by how they ended: label `outcome`.
pub const JOBS: &str = "gemini_webhooks_jobs_total";

/// Histogram of the time an inbox job's attempt took, in seconds, from
/// opening its transaction to its commit or the failure's record: label
/// `outcome`.
pub const JOB_SECONDS: &str = "gemini_webhooks_job_seconds";

/// Counts an inbox job's attempt under `outcome` and records how long it took.
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
#[cfg(feature = "reconcile")]
pub(crate) fn job_tracked(kind: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(JOBS_TRACKED, "kind" => kind).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = kind;
}

/// Counts a completion stored, by `origin`.
pub(crate) fn completion_stored(origin: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(COMPLETIONS, "origin" => origin).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = origin;
}

/// Counts `count` late webhooks.
pub(crate) fn late_webhooks(count: u64) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(LATE_WEBHOOKS).increment(count);
    #[cfg(not(feature = "metrics"))]
    let _ = count;
}

/// Counts a poll under `result`.
#[cfg(feature = "reconcile")]
pub(crate) fn poll(result: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(POLLS, "result" => result).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// Sets the watched webhook's gauge.
#[cfg(feature = "reconcile")]
pub(crate) fn endpoint_state(webhook: &str, state: &str, enabled: bool) {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!(ENDPOINT_ENABLED, "webhook" => webhook.to_owned(), "state" => state.to_owned())
        .set(if enabled { 1.0 } else { 0.0 });
    #[cfg(not(feature = "metrics"))]
    let _ = (webhook, state, enabled);
}
