//! Shared fixtures: an axum app behind `WebhookLayer` whose handler counts
//! its runs per webhook id and misbehaves on request.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use gemini_webhooks::Delivery;
use tokio::sync::Notify;

#[path = "../../examples/common/client.rs"]
pub mod client;

pub mod gemini_mock;
pub mod inbox_process;
pub mod lambda_event;
pub mod pg;
pub mod process;
#[allow(unused_imports)]
pub use testdb as throwaway;

/// Log lines written by a `tracing_subscriber::fmt` subscriber, kept for a
/// test to read.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Polls `check` until it holds; fails the test after 60 s instead of
/// hanging (a bound no busy machine reaches: the state decides, not the clock).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Runs an async test on actix-web's runtime, as `#[actix_web::test]` does
/// (that macro needs actix-web's `macros` feature, which the crate does not
/// build).
#[cfg(feature = "actix")]
pub fn on_actix<F: std::future::Future>(test: F) -> F::Output {
    actix_web::rt::System::new().block_on(test)
}

/// What the handler saw, and a gate that holds handlers whose body asks for it.
#[derive(Clone, Default)]
pub struct Handled {
    runs: Arc<Mutex<HashMap<String, usize>>>,
    completed: Arc<Mutex<HashMap<String, usize>>>,
    pub gate: Arc<Notify>,
    pub entered: Arc<Notify>,
}

impl Handled {
    pub fn runs(&self, id: &str) -> usize {
        self.runs.lock().unwrap().get(id).copied().unwrap_or(0)
    }

    /// How many runs for `id` got to answer (were not cancelled or panicked).
    pub fn completed(&self, id: &str) -> usize {
        self.completed.lock().unwrap().get(id).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.runs.lock().unwrap().values().sum()
    }

    /// Waits until a held handler has started; fails the test, instead of
    /// hanging it, if none does (with Tokio's paused clock the bound passes
    /// as soon as nothing else can run).
    pub async fn until_entered(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(60), self.entered.notified())
            .await
            .expect("no handler started: the delivery was refused or never admitted");
    }
}

/// The axum handler: counts runs, then behaves as the body asks (see [`behave`]).
pub async fn handler(State(handled): State<Handled>, delivery: Delivery) -> StatusCode {
    StatusCode::from_u16(behave(&handled, &delivery).await).unwrap()
}

/// Counts a run of `delivery`, then follows its body's markers:
/// `"fail_handler": true` → 500, `"panic": true` → panic, `"hold": true` →
/// wait for `gate`, `"fail_once": true` → 500 the first time; else 200.
pub async fn behave(handled: &Handled, delivery: &Delivery) -> u16 {
    let body = String::from_utf8_lossy(delivery.body()).into_owned();
    let runs = {
        let mut runs = handled.runs.lock().unwrap();
        let count = runs.entry(delivery.id().to_owned()).or_default();
        *count += 1;
        *count
    };
    if body.contains(r#""hold": true"#) {
        handled.entered.notify_one();
        handled.gate.notified().await;
    }
    if body.contains(r#""panic": true"#) {
        panic!("handler panics on purpose");
    }
    *handled
        .completed
        .lock()
        .unwrap()
        .entry(delivery.id().to_owned())
        .or_default() += 1;
    if body.contains(r#""fail_handler": true"#)
        || (body.contains(r#""fail_once": true"#) && runs == 1)
    {
        return 500;
    }
    200
}

/// A verifier for one `whsec_` secret.
pub fn verifier(secret: &str) -> gemini_webhooks::Verifier {
    gemini_webhooks::Verifier::builder()
        .secret(secret)
        .unwrap()
        .build()
        .unwrap()
}

pub fn app(handled: Handled) -> Router<()> {
    Router::new()
        .route("/webhooks/gemini", post(handler))
        .with_state(handled)
}

/// Posts `body` with `headers` to the app's webhook route, in process:
/// the status and the answer's text. The one way the tests send a request
/// through a router.
pub async fn send(app: &Router, headers: &http::HeaderMap, body: &str) -> (StatusCode, String) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let mut request = axum::http::Request::post("/webhooks/gemini")
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    request.headers_mut().extend(headers.clone());
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&text).into_owned())
}

/// [`send`]s `body` signed with `secret` under the webhook id `id`: its status.
pub async fn send_signed(app: &Router, secret: &str, id: &str, body: &str) -> StatusCode {
    let headers = gemini_webhooks::testing::Signer::hmac(secret)
        .unwrap()
        .id(id)
        .sign(body.as_bytes());
    send(app, &headers, body).await.0
}

pub const EVENT: &str =
    r#"{"type":"batch.succeeded","timestamp":"2026-11-26T00:00:00Z","data":{"id":"batches/1"}}"#;

/// An event that completes no job (`interaction.requires_action` can
/// recur): an inbox stores each webhook id of it as a delivery of its own,
/// where copies of one completion under many ids are stored once.
pub const NO_COMPLETION: &str = r#"{"type":"interaction.requires_action","timestamp":"2026-11-26T00:00:00Z","data":{"id":"interactions/1"}}"#;

