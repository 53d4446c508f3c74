//! Benchmark: requests/s of three axum apps on 1 KiB event bodies, 64
//! concurrent keep-alive connections on loopback, in one run:
//!
//! - `bare`: reads `Bytes`, verifies nothing (the ceiling);
//! - `reference`: what a team writes without this crate, an axum handler
//!   on the Standard Webhooks reference crate (`standardwebhooks`), a
//!   `serde_json::Value` parse and a moka cache of handled ids;
//! - `layered`: `WebhookLayer` and a handler taking `GeminiEvent`.
//!
//! `cargo run --release -p gemini-webhooks-harness --example layer_throughput [requests-per-round]`
//!
//! Every request carries a fresh webhook id, so both receivers verify,
//! check and record each one (the slow path, not the duplicate shortcut).
//! Rounds alternate the apps to spread the machine's noise over all three.

#[path = "../../examples/common/client.rs"]
#[allow(dead_code)] // shared with the crate's examples; this one posts only
mod client;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use gemini_webhooks::testing::{Signer, generate_secret, sample_event_of_len};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{GeminiEvent, Verifier};
use http::HeaderMap;

const CONNECTIONS: usize = 64;

/// The bare app reads the raw body, as a hand-rolled receiver would.
async fn bare_handler(body: Bytes) -> StatusCode {
    if body.len() == BODY_LEN {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// The reference app: verify with the reference crate, skip a seen id,
/// parse, remember the id.
async fn reference_handler(
    axum::extract::State(state): axum::extract::State<Arc<Reference>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if state.webhook.verify(&body, &headers).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) else {
        return StatusCode::BAD_REQUEST;
    };
    if state.handled.contains_key(id) {
        return StatusCode::OK;
    }
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::UNPROCESSABLE_ENTITY;
    };
    if event["data"]["id"] != "batches/123" {
        return StatusCode::BAD_REQUEST;
    }
    state.handled.insert(id.to_owned(), ());
    StatusCode::OK
}

struct Reference {
    webhook: standardwebhooks::Webhook,
    handled: moka::sync::Cache<String, ()>,
}

/// The layered app takes the typed event.
async fn typed_handler(event: GeminiEvent) -> StatusCode {
    if event.resource_id() == Some("batches/123") {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

const BODY_LEN: usize = 1024;

/// A `batch.succeeded` envelope padded to 1 KiB with user metadata.
fn event_body() -> Bytes {
    sample_event_of_len("batch.succeeded", BODY_LEN)
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends every request once over `CONNECTIONS` concurrent workers; returns
/// requests per second.
async fn round(addr: SocketAddr, requests: Arc<Vec<(HeaderMap, Bytes)>>) -> f64 {
    let url = format!("http://{addr}/hook");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (url, requests, next) = (url.clone(), requests.clone(), next.clone());
            tokio::spawn(async move {
                let mut connection = client::Connection::open(&url).await.unwrap();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((headers, body)) = requests.get(i) else {
                        break;
                    };
                    let response = connection
                        .post(&url, headers.clone(), body.clone())
                        .await
                        .unwrap();
                    assert_eq!(response.status, 200);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    requests.len() as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let per_round: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let bare = serve(Router::new().route("/hook", post(bare_handler))).await;
    let reference = serve(
        Router::new()
            .route("/hook", post(reference_handler))
            .with_state(Arc::new(Reference {
                webhook: standardwebhooks::Webhook::new(&secret).unwrap(),
                handled: moka::sync::Cache::builder()
                    .max_capacity(1_000_000)
                    .time_to_live(Duration::from_secs(25 * 3600))
                    .build(),
            })),
    )
    .await;
    let layered = serve(Router::new().route(
        "/hook",
        post(typed_handler).route_layer(WebhookLayer::new(verifier)),
    ))
    .await;

    let signer = Signer::hmac(&secret).unwrap();
    let body = event_body();
    let mut bare_rates = Vec::new();
    let mut reference_rates = Vec::new();
    let mut layered_rates = Vec::new();
    for round_number in 0..5 {
        // Signed just before use, so timestamps stay inside the window.
        let requests: Arc<Vec<_>> = Arc::new(
            (0..per_round)
                .map(|_| (signer.sign(&body), body.clone()))
                .collect(),
        );
        bare_rates.push(round(bare, requests.clone()).await);
        reference_rates.push(round(reference, requests.clone()).await);
        layered_rates.push(round(layered, requests).await);
        println!(
            "round {round_number}: bare {:>8.0} req/s   reference {:>8.0} req/s   layered {:>8.0} req/s",
            bare_rates[round_number], reference_rates[round_number], layered_rates[round_number]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (bare, reference, layered) = (
        median(&mut bare_rates),
        median(&mut reference_rates),
        median(&mut layered_rates),
    );
    println!(
        "median: bare {bare:.0} req/s, reference {reference:.0} req/s, layered {layered:.0} req/s; \
         layered/reference {:.2} (target >= 1.5), layered/bare {:.2}",
        layered / reference,
        layered / bare
    );
}
