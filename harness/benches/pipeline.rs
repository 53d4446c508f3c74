//! Where a delivery's time goes: each stage of the receiving pipeline alone
//! (header checks, verification, the replay store's claim and commit, event
//! parsing), then the whole `Receiver`, then an axum router with
//! `WebhookLayer` and a `GeminiEvent` handler against the same router with a
//! `Bytes` handler and no layer (in process, no sockets). 1 KiB events,
//! every id new.
//!
//! Run: `cargo bench -p gemini-webhooks-harness --bench pipeline`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use gemini_webhooks::replay::{Claim, MemoryReplayStore, ReplayStore};
use gemini_webhooks::testing::{Signer, generate_secret, sample_event_of_len};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{GeminiEvent, Receiver, Verifier};
use http::HeaderMap;
use tower::ServiceExt;

const BODY_LEN: usize = 1024;

/// A `batch.succeeded` envelope padded to 1 KiB with user metadata.
fn event_body() -> Bytes {
    sample_event_of_len("batch.succeeded", BODY_LEN)
}

/// `n` deliveries of `body`, each with a new id, signed ahead of timing.
fn signed(signer: &Signer, body: &Bytes, n: u64) -> Vec<HeaderMap> {
    (0..n).map(|_| signer.sign(body)).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn stages(c: &mut Criterion) {
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let signer = Signer::hmac(&secret).unwrap();
    let body = event_body();
    let headers = signer.sign(&body);
    let rt = runtime();

    let mut group = c.benchmark_group("delivery-1KiB");
    group.bench_function("check_headers", |b| {
        b.iter(|| verifier.check_headers(black_box(&headers)).unwrap())
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&headers), black_box(&body))
                .unwrap()
        })
    });
    let delivery = verifier.verify(&headers, &body).unwrap();
    group.bench_function("event_parse", |b| {
        b.iter(|| black_box(&delivery).event().unwrap())
    });
    group.bench_function("memory_claim_commit", |b| {
        let store = MemoryReplayStore::new();
        let ids: Vec<String> = (0..2_000_000).map(|i| format!("msg_{i:027}")).collect();
        let mut next = 0;
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let id = &ids[next % ids.len()];
                    next += 1;
                    if let Claim::New(token) = store.claim(id).await.unwrap() {
                        store
                            .commit(id, &token, Duration::from_secs(90_000))
                            .await
                            .unwrap();
                    }
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("receiver_receive", |b| {
        let receiver = Receiver::new(verifier.clone());
        b.iter_custom(|iters| {
            let deliveries = signed(&signer, &body, iters);
            rt.block_on(async {
                let start = Instant::now();
                for headers in &deliveries {
                    let status = receiver
                        .receive(headers, body.clone(), |_| async { 200u16 }, |s| *s == 200)
                        .await
                        .unwrap();
                    black_box(status);
                }
                start.elapsed()
            })
        })
    });

    async fn bare(body: Bytes) -> StatusCode {
        if body.len() == BODY_LEN {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        }
    }
    async fn typed(event: GeminiEvent) -> StatusCode {
        if event.resource_id().is_some() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        }
    }
    let routers = [
        (
            "router_bare_bytes",
            Router::new().route("/hook", post(bare)),
        ),
        (
            "router_layer_bytes",
            Router::new().route(
                "/hook",
                post(bare).route_layer(WebhookLayer::new(verifier.clone())),
            ),
        ),
        (
            "router_layer_typed_event",
            Router::new().route(
                "/hook",
                post(typed).route_layer(WebhookLayer::new(verifier.clone())),
            ),
        ),
    ];
    for (name, router) in routers {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let deliveries = signed(&signer, &body, iters);
                rt.block_on(async {
                    let start = Instant::now();
                    for headers in deliveries {
                        let mut request = Request::post("/hook")
                            .body(Body::from(body.clone()))
                            .unwrap();
                        *request.headers_mut() = headers;
                        let response = router.clone().oneshot(request).await.unwrap();
                        assert_eq!(response.status(), StatusCode::OK);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
