//! The door of every page but the login: a request with a valid
//! credential goes on, with its [`Frame`] (base path, CSRF token) for the
//! page; anyone else gets a 401 — the login form where there is one.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use super::Shared;
use super::access::Credential;
use super::layout::{Frame, message_page};

/// Lets a request with a valid credential through, its credential and
/// frame in its extensions; answers 401 otherwise.
pub(super) async fn authenticate(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let base = base_path(&request);
    let Some(access) = &shared.access else {
        let refused = "the dashboard has no token set: nobody is let in";
        return (
            StatusCode::UNAUTHORIZED,
            message_page(StatusCode::UNAUTHORIZED, refused),
        )
            .into_response();
    };
    let Some(credential) = access.credential(request.headers(), SystemTime::now()) else {
        let page = super::login::form(&base, None);
        return (StatusCode::UNAUTHORIZED, page).into_response();
    };
    let frame = Frame {
        csrf: access.csrf(&credential),
        logout: matches!(credential, Credential::Session(_)),
        base,
    };
    request.extensions_mut().insert(credential);
    request.extensions_mut().insert(frame);
    next.run(request).await
}

/// Where the router is mounted: the original path minus the path the
/// router saw (`/inbox/jobs` seen as `/jobs` → `/inbox`).
pub(super) fn base_path<B>(request: &http::Request<B>) -> String {
    let seen = request.uri().path();
    let original = request
        .extensions()
        .get::<OriginalUri>()
        .map_or(seen, |original| original.path());
    match seen {
        "/" => original.trim_end_matches('/'),
        _ => original.strip_suffix(seen).unwrap_or(""),
    }
    .to_owned()
}

impl<S: Send + Sync> FromRequestParts<S> for Frame {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only missing on a route outside `authenticate`: a bug of ours.
        parts
            .extensions
            .get::<Frame>()
            .cloned()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(seen: &str, original: Option<&str>) -> http::Request<()> {
        let mut request = http::Request::get(seen).body(()).unwrap();
        if let Some(original) = original {
            let uri = original.parse().unwrap();
            request.extensions_mut().insert(OriginalUri(uri));
        }
        request
    }

    #[test]
    fn the_base_is_where_the_router_is_mounted() {
        assert_eq!(base_path(&request("/jobs", Some("/inbox/jobs"))), "/inbox");
        assert_eq!(base_path(&request("/", Some("/inbox/"))), "/inbox");
        assert_eq!(base_path(&request("/", Some("/inbox"))), "/inbox");
        assert_eq!(base_path(&request("/", Some("/a/b/"))), "/a/b");
        assert_eq!(base_path(&request("/jobs", Some("/jobs"))), "");
        assert_eq!(base_path(&request("/jobs", None)), "");
        assert_eq!(base_path(&request("/", None)), "");
    }
}
