use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage, ResponseError};

use super::{PayloadBody, core_headers};
use crate::receiver::{Receiver, Rejection};
use crate::replay::{MemoryReplayStore, ReplayStore};

/// actix-web middleware: body limit, verification and replay protection in
/// front of a resource; what [`WebhookLayer`](crate::tower::WebhookLayer) is
/// for tower.
///
/// Defaults: 256 KiB body limit, an in-process [`MemoryReplayStore`], handled
/// ids remembered for 25 hours. Build it once and clone it into the app
/// factory, so every worker shares one replay store. For the durable inbox,
/// see `gemini_webhooks_postgres::actix::inbox_resource`.
#[derive(Debug)]
#[must_use]
pub struct GeminiWebhooks<R = MemoryReplayStore> {
    receiver: Arc<Receiver<R>>,
}

crate::receiver::receiver_builder_methods!(GeminiWebhooks);

impl<S, B, R> Transform<S, ServiceRequest> for GeminiWebhooks<R>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    R: ReplayStore,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = GeminiWebhooksMiddleware<S, R>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GeminiWebhooksMiddleware {
            service: Rc::new(service),
            receiver: Arc::clone(&self.receiver),
        }))
    }
}

/// The service [`GeminiWebhooks`] wraps a resource in.
#[derive(Debug)]
pub struct GeminiWebhooksMiddleware<S, R> {
    service: Rc<S>,
    receiver: Arc<Receiver<R>>,
}

impl<S, B, R> Service<ServiceRequest> for GeminiWebhooksMiddleware<S, R>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
    R: ReplayStore,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        Box::pin(serve(
            Rc::clone(&self.service),
            Arc::clone(&self.receiver),
            request,
        ))
    }
}

async fn serve<S, B, R>(
    service: Rc<S>,
    receiver: Arc<Receiver<R>>,
    mut request: ServiceRequest,
) -> Result<ServiceResponse<EitherBody<B>>, Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    R: ReplayStore,
{
    let headers = core_headers(request.headers());
    let payload = PayloadBody(request.take_payload());
    let (admission, bytes) = match receiver.admit_request(&headers, payload).await {
        Ok(admitted) => admitted,
        Err(rejection) => return Ok(reject(request, rejection)),
    };
    let handled = admission
        .run(
            |delivery| {
                request.extensions_mut().insert(delivery);
                request.set_payload(Payload::from(bytes));
                service.call(request)
            },
            |result| matches!(result, Ok(response) if response.status().is_success()),
        )
        .await;
    // The request went into the handler, so a stopped handler's answer
    // (503) is an error, which actix answers with `error_response`: no
    // copy of the request is kept (routing below needs it to itself).
    match handled {
        Ok(response) => response.map(ServiceResponse::map_into_left_body),
        Err(rejection) => Err(rejection.into()),
    }
}

fn reject<B>(request: ServiceRequest, rejection: Rejection) -> ServiceResponse<EitherBody<B>> {
    request
        .into_response(rejection.error_response())
        .map_into_right_body()
}
