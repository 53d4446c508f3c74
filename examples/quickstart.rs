//! The demo: a Gemini webhook receiver (axum + `WebhookLayer`) on a loopback
//! port with a fresh secret, and real HTTP deliveries signed by `Signer`: a
//! valid one, a tampered one, a stale one, a replay, 20 concurrent copies of
//! a new one, and one whose handler fails, with its retry.
//!
//! Prints what was sent, what came back and whether the handler ran; exits
//! non-zero if any outcome differs from the status table.
//!
//! `cargo run --example quickstart`

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{Delivery, Verifier};

/// How often the handler ran, per webhook id.
type Runs = Arc<Mutex<HashMap<String, usize>>>;

async fn handle(State(runs): State<Runs>, delivery: Delivery) -> StatusCode {
    *runs
        .lock()
        .unwrap()
        .entry(delivery.id().to_owned())
        .or_default() += 1;
    StatusCode::from_u16(common::outcome(&delivery).1).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

const EVENT: &str = r#"{"type":"batch.succeeded","version":"v1","timestamp":"2026-11-26T10:00:00Z","data":{"id":"batches/42","output_file_uri":"files/batch-42-out"}}"#;
const FAILING: &str = r#"{"type":"video.generated","timestamp":"2026-11-26T10:00:00Z","data":{"id":"operations/7","video_uri":"files/v7"},"fail_handler": true}"#;

struct Case {
    name: &'static str,
    id: &'static str,
    body: String,
    headers: http::HeaderMap,
    /// Statuses that are right for this case.
    expected: &'static [u16],
    /// How many times the handler must have run for this id after the case.
    runs_after: usize,
}

#[tokio::main]
async fn main() -> Result<ExitCode, common::client::BoxError> {
    let secret = generate_secret();
    let verifier = Verifier::builder().secret(&secret)?.build()?;
    let runs = Runs::default();
    // The layer goes on the webhook route only: other routes (a health
    // check) stay untouched, an unknown path is a 404 and a GET a 405.
    let app = Router::new()
        .route(
            "/webhooks/gemini",
            post(handle).route_layer(WebhookLayer::new(verifier)),
        )
        .route("/health", axum::routing::get(|| async { "ok" }))
        .with_state(runs.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/gemini", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let signer = Signer::hmac(&secret)?;
    let sign = |id: &str, body: &str| signer.clone().id(id).sign(body.as_bytes());
    let stale = signer
        .clone()
        .id("msg_stale")
        .timestamp(SystemTime::now() - Duration::from_secs(600))
        .sign(EVENT.as_bytes());
    let case = |name, id, body: &str, headers, expected, runs_after| Case {
        name,
        id,
        body: body.to_owned(),
        headers,
        expected,
        runs_after,
    };
    let cases = vec![
        case(
            "valid",
            "msg_valid",
            EVENT,
            sign("msg_valid", EVENT),
            &[200],
            1,
        ),
        case(
            "tampered body",
            "msg_tampered",
            &EVENT.replace("42", "43"),
            sign("msg_tampered", EVENT),
            &[401],
            0,
        ),
        case("stale (10 min old)", "msg_stale", EVENT, stale, &[401], 0),
        case(
            "replay of 'valid'",
            "msg_valid",
            EVENT,
            sign("msg_valid", EVENT),
            &[200],
            1,
        ),
        case(
            "handler fails",
            "msg_fails",
            FAILING,
            sign("msg_fails", FAILING),
            &[500],
            1,
        ),
        case(
            "retry of the failed one",
            "msg_fails",
            FAILING,
            sign("msg_fails", FAILING),
            &[500],
            2,
        ),
    ];

    let mut wrong = 0;
    println!(
        "{:<28} {:<14} {:>8}  handler runs",
        "sent", "webhook-id", "status"
    );
    for case in cases {
        let response = common::client::post(&url, case.headers, case.body).await?;
        let status = response.status.as_u16();
        let ran = runs.lock().unwrap().get(case.id).copied().unwrap_or(0);
        let ok = case.expected.contains(&status) && ran == case.runs_after;
        wrong += usize::from(!ok);
        let mark = if ok { "" } else { "   <-- unexpected" };
        println!("{:<28} {:<14} {status:>8}  {ran}{mark}", case.name, case.id);
    }

    // 20 concurrent copies of one new delivery: the handler runs once, the
    // other copies get 200 (already handled) or 409 (in flight, retry later).
    let headers = sign("msg_concurrent", EVENT);
    let copies: Vec<_> = (0..20)
        .map(|_| {
            let (url, headers) = (url.clone(), headers.clone());
            tokio::spawn(async move {
                common::client::post(&url, headers, EVENT)
                    .await
                    .map(|r| r.status.as_u16())
            })
        })
        .collect();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for copy in copies {
        *statuses.entry(copy.await??).or_default() += 1;
    }
    let ran = runs
        .lock()
        .unwrap()
        .get("msg_concurrent")
        .copied()
        .unwrap_or(0);
    let ok = ran == 1 && statuses.keys().all(|s| [200, 409].contains(s));
    wrong += usize::from(!ok);
    let mut summary: Vec<_> = statuses.iter().map(|(s, n)| format!("{n}×{s}")).collect();
    summary.sort();
    println!(
        "{:<28} {:<14} {:>8}  {ran}{}",
        "20 concurrent copies",
        "msg_concurrent",
        summary.join(" "),
        if ok { "" } else { "   <-- unexpected" }
    );

    if wrong == 0 {
        println!("\nall outcomes as in the status table");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\n{wrong} outcome(s) differ from the status table");
        Ok(ExitCode::FAILURE)
    }
}
