//! Requests through an axum router in a loop, in process, for
//! `valgrind --tool=callgrind`: where the layer's cost per delivery goes,
//! in instructions and allocations, against the same router without it.
//!
//! `cargo build --release -p gemini-webhooks-harness --example pipeline_loop`
//! `valgrind --tool=callgrind target/release/examples/pipeline_loop layered 20000`
//! (`bare` for the router reading `Bytes` without the layer).

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use gemini_webhooks::testing::{Signer, generate_secret, sample_event_of_len};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{GeminiEvent, Verifier};
use tower::ServiceExt;

const BODY_LEN: usize = 1024;

/// A `batch.succeeded` envelope padded to 1 KiB with user metadata.
fn event_body() -> Bytes {
    sample_event_of_len("batch.succeeded", BODY_LEN)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let layered = args.next().as_deref() != Some("bare");
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let router = if layered {
        Router::new().route(
            "/hook",
            post(|event: GeminiEvent| async move {
                if event.resource_id().is_some() {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                }
            })
            .route_layer(WebhookLayer::new(verifier)),
        )
    } else {
        Router::new().route(
            "/hook",
            post(|body: Bytes| async move {
                if body.len() == BODY_LEN {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                }
            }),
        )
    };
    let signer = Signer::hmac(&secret).unwrap();
    let body = event_body();
    // Signed ahead, so signing is not counted.
    let requests: Vec<_> = (0..rounds).map(|_| signer.sign(&body)).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for headers in requests {
            let mut request = Request::post("/hook")
                .body(Body::from(body.clone()))
                .unwrap();
            *request.headers_mut() = headers;
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(black_box(response).status(), StatusCode::OK);
        }
    });
}
