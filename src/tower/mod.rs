//! Tower middleware that verifies Gemini webhooks and de-duplicates them.
//!
//! [`WebhookLayer`] wraps any `tower` service over `http::Request<B>`: it
//! reads the body (up to a limit), verifies it, claims the delivery id in a
//! replay store, and only then calls the inner service with the same raw
//! bytes as body and the [`Delivery`](crate::Delivery) in the request
//! extensions. The inner service's 2xx commits the id; anything else releases
//! it for Gemini's retry. The decisions themselves live in
//! [`Receiver`](crate::Receiver); this module only translates.
//!
//! ```
//! use axum::{Router, routing::post, http::StatusCode};
//! use gemini_webhooks::{GeminiEvent, Verifier, tower::WebhookLayer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder()
//!     .secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/webhooks/gemini", post(handle))
//!     .layer(WebhookLayer::new(verifier).body_limit(256 * 1024));
//!
//! async fn handle(event: GeminiEvent) -> StatusCode {
//!     println!("{} about {:?}", event.event_type(), event.resource_id());
//!     StatusCode::OK
//! }
//! # Ok(())
//! # }
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::WebhookLayer;
pub use service::WebhookService;
#[doc(hidden)] // for gemini-webhooks-postgres, through `__private`
pub use service::plain_text;
#[cfg(feature = "axum")]
pub(crate) use service::rejection_response;
