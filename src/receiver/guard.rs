//! [`ClaimGuard`]: the claim of a delivery whose handler runs, kept alive
//! while it runs and settled (or released) exactly once.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use super::ClaimLost;
use crate::replay::{ClaimToken, Extension, ReplayStore};

/// An in-flight TTL beyond which a claim is taken never to lapse: a year
/// (far past any handler, and addable to any clock reading).
const NEVER_LAPSES: Duration = Duration::from_secs(365 * 24 * 3600);

/// Holds a claim until it is settled, and releases it if it never is: the
/// handler panicked, or the request's future was dropped (the client went
/// away) before the commit or release finished.
///
/// `Drop` cannot wait, so that release runs as a task on the current Tokio
/// runtime; without one, the claim lapses after the store's in-flight TTL.
/// Releasing is token-checked, so a release racing a commit that did reach
/// the store changes nothing.
pub(super) struct ClaimGuard<R: ReplayStore> {
    store: Arc<R>,
    id: String,
    token: ClaimToken,
    /// When the claim was sent to the store: it holds for the in-flight
    /// TTL from no earlier than this.
    claimed_at: Instant,
    settled: bool,
}

impl<R: ReplayStore> ClaimGuard<R> {
    pub(super) fn new(store: Arc<R>, id: &str, token: ClaimToken, claimed_at: Instant) -> Self {
        Self {
            store,
            id: id.to_owned(),
            token,
            claimed_at,
            settled: false,
        }
    }

    /// Runs `work` while extending the claim every third of the store's
    /// in-flight TTL, and returns what it returns; or drops `work` and says
    /// why, if the claim could no longer be held.
    pub(super) async fn keep_alive_while<T>(
        &self,
        work: impl Future<Output = T>,
    ) -> Result<T, ClaimLost> {
        let mut work = pin!(work);
        let mut keep_alive = pin!(self.keep_alive());
        poll_fn(|cx| {
            if let Poll::Ready(output) = work.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            keep_alive.as_mut().poll(cx).map(Err)
        })
        .await
    }

    /// Extends the claim every third of the TTL for as long as it is held.
    /// A failed extension is tried again at the next tick; the claim is
    /// given up (the handler stopped) when the store says it is gone, or
    /// when no extension has landed a margin before it lapses. The margin
    /// (a sixth of the TTL) covers the network and the store's clock: the
    /// store counts the TTL from when it received a call, never before it
    /// was sent, so the handler stops before any retry can claim the id.
    async fn keep_alive(&self) -> ClaimLost {
        let ttl = self.store.in_flight_ttl();
        let every = ttl / 3;
        // A claim of no TTL, or of one longer than any handler runs
        // (`Duration::MAX`: "never lapses", which the clock cannot add),
        // is never extended.
        if every.is_zero() || ttl > NEVER_LAPSES {
            return std::future::pending().await;
        }
        let margin = ttl / 6;
        let mut expires = self.claimed_at + ttl;
        let mut next = self.claimed_at + every;
        let mut last_error = None;
        loop {
            let give_up = expires - margin;
            tokio::time::sleep_until(next.min(give_up)).await;
            let sent = Instant::now();
            if sent >= give_up {
                return ClaimLost::Expiring {
                    lapses_in: expires.saturating_duration_since(sent),
                    source: last_error,
                };
            }
            let extension = self.store.extend(&self.id, &self.token);
            match tokio::time::timeout_at(give_up, extension).await {
                Ok(Ok(Extension::Renewed)) => {
                    expires = sent + ttl;
                    last_error = None;
                }
                Ok(Ok(Extension::Lost)) => return ClaimLost::TakenOver,
                Ok(Err(err)) => {
                    tracing::warn!(webhook_id = %self.id, error = %crate::error_chain::ErrorChain(&err), "could not extend the claim; trying again at the next tick");
                    last_error = Some(err);
                }
                // The loop's check gives up: the deadline has passed.
                Err(_) => {}
            }
            next = sent + every;
        }
    }

    /// Commits the id for `dedup_ttl` if `succeeded`, releases it otherwise.
    /// The guard stays armed until the store has answered.
    pub(super) async fn settle(mut self, succeeded: bool, dedup_ttl: Duration) {
        let outcome = if succeeded {
            self.store.commit(&self.id, &self.token, dedup_ttl).await
        } else {
            self.store.release(&self.id, &self.token).await
        };
        self.settled = true;
        if let Err(err) = outcome {
            tracing::warn!(webhook_id = %self.id, error = %crate::error_chain::ErrorChain(&err), committed = succeeded, "could not settle claim");
        }
    }
}

impl<R: ReplayStore> Drop for ClaimGuard<R> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (store, id, token) = (
            Arc::clone(&self.store),
            std::mem::take(&mut self.id),
            self.token.clone(),
        );
        tracing::warn!(webhook_id = %id, "handler did not finish; releasing the claim so the retry runs");
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(err) = store.release(&id, &token).await {
                        tracing::warn!(webhook_id = %id, error = %crate::error_chain::ErrorChain(&err), "could not release claim");
                    }
                });
            }
            Err(_) => tracing::warn!(
                webhook_id = %id,
                "no Tokio runtime to release the claim; it lapses after the in-flight TTL"
            ),
        }
    }
}
