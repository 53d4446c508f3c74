//! What the webhook layer adds to a Lambda invocation: an API Gateway v2
//! event (JSON, as Lambda hands it over, 1 KiB body) parsed by
//! `lambda_http`, served, and its answer turned back into Lambda's
//! response — by a bare `lambda_http` function (`service_fn` answering
//! "ok"), by the axum router of `examples/lambda.rs` without the layer, and
//! with `WebhookLayer` (in-memory replay store: the layer's own cost; a
//! shared store adds its round trips, see "Replay stores" in
//! BENCHMARKS.md). The body plain and base64-encoded. Every id new.
//!
//! Run: `cargo bench -p gemini-webhooks-harness --bench lambda`.

use std::convert::Infallible;
use std::time::Instant;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use gemini_webhooks::testing::{Signer, generate_secret, sample_event_of_len};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{Delivery, Verifier};
use lambda_http::{IntoResponse, Service, service_fn};
use serde_json::Value;
use tower::ServiceExt as _;

const BODY_LEN: usize = 1024;

#[path = "../../tests/common/lambda_event.rs"]
mod lambda_event;

/// The API Gateway v2 fixture carrying `body`, signed by `signer`.
fn event(template: &Value, signer: &Signer, body: &Bytes, base64: bool) -> String {
    lambda_event::with_delivery(template, &signer.sign(body), body, base64).to_string()
}

async fn handle(delivery: Delivery) -> StatusCode {
    if delivery.body().len() == BODY_LEN {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

async fn bare_handle(body: Bytes) -> StatusCode {
    if body.len() == BODY_LEN {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// One invocation as `lambda_http::run` performs it, minus the Runtime
/// API's HTTP: parse the event, call the service, convert the answer.
async fn invoke<S, R>(service: &mut S, event: &str) -> u16
where
    S: Service<lambda_http::Request, Response = R, Error = Infallible>,
    R: IntoResponse,
{
    let request = lambda_http::request::from_str(event).unwrap();
    let response = service.call(request).await.unwrap();
    response.into_response().await.status().as_u16()
}

fn invocations(c: &mut Criterion) {
    let template = lambda_event::fixture("apigw_v2");
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let signer = Signer::hmac(&secret).unwrap();
    let body = sample_event_of_len("batch.succeeded", BODY_LEN);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("lambda-apigw-v2-1KiB");
    for base64 in [false, true] {
        let encoding = if base64 { "base64" } else { "text" };
        group.bench_function(format!("bare_service_fn/{encoding}"), |b| {
            b.iter_custom(|iters| {
                let events: Vec<String> = (0..iters)
                    .map(|_| event(&template, &signer, &body, base64))
                    .collect();
                let mut bare = service_fn(|_request: lambda_http::Request| async {
                    Ok::<_, Infallible>("ok")
                });
                rt.block_on(async {
                    let start = Instant::now();
                    for event in &events {
                        assert_eq!(invoke(&mut bare, event).await, 200);
                    }
                    start.elapsed()
                })
            })
        });
        let routers = [
            (
                "router_no_layer",
                Router::new().route("/webhooks/gemini", post(bare_handle)),
            ),
            (
                "router_webhook_layer",
                Router::new().route(
                    "/webhooks/gemini",
                    post(handle).route_layer(WebhookLayer::new(verifier.clone())),
                ),
            ),
        ];
        for (name, router) in routers {
            group.bench_function(format!("{name}/{encoding}"), |b| {
                b.iter_custom(|iters| {
                    let events: Vec<String> = (0..iters)
                        .map(|_| event(&template, &signer, &body, base64))
                        .collect();
                    let mut service = router.clone().into_service::<lambda_http::Body>();
                    rt.block_on(async {
                        let start = Instant::now();
                        for event in &events {
                            service.ready().await.unwrap();
                            assert_eq!(invoke(&mut service, event).await, 200);
                        }
                        start.elapsed()
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, invocations);
criterion_main!(benches);