pub fn event_with(marker: &str) -> String {
    format!(
        r#"{{"type":"batch.succeeded","timestamp":"2026-11-26T00:00:00Z","data":{{"id":"batches/1"}},{marker}}}"#
    )
}

#[cfg(all(feature = "axum", feature = "actix"))]
pub mod two_adapters;

/// The same app on actix-web: `POST /webhooks/gemini` behind the middleware.
#[cfg(feature = "actix")]
pub mod actix_app {
    use actix_web::{HttpResponse, web};
    use gemini_webhooks::Delivery;

    use super::{Handled, behave};

    pub async fn handler(handled: web::Data<Handled>, delivery: Delivery) -> HttpResponse {
        let status = behave(&handled, &delivery).await;
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
    }
}

fn refused() -> gemini_webhooks::replay::ReplayError {
    gemini_webhooks::replay::ReplayError::new("connection refused")
}

/// A replay store that cannot be reached.
pub struct DownStore;

impl gemini_webhooks::replay::ReplayStore for DownStore {
    async fn claim(
        &self,
        _: &str,
    ) -> Result<gemini_webhooks::replay::Claim, gemini_webhooks::replay::ReplayError> {
        Err(refused())
    }
    async fn commit(
        &self,
        _: &str,
        _: &gemini_webhooks::replay::ClaimToken,
        _: std::time::Duration,
    ) -> Result<(), gemini_webhooks::replay::ReplayError> {
        Err(refused())
    }
    async fn release(
        &self,
        _: &str,
        _: &gemini_webhooks::replay::ClaimToken,
    ) -> Result<(), gemini_webhooks::replay::ReplayError> {
        Err(refused())
    }
    async fn extend(
        &self,
        _: &str,
        _: &gemini_webhooks::replay::ClaimToken,
    ) -> Result<gemini_webhooks::replay::Extension, gemini_webhooks::replay::ReplayError> {
        Err(refused())
    }
    fn in_flight_ttl(&self) -> std::time::Duration {
        gemini_webhooks::replay::DEFAULT_IN_FLIGHT_TTL
    }
}

/// A memory store that tells the tests what happens to it, and misbehaves
/// on request: commits that never answer, extensions that fail (the store
/// did not answer) or find the claim gone.
#[derive(Clone, Default)]
pub struct ObservedStore {
    pub inner: Arc<gemini_webhooks::replay::MemoryReplayStore>,
    /// Commits stall forever (a store hanging mid-request).
    pub stall_commits: bool,
    /// How many of the next extensions fail, as a store that does not
    /// answer (`usize::MAX`: all of them).
    pub failing_extensions: Arc<std::sync::atomic::AtomicUsize>,
    /// Every extension answers `Lost` (as if each claim had been taken over).
    pub lose_claims: bool,
    /// The TTL of every commit asked for.
    pub committed_for: Arc<Mutex<Vec<std::time::Duration>>>,
    /// How many extensions were asked for.
    pub extensions: Arc<std::sync::atomic::AtomicUsize>,
    /// Notified when a commit starts, and when a release arrives.
    pub committing: Arc<Notify>,
    pub released: Arc<Notify>,
}

impl gemini_webhooks::replay::ReplayStore for ObservedStore {
    async fn claim(
        &self,
        id: &str,
    ) -> Result<gemini_webhooks::replay::Claim, gemini_webhooks::replay::ReplayError> {
        self.inner.claim(id).await
    }
    async fn commit(
        &self,
        id: &str,
        token: &gemini_webhooks::replay::ClaimToken,
        ttl: std::time::Duration,
    ) -> Result<(), gemini_webhooks::replay::ReplayError> {
        self.committed_for.lock().unwrap().push(ttl);
        self.committing.notify_one();
        if self.stall_commits {
            std::future::pending::<()>().await;
        }
        self.inner.commit(id, token, ttl).await
    }
    async fn release(
        &self,
        id: &str,
        token: &gemini_webhooks::replay::ClaimToken,
    ) -> Result<(), gemini_webhooks::replay::ReplayError> {
        let released = self.inner.release(id, token).await;
        self.released.notify_one();
        released
    }
    async fn extend(
        &self,
        id: &str,
        token: &gemini_webhooks::replay::ClaimToken,
    ) -> Result<gemini_webhooks::replay::Extension, gemini_webhooks::replay::ReplayError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.extensions.fetch_add(1, SeqCst);
        if self.lose_claims {
            return Ok(gemini_webhooks::replay::Extension::Lost);
        }
        let failing = self
            .failing_extensions
            .fetch_update(SeqCst, SeqCst, |left| {
                (left > 0).then(|| if left == usize::MAX { left } else { left - 1 })
            });
        if failing.is_ok() {
            return Err(gemini_webhooks::replay::ReplayError::new("Redis timed out"));
        }
        self.inner.extend(id, token).await
    }
    fn in_flight_ttl(&self) -> std::time::Duration {
        self.inner.in_flight_ttl()
    }
}
