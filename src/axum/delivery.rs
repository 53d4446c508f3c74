use axum_core::extract::{FromRequest, Request};

use super::delivery_from_request;
use crate::delivery::Delivery;
use crate::receiver::Rejection;

/// Extracts the verified [`Delivery`]: id, timestamp, raw body.
impl<S: Send + Sync> FromRequest<S> for Delivery {
    type Rejection = Rejection;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        delivery_from_request(request).await
    }
}
