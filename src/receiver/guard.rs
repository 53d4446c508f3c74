use std::sync::Arc;

use crate::replay::{ClaimToken, ReplayStore};

/// Releases a claim unless disarmed: the handler panicked, or the request's
/// future was dropped (the client went away) before an answer.
///
/// `Drop` cannot wait, so the release runs as a task on the current Tokio
/// runtime; without one, the claim lapses after the store's in-flight TTL.
pub(super) struct ClaimGuard<R: ReplayStore> {
    store: Arc<R>,
    id: String,
    token: Option<ClaimToken>,
}

impl<R: ReplayStore> ClaimGuard<R> {
    pub(super) fn new(store: Arc<R>, id: &str, token: ClaimToken) -> Self {
        Self {
            store,
            id: id.to_owned(),
            token: Some(token),
        }
    }

    /// The store the claim is in.
    pub(super) fn store(&self) -> Arc<R> {
        Arc::clone(&self.store)
    }

    /// Takes the claim back: the caller commits or releases it itself.
    pub(super) fn disarm(mut self) -> (String, ClaimToken) {
        let id = std::mem::take(&mut self.id);
        // `token` is only ever taken here or in `drop`, so it is present.
        let token = self.token.take().unwrap_or_default();
        (id, token)
    }
}

impl<R: ReplayStore> Drop for ClaimGuard<R> {
    fn drop(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        let (store, id) = (Arc::clone(&self.store), std::mem::take(&mut self.id));
        tracing::warn!(webhook_id = %id, "handler did not finish; releasing the claim so the retry runs");
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(err) = store.release(&id, &token).await {
                        tracing::warn!(webhook_id = %id, error = %err, "could not release claim");
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
