//! [`Action`]: the form of a POST that changes something, taken only
//! with its CSRF token — whatever the credential, a bearer token
//! included, so no other site's page can make an operator's browser act.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Shared;
use super::access::Credential;
use super::error::DashboardError;

/// An action's form fields, its CSRF token checked.
#[derive(Debug)]
pub(super) struct Action<T>(pub(super) T);

/// The token every action's form carries.
#[derive(Deserialize)]
struct Csrf {
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<Arc<Shared>> for Action<T> {
    type Rejection = DashboardError;

    async fn from_request(request: Request, shared: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        let credential = request.extensions().get::<Credential>().cloned();
        let body = Bytes::from_request(request, shared)
            .await
            .map_err(|_| DashboardError::BadRequest("the form could not be read".to_owned()))?;
        let csrf = serde_urlencoded::from_bytes::<Csrf>(&body).map_err(|_| DashboardError::Csrf)?;
        let valid = match (&shared.access, &credential) {
            (Some(access), Some(credential)) => access.is_csrf(credential, &csrf.csrf),
            _ => false,
        };
        if !valid {
            return Err(DashboardError::Csrf);
        }
        serde_urlencoded::from_bytes(&body)
            .map(Action)
            .map_err(|err| DashboardError::BadRequest(format!("the form is not valid: {err}")))
    }
}
