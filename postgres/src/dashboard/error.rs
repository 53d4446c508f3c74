//! Why a dashboard request was refused, and the status each reason is
//! answered with — in one place.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::inbox::InboxError;

/// A dashboard request that could not be served.
#[derive(Debug, thiserror::Error)]
pub(super) enum DashboardError {
    /// An action without its CSRF token, or with another page's.
    #[error("this action's form is stale or did not come from the dashboard: reload the page")]
    Csrf,
    /// A form or query that does not parse.
    #[error("{0}")]
    BadRequest(String),
    /// No such job.
    #[error("no such job")]
    NotFound,
    /// The inbox's database could not answer.
    #[error("the inbox could not answer")]
    Inbox(#[from] InboxError),
}

impl DashboardError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Inbox(InboxError::InvalidArgument(_)) => StatusCode::BAD_REQUEST,
            Self::Inbox(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(
                error = %gemini_webhooks::ErrorChain(&self),
                "gemini webhooks dashboard: request failed"
            );
        }
        // The database's own words stay in the log: they may name hosts.
        let message = match &self {
            Self::Inbox(InboxError::InvalidArgument(reason)) => reason.clone(),
            other => other.to_string(),
        };
        let page = super::layout::message_page(status, &message);
        (status, page).into_response()
    }
}
