use axum_core::extract::{FromRequest, Request};

use super::{FromDelivery, delivery_from_request};
use crate::event::GeminiEvent;
use crate::receiver::Rejection;

/// Extracts the verified delivery's [`GeminiEvent`]; a body that is not a
/// valid event is rejected with 422.
impl<S: Send + Sync> FromRequest<S> for GeminiEvent {
    type Rejection = Rejection;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        GeminiEvent::from_delivery(delivery_from_request(request).await?)
    }
}
