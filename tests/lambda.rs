//! `examples/lambda.rs` as AWS runs it, without AWS: the example's own
//! binary polls a stand-in for the Lambda Runtime API (the HTTP interface
//! every Lambda runtime pulls its invocations from), which hands it API
//! Gateway v2 and function-URL events built from the fixtures in
//! `tests/fixtures/lambda/`, the body plain or base64-encoded as AWS sends
//! it. The answers come back as the JSON Lambda returns to API Gateway.

#![cfg(all(feature = "axum", feature = "redis"))]

mod common;

use common::lambda_event;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use gemini_webhooks::testing::{Signer, generate_secret, random_id, sample_event_for};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc as tokio_mpsc};

/// Generous bound for anything that should happen: the test fails instead
/// of hanging, and no busy machine reaches it.
const PATIENCE: Duration = Duration::from_secs(60);

/// What the runtime posted back for one invocation.
#[derive(Debug)]
enum Outcome {
    Response(Value),
    Error(Value),
}

/// The invocations waiting for the function, and what it answered.
struct RuntimeApiState {
    next: Mutex<tokio_mpsc::UnboundedReceiver<(String, Value)>>,
    outcomes: tokio_mpsc::UnboundedSender<(String, Outcome)>,
}

/// `GET /2018-06-01/runtime/invocation/next`: long-polls, as Lambda's does.
async fn next_invocation(State(state): State<Arc<RuntimeApiState>>) -> impl IntoResponse {
    let Some((request_id, event)) = state.next.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let deadline = SystemTime::now() + PATIENCE;
    let deadline_ms = deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", request_id.parse().unwrap());
    headers.insert("lambda-runtime-deadline-ms", deadline_ms.into());
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:gemini-webhooks"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-6750b9a1-0a1b2c3d4e5f60718293a4b5".parse().unwrap(),
    );
    (StatusCode::OK, headers, event.to_string())
}

