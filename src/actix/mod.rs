//! actix-web: the [`GeminiWebhooks`] middleware and `FromRequest`
//! extractors for [`Delivery`], [`GeminiEvent`] and [`Verified<T>`].
//!
//! Same guarantees as the tower layer, from the same code: the middleware
//! reads the body under the limit, then hands the decisions to
//! [`Receiver`](crate::Receiver) and only translates requests and responses.
//! Behind the middleware the extractors read the verified delivery from the
//! request extensions; without it they verify by themselves with a
//! [`Verifier`] from `web::Data<Verifier>` (or plain app data), with no
//! replay protection, and answer 500 when there is neither.
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use gemini_webhooks::{GeminiEvent, Verifier, actix::GeminiWebhooks};
//!
//! async fn handle(event: GeminiEvent) -> HttpResponse {
//!     println!("{} about {:?}", event.event_type(), event.resource_id());
//!     HttpResponse::Ok().finish()
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder().secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?.build()?;
//! let webhooks = GeminiWebhooks::new(verifier); // build once, share across workers
//! let app = move || {
//!     App::new().service(
//!         web::resource("/webhooks/gemini")
//!             .wrap(webhooks.clone())
//!             .route(web::post().to(handle)),
//!     )
//! };
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! [`Delivery`]: crate::Delivery
//! [`GeminiEvent`]: crate::GeminiEvent
//! [`Verified<T>`]: crate::Verified
//! [`Verifier`]: crate::Verifier

mod extract;
mod middleware;

pub use middleware::{GeminiWebhooks, GeminiWebhooksMiddleware};

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap as ActixHeaderMap};
use actix_web::{HttpResponse, ResponseError};
use bytes::Bytes;
use futures_core::Stream;

use crate::receiver::Rejection;
use crate::verify::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};

impl ResponseError for Rejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.status().as_u16())
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = plain_text(self.status(), self.to_string());
        if let Some(after) = self.retry_after() {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(after.as_secs()),
            );
        }
        response
    }
}

/// A short plain-text answer: a rejection's, or the inbox's acknowledgement.
#[doc(hidden)] // for gemini-webhooks-postgres, through `__private`
pub fn plain_text(status: http::StatusCode, text: String) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body(text)
}

/// The headers the core reads, copied from actix's header map (actix-web 4
/// uses its own `http` 0.2 types; only these four cross over).
#[doc(hidden)] // for gemini-webhooks-postgres, through `__private`
pub fn core_headers(actix: &ActixHeaderMap) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for name in [
        WEBHOOK_ID,
        WEBHOOK_TIMESTAMP,
        WEBHOOK_SIGNATURE,
        http::header::CONTENT_LENGTH,
    ] {
        for value in actix.get_all(name.as_str()) {
            if let Ok(value) = http::HeaderValue::from_bytes(value.as_bytes()) {
                headers.append(name.clone(), value);
            }
        }
    }
    headers
}

/// An actix payload as an `http_body::Body`, so the core's body reading
/// (limit, error mapping) serves both frameworks.
#[doc(hidden)] // for gemini-webhooks-postgres, through `__private`
pub struct PayloadBody(pub Payload);

impl http_body::Body for PayloadBody {
    type Data = Bytes;
    type Error = actix_web::error::PayloadError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(http_body::Frame::data)))
    }
}
