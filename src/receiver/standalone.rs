//! What an extractor does without a middleware in front of it.

use http::HeaderMap;

use super::{Intake, Rejection};
use crate::delivery::Delivery;
use crate::verify::Verifier;

/// Verifies the request itself with `verifier` (no replay protection), or
/// refuses with [`Rejection::NotConfigured`] when there is none. Shared by
/// the adapters' extractors.
pub(crate) async fn verify_standalone<B>(
    verifier: Option<Verifier>,
    headers: &HeaderMap,
    body: B,
) -> Result<Delivery, Rejection>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Some(verifier) = verifier else {
        tracing::error!("gemini webhook extractor used without the middleware or a Verifier");
        let rejection = Rejection::NotConfigured;
        rejection.count();
        return Err(rejection);
    };
    Intake::new(verifier).accept(headers, body).await
}
