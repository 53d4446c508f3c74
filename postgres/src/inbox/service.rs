//! [`InboxService`]: the inbox's endpoint as a terminal tower service.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body_util::Full;
use tower_service::Service;

use super::InboxEndpoint;
use gemini_webhooks::receiver::Rejection;
use gemini_webhooks::{__private::plain_text, tower::ResponseFuture};

/// A tower service that verifies deliveries and stores them in the inbox:
/// `202 Accepted` when stored, `200` for a copy already stored, the
/// [`Rejection`]'s status otherwise (`405` with `Allow: POST` for another
/// method). Built by [`Inbox::service`](super::Inbox::service) or
/// [`InboxEndpoint::service`]; clones share one endpoint.
///
/// With axum, mount it with `Router::route_service`:
///
/// ```no_run
/// use axum::Router;
/// use gemini_webhooks::Verifier;
/// use gemini_webhooks_postgres::inbox::Inbox;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let inbox = Inbox::builder("postgres://app@db.internal/app").build()?;
/// let verifier = Verifier::builder().secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?.build()?;
/// let app: Router = Router::new().route_service("/webhooks/gemini", inbox.service(verifier));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct InboxService {
    endpoint: Arc<InboxEndpoint>,
}

impl InboxService {
    pub(super) fn new(endpoint: InboxEndpoint) -> Self {
        Self {
            endpoint: Arc::new(endpoint),
        }
    }

    /// The endpoint it serves.
    pub fn endpoint(&self) -> &InboxEndpoint {
        &self.endpoint
    }
}

impl<B> Service<Request<B>> for InboxService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ResponseFuture<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let endpoint = Arc::clone(&self.endpoint);
        ResponseFuture::new(async move {
            let (parts, body) = request.into_parts();
            if parts.method != Method::POST {
                let rejection = endpoint
                    .intake()
                    .reject(&parts.headers, Rejection::MethodNotAllowed);
                let mut response = plain_text(rejection.status(), rejection.to_string());
                response
                    .headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
                return Ok(response);
            }
            Ok(match endpoint.store(&parts.headers, body).await {
                Ok(stored) => plain_text(stored.status(), stored.to_string()),
                Err(rejection) => plain_text(rejection.status(), rejection.to_string()),
            })
        })
    }
}
