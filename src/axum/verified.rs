use axum_core::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::{FromDelivery, delivery_from_request};
use crate::receiver::Rejection;
use crate::verified::Verified;

/// Extracts the verified delivery's body as `T`; 422 when it does not parse.
impl<T, S> FromRequest<S> for Verified<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_delivery(delivery_from_request(request).await?)
    }
}
