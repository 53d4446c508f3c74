//! The login form, for a browser: the token, once, for a session cookie
//! (`HttpOnly`, `SameSite=Strict`, 12 hours); and the logout.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Form;
use axum::extract::{FromRequest as _, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use http::header::SET_COOKIE;
use maud::{Markup, html};
use serde::Deserialize;

use super::Shared;
use super::access::{COOKIE_NAME, SESSION};
use super::action::Action;
use super::guard::base_path;
use super::layout::{Frame, bare_page};

/// The login page (`problem`: why the last try failed).
pub(super) fn form(base: &str, problem: Option<&str>) -> Markup {
    let content = html! {
        @if let Some(problem) = problem { p.problem { (problem) } }
        form method="post" action={ (base) "/login" } {
            label { "Dashboard token " input type="password" name="token" autocomplete="current-password" autofocus; }
            " " button type="submit" { "Log in" }
        }
    };
    bare_page(
        "Log in · Gemini webhooks inbox",
        "Gemini webhooks inbox",
        content,
    )
}

/// `GET /login`.
pub(super) async fn show(request: Request) -> Markup {
    form(&base_path(&request), None)
}

#[derive(Deserialize)]
pub(super) struct Login {
    token: String,
}

/// `POST /login`: the token right, a session cookie and the overview;
/// wrong, the form again with a 401.
pub(super) async fn login(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let base = base_path(&request);
    let Ok(Form(login)) = Form::<Login>::from_request(request, &shared).await else {
        return (
            StatusCode::BAD_REQUEST,
            form(&base, Some("The form could not be read.")),
        )
            .into_response();
    };
    let Some(access) = shared
        .access
        .as_ref()
        .filter(|access| access.is_token(&login.token))
    else {
        tracing::warn!("gemini webhooks dashboard: a login with a wrong token");
        return (
            StatusCode::UNAUTHORIZED,
            form(&base, Some("That is not the token.")),
        )
            .into_response();
    };
    let cookie = format!(
        "{COOKIE_NAME}={}; Path={}/; Max-Age={}; HttpOnly; SameSite=Strict; Secure",
        access.new_session(SystemTime::now()),
        base,
        SESSION.as_secs()
    );
    ([(SET_COOKIE, cookie)], Redirect::to(&format!("{base}/"))).into_response()
}

/// `POST /logout`: the cookie dropped.
pub(super) async fn logout(frame: Frame, _: Action<serde::de::IgnoredAny>) -> Response {
    let cookie = format!(
        "{COOKIE_NAME}=; Path={}/; Max-Age=0; HttpOnly; SameSite=Strict; Secure",
        frame.base
    );
    ([(SET_COOKIE, cookie)], Redirect::to(&frame.link("/login"))).into_response()
}
