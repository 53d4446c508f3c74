use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, header};
use tower_service::Service;

use super::ResponseFuture;
use crate::receiver::{Receiver, Rejection};
use crate::replay::ReplayStore;

/// Verifies, de-duplicates and forwards Gemini deliveries; built by
/// [`WebhookLayer`](super::WebhookLayer).
///
/// The inner service receives the raw body bytes (as its own body type, via
/// `From<Bytes>`) and the [`Delivery`](crate::Delivery) in the request
/// extensions. Rejections are plain-text responses with the status of
/// [`Rejection::status`].
///
/// Readiness: this service is always ready; the inner service is driven to
/// readiness only after a request is admitted (verified and claimed), so an
/// unauthenticated request that trickles its body in never holds an inner
/// permit (a concurrency limit, a rate limit) that a genuine delivery needs.
#[derive(Debug)]
pub struct WebhookService<S, R> {
    inner: S,
    receiver: Arc<Receiver<R>>,
}

impl<S: Clone, R> Clone for WebhookService<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            receiver: Arc::clone(&self.receiver),
        }
    }
}

impl<S, R> WebhookService<S, R> {
    pub(super) fn new(inner: S, receiver: Arc<Receiver<R>>) -> Self {
        Self { inner, receiver }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for WebhookService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    R: ReplayStore,
    ReqBody: http_body::Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner service's readiness is awaited after admission.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        ResponseFuture::new(serve(
            Arc::clone(&self.receiver),
            self.inner.clone(),
            request,
        ))
    }
}

async fn serve<S, R, ReqBody, ResBody>(
    receiver: Arc<Receiver<R>>,
    mut inner: S,
    request: Request<ReqBody>,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: ReplayStore,
    ReqBody: http_body::Body + From<Bytes>,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: From<String>,
{
    let (mut parts, body) = request.into_parts();
    let (admission, bytes) = match receiver.admit_request(&parts.headers, body).await {
        Ok(admitted) => admitted,
        Err(rejection) => return Ok(rejection_response(rejection)),
    };
    let handled = admission
        .run(
            |delivery| async move {
                std::future::poll_fn(|cx| inner.poll_ready(cx)).await?;
                parts.extensions.insert(delivery);
                inner
                    .call(Request::from_parts(parts, ReqBody::from(bytes)))
                    .await
            },
            |result| matches!(result, Ok(response) if response.status().is_success()),
        )
        .await;
    handled.unwrap_or_else(|rejection| Ok(rejection_response(rejection)))
}

/// A rejection as a short plain-text response, with its `Retry-After`.
pub(crate) fn rejection_response<B: From<String>>(rejection: Rejection) -> Response<B> {
    let mut response = plain_text(rejection.status(), rejection.to_string());
    if let Some(after) = rejection.retry_after() {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(after.as_secs()),
        );
    }
    response
}

/// A short plain-text response: a rejection's, or the inbox's acknowledgement.
#[doc(hidden)] // for gemini-webhooks-postgres, through `__private`
pub fn plain_text<B: From<String>>(status: http::StatusCode, text: String) -> Response<B> {
    let mut response = Response::new(B::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
