use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::WebhookService;
use crate::receiver::Receiver;
use crate::replay::{MemoryReplayStore, ReplayStore};
use crate::verify::Verifier;

/// Applies [`WebhookService`]: verification, body limit and replay
/// protection in front of a service.
///
/// Defaults: 1 MiB body limit, an in-process
/// [`MemoryReplayStore`], handled ids remembered for 25 hours.
#[derive(Debug)]
#[must_use]
pub struct WebhookLayer<R = MemoryReplayStore> {
    receiver: Arc<Receiver<R>>,
}

impl<R> Clone for WebhookLayer<R> {
    fn clone(&self) -> Self {
        Self {
            receiver: Arc::clone(&self.receiver),
        }
    }
}

impl WebhookLayer<MemoryReplayStore> {
    /// A layer verifying with `verifier`, with the defaults above.
    pub fn new(verifier: Verifier) -> Self {
        Self::from_receiver(Receiver::new(verifier))
    }
}

impl<R: ReplayStore> WebhookLayer<R> {
    /// A layer around a configured [`Receiver`].
    pub fn from_receiver(receiver: Receiver<R>) -> Self {
        Self {
            receiver: Arc::new(receiver),
        }
    }

    fn map(self, configure: impl FnOnce(Receiver<R>) -> Receiver<R>) -> Self {
        let receiver = Arc::unwrap_or_clone(self.receiver);
        Self::from_receiver(configure(receiver))
    }

    /// Sets the largest body accepted (default 1 MiB); larger ones get 413.
    pub fn body_limit(self, bytes: usize) -> Self {
        self.map(|r| r.body_limit(bytes))
    }

    /// Sets how long handled ids are remembered (default 25 h).
    pub fn dedup_ttl(self, ttl: Duration) -> Self {
        self.map(|r| r.dedup_ttl(ttl))
    }

    /// Uses another replay store, e.g. one shared by several replicas.
    pub fn replay_store<S: ReplayStore>(self, store: S) -> WebhookLayer<S> {
        WebhookLayer::from_receiver(Arc::unwrap_or_clone(self.receiver).replay_store(store))
    }

    /// The receiver this layer's services share.
    pub fn receiver(&self) -> &Receiver<R> {
        &self.receiver
    }
}

impl<S, R> Layer<S> for WebhookLayer<R> {
    type Service = WebhookService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        WebhookService::new(inner, Arc::clone(&self.receiver))
    }
}
