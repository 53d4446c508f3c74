//! The bridge's metrics on the `metrics` facade (feature `metrics`;
//! without it, nothing is recorded).
//!
//! - `gemini_webhooks_bridge_messages_total{sink, outcome}`: deliveries by
//!   `outcome`: `published`, `duplicate` (the broker kept an earlier copy),
//!   `skipped` (filtered out), `failed` (not in the broker), `unconfirmed`
//!   (may be in the broker).
//! - `gemini_webhooks_bridge_publish_seconds{sink}`: from send to the
//!   broker's confirmation or error.

use std::time::Duration;

/// Name of the messages counter.
pub const MESSAGES: &str = "gemini_webhooks_bridge_messages_total";
/// Name of the publish latency histogram.
pub const PUBLISH_SECONDS: &str = "gemini_webhooks_bridge_publish_seconds";

#[cfg(feature = "metrics")]
pub(crate) fn message(sink: &'static str, outcome: &'static str) {
    metrics::counter!(MESSAGES, "sink" => sink, "outcome" => outcome).increment(1);
}

#[cfg(feature = "metrics")]
pub(crate) fn published(sink: &'static str, elapsed: Duration) {
    metrics::histogram!(PUBLISH_SECONDS, "sink" => sink).record(elapsed.as_secs_f64());
}

#[cfg(not(feature = "metrics"))]
pub(crate) fn message(_: &'static str, _: &'static str) {}

#[cfg(not(feature = "metrics"))]
pub(crate) fn published(_: &'static str, _: Duration) {}
