use axum_core::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::delivery_from_request;
use crate::receiver::Rejection;

/// Extracts the verified delivery's body as your own JSON type `T`.
///
/// A body that does not parse as `T` is rejected with 422, naming the path
/// of the bad field (never quoting the body).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verified<T>(pub T);

impl<T, S> FromRequest<S> for Verified<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(delivery_from_request(request).await?.json()?))
    }
}