async fn invocation_response(
    State(state): State<Arc<RuntimeApiState>>,
    UrlPath(request_id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = state.outcomes.send((request_id, Outcome::Response(value)));
    StatusCode::ACCEPTED
}

async fn invocation_error(
    State(state): State<Arc<RuntimeApiState>>,
    UrlPath(request_id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = state.outcomes.send((request_id, Outcome::Error(value)));
    StatusCode::ACCEPTED
}

/// The example's binary, built next to this test by `cargo test`.
fn lambda_example() -> PathBuf {
    common::process::example_binary("lambda", "axum,redis")
}

/// One function instance: the example's process, polling a Runtime API of
/// the test's own.
struct Function {
    child: Child,
    invocations: tokio_mpsc::UnboundedSender<(String, Value)>,
    outcomes: tokio_mpsc::UnboundedReceiver<(String, Outcome)>,
    stdout: mpsc::Receiver<String>,
    secret: String,
}

impl Function {
    async fn start(env: &[(&str, &str)]) -> Self {
        let (invocations, next) = tokio_mpsc::unbounded_channel();
        let (outcome_tx, outcomes) = tokio_mpsc::unbounded_channel();
        let state = Arc::new(RuntimeApiState {
            next: Mutex::new(next),
            outcomes: outcome_tx,
        });
        let api = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, api).await });

        let secret = generate_secret();
        let mut command = Command::new(lambda_example());
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "gemini-webhooks")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("GEMINI_WEBHOOK_SECRET", &secret)
            .env("LOG_LEVEL", "error")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().unwrap();
        let stdout = common::process::lines(child.stdout.take().unwrap());
        Self {
            child,
            invocations,
            outcomes,
            stdout,
            secret,
        }
    }

    /// Hands `event` to the function and waits for what it posts back.
    async fn invoke(&mut self, event: Value) -> Outcome {
        let request_id = random_id();
        self.invocations.send((request_id.clone(), event)).unwrap();
        let (answered, outcome) = tokio::time::timeout(PATIENCE, self.outcomes.recv())
            .await
            .expect("the function answers the invocation")
            .expect("the Runtime API keeps running");
        assert_eq!(answered, request_id, "one invocation at a time");
        outcome
    }

    /// The HTTP status and body of the function's answer to `event`.
    async fn answer(&mut self, event: Value) -> (u16, String) {
        match self.invoke(event).await {
            Outcome::Response(response) => {
                let status = response["statusCode"].as_u64().unwrap_or(0) as u16;
                let body = response["body"].as_str().unwrap_or_default().to_owned();
                (status, body)
            }
            Outcome::Error(error) => panic!("the invocation failed: {error}"),
        }
    }

    fn signer(&self) -> Signer {
        Signer::hmac(&self.secret).unwrap()
    }

    /// The lines the handler printed (one per run) since the last call:
    /// a last delivery of the test's own goes through, and what its line
    /// follows is all that ran before it (stdout keeps their order).
    async fn handled(&mut self) -> Vec<Value> {
        let barrier = random_id();
        let body = sample_event_for("batch.succeeded", &barrier);
        let headers = self.signer().id(&barrier).sign(&body);
        let delivery = event("apigw_v2", &headers, &body, false);
        assert_eq!(self.answer(delivery).await.0, 200, "the barrier delivery");
        let mut lines = Vec::new();
        loop {
            let line = self
                .stdout
                .recv_timeout(PATIENCE)
                .expect("the handler prints a line per run");
            let line: Value = serde_json::from_str(&line).unwrap();
            if line["id"] == barrier.as_str() {
                return lines;
            }
            lines.push(line);
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixture `name` carrying the delivery.
fn event(name: &str, headers: &HeaderMap, body: &[u8], base64: bool) -> Value {
    lambda_event::with_delivery(&lambda_event::fixture(name), headers, body, base64)
}

/// A completion whose body is not all ASCII, so a base64 round trip that
/// changed a byte would break its signature.
fn body_for(job: &str) -> Vec<u8> {
    let mut event: Value =
        serde_json::from_slice(&sample_event_for("batch.succeeded", job)).unwrap();
    event["data"]["displayName"] = json!("résumé ☕ nightly");
    serde_json::to_vec(&event).unwrap()
}

#[tokio::test]
async fn with_redis_each_delivery_runs_once_whichever_trigger_and_encoding() {
    let redis = common::throwaway::redis_url();
    let mut function = Function::start(&[("GEMINI_WEBHOOK_REDIS_URL", &redis)]).await;

    let mut sent = Vec::new();
    for trigger in ["apigw_v2", "function_url"] {
        for base64 in [false, true] {
            let id = random_id();
            let body = body_for(&id);
            let headers = function.signer().id(&id).sign(&body);
            let delivery = event(trigger, &headers, &body, base64);
            assert_eq!(
                function.answer(delivery.clone()).await.0,
                200,
                "{trigger}, base64 {base64}: a new delivery runs the handler"
            );
            // Gemini's retry of a delivery it already got a 200 for.
            assert_eq!(
                function.answer(delivery).await.0,
                200,
                "{trigger}, base64 {base64}: a duplicate is answered 200"
            );
            sent.push(id);
        }
    }
    let handled = function.handled().await;
    let ids: Vec<&str> = handled
        .iter()
        .map(|line| line["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids, sent,
        "each delivery ran its handler once, duplicates none"
    );
    assert!(handled.iter().all(|line| line["type"] == "batch.succeeded"));
}

#[tokio::test]
async fn with_redis_forged_stale_and_unsigned_deliveries_are_refused() {
    let redis = common::throwaway::redis_url();
    let mut function = Function::start(&[("GEMINI_WEBHOOK_REDIS_URL", &redis)]).await;
    let body = body_for(&random_id());

    // Signed over other bytes: the body was changed on the way.
    let tampered = function.signer().sign(b"{\"type\":\"batch.failed\"}");
    for base64 in [false, true] {
        let (status, text) = function
            .answer(event("apigw_v2", &tampered, &body, base64))
            .await;
        assert_eq!(status, 401, "tampered, base64 {base64}");
        assert!(
            !text.contains("résumé"),
            "the answer never echoes the body: {text}"
        );
    }

    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let stale = function.signer().timestamp(an_hour_ago).sign(&body);
    assert_eq!(
        function
            .answer(event("function_url", &stale, &body, true))
            .await
            .0,
        401
    );

    // Signed with another endpoint's secret.
    let other = Signer::hmac(&generate_secret()).unwrap().sign(&body);
    assert_eq!(
        function
            .answer(event("function_url", &other, &body, false))
            .await
            .0,
        401
    );

    let (status, _) = function
        .answer(event("apigw_v2", &HeaderMap::new(), &body, false))
        .await;
    assert_eq!(status, 400, "no webhook-* headers");
    assert!(
        function.handled().await.is_empty(),
        "no refused delivery ran the handler"
    );
}

#[tokio::test]
async fn with_redis_bytes_that_are_not_text_still_verify() {
    let redis = common::throwaway::redis_url();
    let mut function = Function::start(&[("GEMINI_WEBHOOK_REDIS_URL", &redis)]).await;
    // Not UTF-8: only base64 can carry it, and the signature covers the
    // bytes, so it verifies; then the handler finds no Gemini event (422).
    let body = [0xff, 0xfe, 0x00, 0x7b, 0x80];
    let headers = function.signer().sign(&body);
    assert_eq!(
        function
            .answer(event("function_url", &headers, &body, true))
            .await
            .0,
        422
    );
    let unsigned = function.signer().sign(b"other bytes");
    assert_eq!(
        function
            .answer(event("function_url", &unsigned, &body, true))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn with_a_failing_handler_gemini_s_retry_runs_it_again() {
    let redis = common::throwaway::redis_url();
    let mut function = Function::start(&[("GEMINI_WEBHOOK_REDIS_URL", &redis)]).await;
    let body = br#"{"type":"batch.failed","timestamp":"2026-12-01T00:00:00Z","data":{"id":"batches/x"},"fail_handler":true}"#;
    let headers = function.signer().sign(body);
    let delivery = event("apigw_v2", &headers, body, true);
    assert_eq!(function.answer(delivery.clone()).await.0, 500);
    assert_eq!(
        function.answer(delivery).await.0,
        500,
        "the failure released the id"
    );
    assert_eq!(
        function.handled().await.len(),
        2,
        "the retry ran the handler again"
    );
}

#[tokio::test]
async fn with_postgres_the_inbox_stores_each_completion_once_and_answers_202() {
    let url = common::pg::database_url();
    let table = common::pg::unique_table();
    let mut function = Function::start(&[("DATABASE_URL", &url), ("INBOX_TABLE", &table)]).await;

    let mut sent = Vec::new();
    for (trigger, base64) in [("apigw_v2", true), ("function_url", false)] {
        let body = body_for(&random_id());
        let delivery = event(trigger, &function.signer().sign(&body), &body, base64);
        assert_eq!(
            function.answer(delivery.clone()).await.0,
            202,
            "stored for the workers"
        );
        assert_eq!(
            function.answer(delivery).await.0,
            200,
            "a copy already stored"
        );
        sent.push(body);
    }
    let rows = common::pg::admin()
        .await
        .query(
            &format!("SELECT body FROM {table} ORDER BY received_at"),
            &[],
        )
        .await
        .unwrap();
    let stored: Vec<Vec<u8>> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(stored, sent, "each completion stored once, byte for byte");
    common::pg::drop_table(&table).await;
}

#[test]
fn without_a_shared_store_the_function_refuses_to_start() {
    let output = Command::new(lambda_example())
        .env_clear()
        .env("GEMINI_WEBHOOK_SECRET", generate_secret())
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("GEMINI_WEBHOOK_REDIS_URL or DATABASE_URL"),
        "the cold start names what is missing: {stderr}"
    );
}
