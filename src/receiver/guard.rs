use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::replay::{ClaimToken, ReplayStore};

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
    settled: bool,
}

impl<R: ReplayStore> ClaimGuard<R> {
    pub(super) fn new(store: Arc<R>, id: &str, token: ClaimToken) -> Self {
        Self {
            store,
            id: id.to_owned(),
            token,
            settled: false,
        }
    }

    /// Runs `work` while extending the claim every third of the store's
    /// in-flight TTL; returns what `work` returns.
    pub(super) async fn keep_alive_while<T>(&self, work: impl Future<Output = T>) -> T {
        let mut work = pin!(work);
        let mut keep_alive = pin!(self.keep_alive());
        let mut keeping_alive = true;
        poll_fn(|cx| {
            if let Poll::Ready(output) = work.as_mut().poll(cx) {
                return Poll::Ready(output);
            }
            // A finished `async fn` must not be polled again.
            if keeping_alive && keep_alive.as_mut().poll(cx).is_ready() {
                keeping_alive = false;
            }
            Poll::Pending
        })
        .await
    }

    /// Extends the claim forever, or until an extension finds it gone.
    async fn keep_alive(&self) {
        let every = self.store.in_flight_ttl() / 3;
        if every.is_zero() {
            return;
        }
        loop {
            tokio::time::sleep(every).await;
            if let Err(err) = self.store.extend(&self.id, &self.token).await {
                tracing::warn!(webhook_id = %self.id, error = %crate::error_chain::ErrorChain(&err), "could not keep the claim alive; a retry may run beside this handler");
                return;
            }
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
