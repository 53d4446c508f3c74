use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Response future of [`WebhookService`](super::WebhookService).
///
/// One allocation per request: the pipeline awaits the body, the replay
/// store and the inner service in turn, and is written once as an `async`
/// function shared with the other adapters rather than as a hand-rolled
/// state machine per framework. The box is one of the ~30 allocations the
/// layer and a typed event add to a request through axum, most of them the
/// event parse's and moka's (`harness/examples/pipeline_loop.rs`,
/// BENCHMARKS.md).
pub struct ResponseFuture<T> {
    inner: Pin<Box<dyn Future<Output = T> + Send>>,
}

impl<T> ResponseFuture<T> {
    /// Boxes `inner`: the future of a service answering as this layer
    /// does (the inbox's endpoint in `gemini-webhooks-postgres`).
    pub fn new(inner: impl Future<Output = T> + Send + 'static) -> Self {
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl<T> Future for ResponseFuture<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for ResponseFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
