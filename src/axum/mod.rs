//! axum extractors: [`Delivery`], [`GeminiEvent`] and [`Verified<T>`](crate::Verified),
//! and [`StateVerified`] for any of them with the verifier in router state.
//!
//! Behind a [`WebhookLayer`](crate::tower::WebhookLayer) they read the
//! delivery the layer verified (and de-duplicated) from the request
//! extensions. Without the layer they verify the request themselves with a
//! [`Verifier`] found in the request extensions — add it with axum's
//! `Extension` layer — and answer `500` with a clear message when there is
//! neither. To keep the verifier in the router's state instead
//! (`Verifier: FromRef<S>`), wrap them: [`StateVerified<GeminiEvent>`](StateVerified).
//! Without the layer there is no replay protection.
//!
//! One handler can have both the delivery and the typed event: behind the
//! layer, take the [`Delivery`] as `Extension<Delivery>` (the layer put it
//! there) and the event as the body extractor:
//!
//! ```
//! use axum::{Extension, http::StatusCode};
//! use gemini_webhooks::{Delivery, GeminiEvent};
//!
//! async fn handle(Extension(delivery): Extension<Delivery>, event: GeminiEvent) -> StatusCode {
//!     println!("{} is {}", delivery.id(), event.event_type());
//!     StatusCode::OK
//! }
//! ```
//!
//! A signed body that is not a valid event gets 422, which Gemini retries
//! for 24 hours like any non-2xx. To acknowledge such a poison message
//! instead, take [`Delivery`] and parse it yourself
//! ([`Delivery::event`]), answering 2xx on an error you choose to drop.
//!
//! Rejections are [`Rejection`]s, answered as plain text with
//! [`Rejection::status`]: 400/401 for unverified requests, 413 for large
//! bodies, 422 (with the path of the bad field) for a body that does not
//! parse.
//!
//! ```
//! use axum::{Extension, Router, routing::post, http::StatusCode};
//! use gemini_webhooks::{Verified, Verifier};
//!
//! #[derive(serde::Deserialize)]
//! struct Envelope { r#type: String }
//!
//! async fn handle(Verified(envelope): Verified<Envelope>) -> StatusCode {
//!     println!("got {}", envelope.r#type);
//!     StatusCode::OK
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder().secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?.build()?;
//! // Standalone style: no layer, the extractor verifies (no de-duplication).
//! let app: Router = Router::new()
//!     .route("/webhooks/gemini", post(handle))
//!     .layer(Extension(verifier));
//! # Ok(())
//! # }
//! ```

mod delivery;
mod event;
mod state_verified;
mod verified;

pub use state_verified::{FromDelivery, StateVerified};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::Request;

use crate::delivery::Delivery;
use crate::receiver::{Rejection, verify_standalone};
use crate::tower::rejection_response;
use crate::verify::Verifier;

#[cfg(doc)]
use crate::GeminiEvent;

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        rejection_response(self)
    }
}

/// The request's verified delivery: the layer's, or verified here with a
/// `Verifier` extension.
async fn delivery_from_request(request: Request<Body>) -> Result<Delivery, Rejection> {
    delivery_with(request, |extensions| extensions.get::<Verifier>().cloned()).await
}

/// The request's verified delivery: the layer's, or verified here with the
/// verifier `find` finds (none: 500, not configured).
async fn delivery_with(
    request: Request<Body>,
    find: impl FnOnce(&http::Extensions) -> Option<Verifier>,
) -> Result<Delivery, Rejection> {
    if let Some(delivery) = request.extensions().get::<Delivery>() {
        return Ok(delivery.clone());
    }
    let verifier = find(request.extensions());
    let (parts, body) = request.into_parts();
    verify_standalone(verifier, &parts.headers, body).await
}
