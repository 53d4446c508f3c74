//! [`PublishService`]: the sink in the request, behind
//! [`WebhookLayer`](gemini_webhooks::tower::WebhookLayer).

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use gemini_webhooks::Delivery;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower_service::Service;

use crate::Publisher;
use crate::sink::BoxFuture;

/// A tower service that publishes the verified delivery
/// [`WebhookLayer`](gemini_webhooks::tower::WebhookLayer) put in the
/// request, and answers only once the broker answered: `200` when it
/// confirmed (or the event type is filtered out), `503` when it did not —
/// the layer then releases the claim, and Gemini's retry publishes it —,
/// `422` for a body that is no Gemini event.
///
/// ```no_run
/// use axum::Router;
/// use gemini_webhooks::{Verifier, tower::WebhookLayer};
/// use gemini_webhooks_bridge::{PublishService, Publisher, sink::Sink};
///
/// fn app(verifier: Verifier, sink: impl Sink) -> Router {
///     let publish = PublishService::new(Publisher::new(sink));
///     Router::new().route_service(
///         "/webhooks/gemini",
///         tower::ServiceBuilder::new().layer(WebhookLayer::new(verifier)).service(publish),
///     )
/// }
/// ```
#[derive(Clone, Debug)]
pub struct PublishService {
    publisher: Publisher,
}

impl PublishService {
    /// Publishes through `publisher`.
    pub fn new(publisher: Publisher) -> Self {
        Self { publisher }
    }
}

impl<B> Service<Request<B>> for PublishService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let publisher = self.publisher.clone();
        // Taken, not cloned: nothing after this service reads it.
        let delivery = request.extensions_mut().remove::<Delivery>();
        Box::pin(async move {
            let Some(delivery) = delivery else {
                // A wiring mistake, not the sender's: no layer in front.
                return Ok(answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "no verified delivery: put WebhookLayer in front of PublishService",
                ));
            };
            Ok(match publisher.publish(&delivery).await {
                Ok(_) => answer(StatusCode::OK, "published"),
                Err(err) => answer(err.status(), &err.to_string()),
            })
        })
    }
}

fn answer(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    gemini_webhooks::__private::plain_text(status, format!("{text}\n"))
}
