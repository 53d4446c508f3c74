use std::sync::Arc;

use tower_layer::Layer;

use super::WebhookService;
use crate::receiver::Receiver;
use crate::replay::MemoryReplayStore;

/// Applies [`WebhookService`]: verification, body limit and replay
/// protection in front of a service.
///
/// Defaults: 256 KiB body limit, an in-process
/// [`MemoryReplayStore`], handled ids remembered for 25 hours.
#[derive(Debug)]
#[must_use]
pub struct WebhookLayer<R = MemoryReplayStore> {
    receiver: Arc<Receiver<R>>,
}

crate::receiver::receiver_builder_methods!(WebhookLayer);

impl<S, R> Layer<S> for WebhookLayer<R> {
    type Service = WebhookService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        WebhookService::new(inner, Arc::clone(&self.receiver))
    }
}
