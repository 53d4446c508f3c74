//! The operator's dashboard: server-rendered pages over an [`Inbox`] —
//! counts and the last day's activity, jobs by filter, one job, tracked
//! jobs — and its levers: requeue one job or every job a filter matches,
//! pause and resume the workers, reopen a tracked job.
//!
//! [`Dashboard::router`] is an axum router to mount where you like with
//! `nest_service` (`/inbox` below: it then answers `/inbox` and `/inbox/`). Nobody gets in without the token: an
//! `Authorization: Bearer` header, or a login form that sets an
//! `HttpOnly`, `SameSite=Strict` session cookie (12 hours); everyone else
//! gets a 401. Every action is a POST carrying a CSRF token, checked
//! whatever the credential. Pages are plain HTML forms and links: they
//! work without JavaScript, and the stylesheet is in the binary.
//!
//! ```no_run
//! # async fn run(inbox: gemini_webhooks_postgres::inbox::Inbox) -> Result<(), Box<dyn std::error::Error>> {
//! use gemini_webhooks_postgres::dashboard::Dashboard;
//!
//! let token = std::env::var("INBOX_DASHBOARD_TOKEN")?;
//! let app = axum::Router::new()
//!     .nest_service("/inbox", Dashboard::new(&inbox).token(&token).router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Behind an auth layer of your own (an SSO proxy, say), let it decide:
//! [`Dashboard::behind_own_auth`] lets every request in and keeps the CSRF
//! check. See the [guide](crate::guide::dashboard) for the pages and what each
//! reads.

mod access;
mod action;
mod chart;
mod error;
mod filter;
mod guard;
mod job;
mod jobs;
mod layout;
mod login;
mod overview;
#[cfg(feature = "reconcile")]
mod tracked;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::inbox::Inbox;
use access::Access;

/// The dashboard of one inbox; [`router`](Self::router) serves it.
///
/// Without [`token`](Self::token) or
/// [`behind_own_auth`](Self::behind_own_auth) every request is refused.
#[derive(Debug, Clone)]
pub struct Dashboard {
    inbox: Inbox,
    access: Option<Access>,
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) inbox: Inbox,
    access: Option<Access>,
    #[cfg(feature = "reconcile")]
    pub(crate) tracking: crate::reconcile::Tracking,
}

impl Dashboard {
    /// The dashboard of `inbox` (and of its tracked jobs, with the
    /// `reconcile` feature).
    pub fn new(inbox: &Inbox) -> Self {
        Self {
            inbox: inbox.clone(),
            access: None,
        }
    }

    /// Lets in whoever shows `token`: as `Authorization: Bearer`, or on
    /// the login form. Use a long random one; changing it ends every
    /// session.
    pub fn token(mut self, token: impl AsRef<str>) -> Self {
        self.access = Some(Access::token(token.as_ref()));
        self
    }

    /// Lets every request in: an auth layer of the application's, in front
    /// of the router, decides. `csrf_secret` signs the CSRF tokens of the
    /// forms (use the same on every replica); actions still need them.
    pub fn behind_own_auth(mut self, csrf_secret: impl AsRef<[u8]>) -> Self {
        self.access = Some(Access::outside(csrf_secret.as_ref()));
        self
    }

    /// The router: `GET /` (overview), `/jobs`, `/job`, `/requeue`,
    /// `/tracked`, `/login`, and the actions' POSTs. Mount it with
    /// `Router::nest_service` (which, unlike `nest`, also routes the
    /// mount point's trailing slash to it); its links follow where it is
    /// mounted.
    pub fn router(self) -> Router {
        let shared = Arc::new(Shared {
            #[cfg(feature = "reconcile")]
            tracking: crate::reconcile::Tracking::new(&self.inbox),
            inbox: self.inbox,
            access: self.access,
        });
        let pages = Router::new()
            .route("/", get(overview::show))
            .route("/jobs", get(jobs::show))
            .route("/job", get(job::show))
            .route("/job/requeue", post(job::requeue))
            .route("/requeue", get(jobs::confirm_requeue).post(jobs::requeue))
            .route("/pause", post(overview::pause))
            .route("/resume", post(overview::resume))
            .route("/logout", post(login::logout));
        #[cfg(feature = "reconcile")]
        let pages = pages
            .route("/tracked", get(tracked::show))
            .route("/tracked/reopen", post(tracked::reopen));
        pages
            .route_layer(axum::middleware::from_fn_with_state(
                Arc::clone(&shared),
                guard::authenticate,
            ))
            .route("/login", get(login::show).post(login::login))
            .with_state(shared)
    }
}
