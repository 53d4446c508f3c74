use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;

use super::{PayloadBody, core_headers};
use crate::delivery::Delivery;
use crate::event::GeminiEvent;
use crate::receiver::{Rejection, verify_standalone};
use crate::verified::Verified;
use crate::verify::Verifier;

type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, Rejection>>>>;

/// The middleware's delivery, or one verified here with the app's `Verifier`.
fn delivery(request: &HttpRequest, payload: &mut Payload) -> Extracting<Delivery> {
    if let Some(delivery) = request.extensions().get::<Delivery>().cloned() {
        return Box::pin(async move { Ok(delivery) });
    }
    let verifier = request
        .app_data::<web::Data<Verifier>>()
        .map(|data| data.get_ref().clone())
        .or_else(|| request.app_data::<Verifier>().cloned());
    let headers = core_headers(request.headers());
    let body = PayloadBody(payload.take());
    Box::pin(async move { verify_standalone(verifier, &headers, body).await })
}

/// Extracts the verified [`Delivery`]: id, timestamp, raw body.
impl FromRequest for Delivery {
    type Error = Rejection;
    type Future = Extracting<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        delivery(request, payload)
    }
}

/// Extracts the verified delivery's [`GeminiEvent`]; 422 when it is not one.
impl FromRequest for GeminiEvent {
    type Error = Rejection;
    type Future = Extracting<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let delivery = delivery(request, payload);
        Box::pin(async move { Ok(delivery.await?.event()?) })
    }
}

/// Extracts the verified delivery's body as `T`; 422 when it does not parse.
impl<T: DeserializeOwned + 'static> FromRequest for Verified<T> {
    type Error = Rejection;
    type Future = Extracting<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let delivery = delivery(request, payload);
        Box::pin(async move { Ok(Self(delivery.await?.json()?)) })
    }
}
