//! A local stand-in for the Gemini API, with state a test sets: each job's
//! answer (`GET /v1beta/{name}`), the watched webhook's state (`GET` and
//! `PATCH /v1beta/webhooks/{id}`), failures injected for a while, and a
//! count of the calls per path. Answers follow the API reference's shapes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use gemini_webhooks_api::GeminiClient;
use serde_json::{Value, json};

#[derive(Default)]
struct Inner {
    jobs: Mutex<HashMap<String, Value>>,
    webhook_state: Mutex<String>,
    patches: Mutex<Vec<(String, Value)>>,
    calls: Mutex<HashMap<String, usize>>,
    /// The next this many calls answer `fail_with`.
    failing: AtomicUsize,
    fail_with: Mutex<u16>,
}

/// The mock's handle; clones share its state.
#[derive(Clone)]
pub struct GeminiMock {
    inner: Arc<Inner>,
    pub host: String,
}

impl GeminiMock {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        *inner.webhook_state.lock().unwrap() = "enabled".to_owned();
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inner, host }
    }

    /// A client on the mock that does not retry: each failure shows.
    pub fn client(&self) -> GeminiClient {
        GeminiClient::builder("AIzaMockKey")
            .host(self.host.clone())
            .retries(0, Duration::from_millis(1))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// What `GET /v1beta/{name}` answers from now on.
    pub fn set(&self, name: &str, answer: Value) {
        self.inner
            .jobs
            .lock()
            .unwrap()
            .insert(name.to_owned(), answer);
    }

    /// The next `calls` calls about jobs answer `status` with Google's
    /// error body (the webhooks calls keep answering).
    pub fn fail_next(&self, calls: usize, status: u16) {
        *self.inner.fail_with.lock().unwrap() = status;
        self.inner.failing.store(calls, Ordering::SeqCst);
    }

    pub fn set_webhook_state(&self, state: &str) {
        *self.inner.webhook_state.lock().unwrap() = state.to_owned();
    }

    /// The `PATCH`es seen: query and body.
    pub fn patches(&self) -> Vec<(String, Value)> {
        self.inner.patches.lock().unwrap().clone()
    }

    /// Calls to `path` (`/v1beta/batches/b1`) so far.
    pub fn calls(&self, path: &str) -> usize {
        self.inner
            .calls
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Every call so far.
    pub fn all_calls(&self) -> usize {
        self.inner.calls.lock().unwrap().values().sum()
    }
}

/// A batch's Operation in `state` (`SUCCEEDED`, `RUNNING`, …).
pub fn batch(name: &str, state: &str) -> Value {
    let done = !matches!(state, "PENDING" | "RUNNING");
    let mut operation = json!({
        "name": name, "done": done,
        "metadata": {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
                     "name": name, "state": format!("BATCH_STATE_{state}")}
    });
    if state == "SUCCEEDED" {
        operation["metadata"]["output"] =
            json!({"responsesFile": format!("files/{}-out", last(name))});
    }
    if state == "FAILED" {
        operation["error"] = json!({"code": 3, "message": "bad requests file"});
    }
    operation
}

/// A video operation: running, done with a video, or failed.
pub fn video(name: &str, outcome: &str) -> Value {
    match outcome {
        "running" => json!({"name": name}),
        "failed" => json!({"name": name, "done": true,
                           "error": {"code": 13, "message": "generation failed"}}),
        _ => json!({"name": name, "done": true, "response": {"generateVideoResponse": {
            "generatedSamples": [{"video": {"uri": format!("https://files.example/{}.mp4", last(name))}}]}}}),
    }
}

/// What a job answers when every poll of it is refused with `status`
/// (a revoked key: 401), for [`GeminiMock::set`].
pub fn refused(status: u16) -> Value {
    json!({ "__status": status })
}

/// An interaction in `status`, with `steps` steps.
pub fn interaction(id: &str, status: &str, steps: usize) -> Value {
    json!({"id": id, "status": status, "steps": vec![json!({"type": "step"}); steps]})
}

fn last(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

async fn answer(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    *inner.calls.lock().unwrap().entry(path.clone()).or_default() += 1;
    let failing = !path.starts_with("/v1beta/webhooks/")
        && inner
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if failing {
        let status = *inner.fail_with.lock().unwrap();
        return reply(
            StatusCode::from_u16(status).unwrap(),
            json!({"error": {"code": status, "message": "injected", "status": "UNAVAILABLE"}}),
        );
    }
    let Some(name) = path.strip_prefix("/v1beta/") else {
        return not_found();
    };
    if let Some(id) = name.strip_prefix("webhooks/") {
        let mut state = inner.webhook_state.lock().unwrap();
        if parts.method == axum::http::Method::PATCH {
            let update: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            inner
                .patches
                .lock()
                .unwrap()
                .push((parts.uri.query().unwrap_or("").to_owned(), update.clone()));
            if let Some(new) = update["state"].as_str() {
                *state = new.to_owned();
            }
        }
        return reply(
            StatusCode::OK,
            json!({"id": id, "name": "receiver", "uri": "https://example.com/hook",
                   "subscribedEvents": ["batch.succeeded"], "state": *state}),
        );
    }
    match inner.jobs.lock().unwrap().get(name) {
        // `refused(status)`: this job answers an error, every time.
        Some(job) if job.get("__status").is_some() => {
            let status = job["__status"].as_u64().unwrap_or(500);
            reply(
                StatusCode::from_u16(u16::try_from(status).unwrap_or(500)).unwrap(),
                json!({"error": {"code": status, "message": "refused", "status": "UNAUTHENTICATED"}}),
            )
        }
        Some(job) => reply(StatusCode::OK, job.clone()),
        None => not_found(),
    }
}

fn not_found() -> Response {
    reply(
        StatusCode::NOT_FOUND,
        json!({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}),
    )
}

fn reply(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}
