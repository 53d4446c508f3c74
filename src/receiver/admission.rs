//! [`Admission`]: a verified delivery whose id is claimed, and running its
//! handler so the claim is settled exactly as the handler ended.

use std::future::Future;
use std::time::Duration;

use tracing::Instrument as _;

use super::guard::ClaimGuard;
use crate::delivery::Delivery;
use crate::replay::ReplayStore;

/// A verified delivery whose id this receiver holds the claim for.
///
/// [`run`](Admission::run) it to call the handler and settle the claim.
/// Dropping it unrun releases the claim.
pub struct Admission<R: ReplayStore> {
    delivery: Delivery,
    guard: ClaimGuard<R>,
    dedup_ttl: Duration,
}

impl<R: ReplayStore> Admission<R> {
    pub(super) fn new(delivery: Delivery, guard: ClaimGuard<R>, dedup_ttl: Duration) -> Self {
        Self {
            delivery,
            guard,
            dedup_ttl,
        }
    }

    /// The verified delivery.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Runs `handler`, then commits the id if `succeeded` says so and
    /// releases it otherwise. While the handler runs, the claim is extended
    /// every third of the store's in-flight TTL, so a slow handler keeps it
    /// and no retry runs a twin beside it.
    pub async fn run<F, Fut, T>(self, handler: F, succeeded: impl FnOnce(&T) -> bool) -> T
    where
        F: FnOnce(Delivery) -> Fut,
        Fut: Future<Output = T>,
    {
        let Self {
            delivery,
            guard,
            dedup_ttl,
        } = self;
        let span = delivery_span(&delivery);
        let work = handler(delivery).instrument(span.clone());
        // Counts a handler that panicked or was dropped (client gone).
        let unfinished = UnfinishedHandler;
        let output = guard.keep_alive_while(work).await;
        let ok = succeeded(&output);
        std::mem::forget(unfinished);
        let outcome = if ok { "handled" } else { "handler_failed" };
        crate::metrics::delivery(outcome, None);
        // The handler has run: its answer stands either way. A failed
        // commit only means a later retry may run it again.
        guard.settle(ok, dedup_ttl).await;
        // Success is routine (DEBUG); a handler's failure is a problem.
        span.in_scope(|| {
            if ok {
                tracing::debug!(outcome, "gemini webhook handler ran");
            } else {
                tracing::warn!(outcome, "gemini webhook handler ran");
            }
        });
        output
    }
}

impl<R: ReplayStore> std::fmt::Debug for Admission<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

/// Counts the handler as unfinished if dropped before it answered.
struct UnfinishedHandler;

impl Drop for UnfinishedHandler {
    fn drop(&mut self) {
        crate::metrics::delivery("handler_unfinished", None);
    }
}

/// The span a handler runs in, so its own logs carry the delivery:
/// `gemini_webhook{webhook_id, event_type, verified_by}`. The event is
/// parsed only when the span is enabled, and then once: the delivery keeps
/// it for the handler's own `event()` (the `GeminiEvent` extractors).
fn delivery_span(delivery: &Delivery) -> tracing::Span {
    let span = tracing::info_span!(
        "gemini_webhook",
        webhook_id = %delivery.id(),
        event_type = tracing::field::Empty,
        verified_by = ?delivery.verified_by(),
    );
    if !span.is_disabled()
        && let Some(event) = delivery.parsed_event()
    {
        span.record("event_type", event.event_type());
    }
    span
}
