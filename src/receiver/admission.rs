//! [`Admission`]: a verified delivery whose id is claimed, and running its
//! handler so the claim is settled exactly as the handler ended.

use std::future::Future;
use std::time::Duration;

use tracing::Instrument as _;

use super::guard::ClaimGuard;
use super::{ClaimLost, Rejection};
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
    ///
    /// # Cancellation
    ///
    /// A failed extension is tried again at the next tick. If none has
    /// landed a sixth of the TTL before the claim would lapse (the store
    /// stalled or is unreachable), or the store answers that the claim is no
    /// longer this delivery's, the handler's future is **dropped** at its
    /// next `.await`, the claim released, and the answer is
    /// [`Rejection::ClaimLost`] (`503` with `Retry-After`), logged at WARN
    /// with its cause: Gemini's retry then runs the handler alone, never
    /// beside this one. Handlers must therefore be cancel-safe, as under any
    /// tower timeout; work that must not be cut short belongs in the
    /// durable inbox (`gemini-webhooks-postgres`), which stores the delivery first.
    pub async fn run<F, Fut, T>(
        self,
        handler: F,
        succeeded: impl FnOnce(&T) -> bool,
    ) -> Result<T, Rejection>
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
        let ended = guard.keep_alive_while(work).await;
        std::mem::forget(unfinished);
        let output = match ended {
            Ok(output) => output,
            Err(lost) => return Err(Self::stopped(guard, lost, &span).await),
        };
        let ok = succeeded(&output);
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
        Ok(output)
    }

    /// The handler was dropped because its claim could not be held: release
    /// what may still be held (token-checked), count and log it.
    async fn stopped(guard: ClaimGuard<R>, lost: ClaimLost, span: &tracing::Span) -> Rejection {
        guard.settle(false, Duration::ZERO).await;
        let rejection = Rejection::ClaimLost(lost);
        rejection.count();
        span.in_scope(|| {
            tracing::warn!(outcome = rejection.outcome(), error = %crate::error_chain::ErrorChain(&rejection), "gemini webhook handler stopped: its claim could not be held; the retry runs it alone");
        });
        rejection
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
