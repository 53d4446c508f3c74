//! `WebhookLayer` in front of an axum app: every row of the status table,
//! through `tower::ServiceExt::oneshot`.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use common::{DownStore, EVENT, Handled, app, event_with, send};
use gemini_webhooks::GeminiEvent;
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::tower::WebhookLayer;
use http::HeaderMap;
use tower::ServiceExt;

struct Fixture {
    secret: String,
    handled: Handled,
    app: axum::Router,
}

fn fixture() -> Fixture {
    fixture_with(|layer| layer)
}

fn fixture_with(configure: impl FnOnce(WebhookLayer) -> WebhookLayer) -> Fixture {
    let secret = generate_secret();
    let verifier = common::verifier(&secret);
    let handled = Handled::default();
    let app = app(handled.clone()).layer(configure(WebhookLayer::new(verifier)));
    Fixture {
        secret,
        handled,
        app,
    }
}

fn request(headers: &HeaderMap, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post("/webhooks/gemini").body(body.into()).unwrap();
    request.headers_mut().extend(headers.clone());
    request
}

impl Fixture {
    fn sign(&self, id: &str, body: &str) -> HeaderMap {
        Signer::hmac(&self.secret)
            .unwrap()
            .id(id)
            .sign(body.as_bytes())
    }
}

#[tokio::test]
async fn new_delivery_runs_the_handler_and_a_retry_gets_200_without_it() {
    let f = fixture();
    let headers = f.sign("msg_new", EVENT);
    assert_eq!(send(&f.app, &headers, EVENT).await.0, StatusCode::OK);
    assert_eq!(f.handled.runs("msg_new"), 1);

    // A retry keeps the id and is signed anew with a new timestamp.
    let retry = f.sign("msg_new", EVENT);
    let (status, text) = send(&f.app, &retry, EVENT).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "already handled");
    assert_eq!(f.handled.runs("msg_new"), 1);
}

#[tokio::test]
async fn handled_ids_are_remembered_for_the_stores_dedup_ttl() {
    let store = gemini_webhooks::replay::MemoryReplayStore::builder()
        .dedup_ttl(Duration::from_secs(1))
        .build();
    let f = fixture_with(|layer| layer.replay_store(store));
    let headers = f.sign("msg_ttl", EVENT);
    assert_eq!(send(&f.app, &headers, EVENT).await.0, StatusCode::OK);
    assert_eq!(
        send(&f.app, &f.sign("msg_ttl", EVENT), EVENT).await.1,
        "already handled"
    );
    // Once the store's TTL has passed (on moka's clock, real time), the
    // receiver committed with it: the id is new again.
    tokio::time::sleep(Duration::from_millis(1_250)).await;
    assert_eq!(
        send(&f.app, &f.sign("msg_ttl", EVENT), EVENT).await.0,
        StatusCode::OK
    );
    assert_eq!(f.handled.runs("msg_ttl"), 2);
}

#[tokio::test]
async fn a_copy_arriving_while_the_first_runs_gets_409() {
    let f = fixture();
    let body = event_with(r#""hold": true"#);
    let headers = f.sign("msg_held", &body);
    let first = tokio::spawn({
        let (app, headers, body) = (f.app.clone(), headers.clone(), body.clone());
        async move { send(&app, &headers, &body).await }
    });
    f.handled.until_entered().await;

    let (status, text) = send(&f.app, &headers, &body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(text.contains("retry later"), "{text}");

    f.handled.gate.notify_one();
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
    assert_eq!(f.handled.runs("msg_held"), 1);
}

#[tokio::test]
async fn malformed_headers_get_400_and_bad_signatures_401() {
    let f = fixture();
    let good = f.sign("msg_h", EVENT);

    let mut missing = good.clone();
    missing.remove("webhook-timestamp");
    let (status, text) = send(&f.app, &missing, EVENT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(text, "missing header `webhook-timestamp`");

    let mut garbled = good.clone();
    garbled.insert("webhook-timestamp", "12:00".parse().unwrap());
    assert_eq!(
        send(&f.app, &garbled, EVENT).await.0,
        StatusCode::BAD_REQUEST
    );

    let (status, text) = send(&f.app, &good, &EVENT.replace("batches/1", "batches/2")).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::UNAUTHORIZED, "no matching signature")
    );

    let stale = Signer::hmac(&f.secret)
        .unwrap()
        .timestamp(std::time::SystemTime::now() - Duration::from_secs(3600))
        .sign(EVENT.as_bytes());
    let (status, text) = send(&f.app, &stale, EVENT).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::UNAUTHORIZED, "timestamp too old")
    );

    let other_secret = Signer::hmac(&generate_secret())
        .unwrap()
        .sign(EVENT.as_bytes());
    let (status, text) = send(&f.app, &other_secret, EVENT).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        !text.contains(&f.secret[6..]) && !text.contains("batches"),
        "{text}"
    );
    assert_eq!(f.handled.total(), 0);
}

#[tokio::test]
async fn oversized_bodies_get_413_announced_or_not() {
    let f = fixture_with(|layer| layer.body_limit(1024));
    let body = "x".repeat(2048);
    let headers = f.sign("msg_big", &body);

    // Announced by Content-Length: refused before reading.
    let mut announced = request(&headers, body.clone());
    announced
        .headers_mut()
        .insert("content-length", body.len().into());
    let response = f.app.clone().oneshot(announced).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Not announced (chunked): reading stops at the limit; the rest of the
    // stream is never pulled.
    let pulled = Arc::new(AtomicUsize::new(0));
    let chunks = (0..64).map({
        let pulled = Arc::clone(&pulled);
        move |_| {
            pulled.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 256]))
        }
    });
    let stream = Body::from_stream(futures_lite_stream(chunks));
    let response = f
        .app
        .clone()
        .oneshot(request(&headers, stream))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        pulled.load(Ordering::SeqCst) <= 5,
        "pulled {} chunks of 256 B",
        pulled.load(Ordering::SeqCst)
    );
    assert_eq!(f.handled.total(), 0);
}

/// A `Stream` over an iterator, without pulling in a stream crate.
fn futures_lite_stream<I: Iterator + Unpin>(iter: I) -> IterStream<I> {
    IterStream(iter)
}

struct IterStream<I>(I);

impl<I: Iterator + Unpin> futures_core::Stream for IterStream<I> {
    type Item = I::Item;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}

#[tokio::test]
async fn a_body_that_stops_early_gets_400() {
    let f = fixture();
    let headers = f.sign("msg_cut", EVENT);
    let chunks = vec![
        Ok(Bytes::from_static(b"{\"type\":")),
        Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "peer went away",
        )),
    ];
    let body = Body::from_stream(futures_lite_stream(chunks.into_iter()));
    let response = f
        .app
        .clone()
        .oneshot(request(&headers, body))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_unreachable_store_gets_503_and_no_handler_run() {
    let secret = generate_secret();
    let verifier = common::verifier(&secret);
    let handled = Handled::default();
    let app = app(handled.clone()).layer(WebhookLayer::new(verifier).replay_store(DownStore));
    let headers = Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes());
    let (status, text) = send(&app, &headers, EVENT).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!text.contains("connection refused"), "{text}");
    assert_eq!(handled.total(), 0);
}

#[tokio::test]
async fn a_failed_handler_releases_so_the_retry_runs() {
    let f = fixture();
    let body = event_with(r#""fail_once": true"#);
    assert_eq!(
        send(&f.app, &f.sign("msg_fail", &body), &body).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        send(&f.app, &f.sign("msg_fail", &body), &body).await.0,
        StatusCode::OK
    );
    assert_eq!(f.handled.runs("msg_fail"), 2);
    // And now it is done.
    assert_eq!(
        send(&f.app, &f.sign("msg_fail", &body), &body).await.0,
        StatusCode::OK
    );
    assert_eq!(f.handled.runs("msg_fail"), 2);
}

/// Retries `id` until it is no longer in flight (the release runs as a
/// task), a bounded number of times; returns the final status.
async fn retry_until_released(f: &Fixture, id: &str, body: &str) -> StatusCode {
    for _ in 0..1000 {
        let status = send(&f.app, &f.sign(id, body), body).await.0;
        if status != StatusCode::CONFLICT {
            return status;
        }
        tokio::task::yield_now().await;
    }
    StatusCode::CONFLICT
}

#[tokio::test]
async fn a_panicking_handler_releases_so_the_retry_runs() {
    let f = fixture();
    let body = event_with(r#""panic": true"#);
    let headers = f.sign("msg_panic", &body);
    let attempt = tokio::spawn({
        let (app, body) = (f.app.clone(), body.clone());
        async move { send(&app, &headers, &body).await }
    });
    assert!(attempt.await.unwrap_err().is_panic());
    assert_eq!(f.handled.runs("msg_panic"), 1);

    // The retry is processed (and panics again: the handler ran a second time).
    let retry = tokio::spawn({
        let (app, headers, body) = (f.app.clone(), f.sign("msg_panic", &body), body.clone());
        async move {
            // Bounded: a claim that is never released fails the test.
            for _ in 0..1000 {
                let (status, _) = send(&app, &headers, &body).await;
                if status != StatusCode::CONFLICT {
                    return status;
                }
                tokio::task::yield_now().await;
            }
            StatusCode::CONFLICT
        }
    });
    assert!(retry.await.unwrap_err().is_panic());
    assert_eq!(f.handled.runs("msg_panic"), 2);
}

#[tokio::test]
async fn a_dropped_request_releases_so_the_retry_runs() {
    let f = fixture();
    let body = event_with(r#""hold": true"#);
    let headers = f.sign("msg_drop", &body);
    let attempt = tokio::spawn({
        let (app, body) = (f.app.clone(), body.clone());
        async move { send(&app, &headers, &body).await }
    });
    f.handled.until_entered().await;
    attempt.abort(); // the client went away mid-handler
    assert!(attempt.await.unwrap_err().is_cancelled());

    let plain = EVENT.to_owned();
    assert_eq!(
        retry_until_released(&f, "msg_drop", &plain).await,
        StatusCode::OK
    );
    assert_eq!(f.handled.runs("msg_drop"), 2);
}

#[tokio::test]
async fn extractors_reject_bodies_that_do_not_parse_with_422() {
    use axum::routing::post;
    let secret = generate_secret();
    let verifier = common::verifier(&secret);
    let app = axum::Router::new()
        .route(
            "/webhooks/gemini",
            post(|event: GeminiEvent| async move { event.event_type().to_owned() }),
        )
        .layer(WebhookLayer::new(verifier));
    let body = r#"{"type":"batch.failed","timestamp":"2026-11-26T00:00:00Z","data":{"id":7}}"#;
    let headers = Signer::hmac(&secret).unwrap().sign(body.as_bytes());
    let (status, text) = send(&app, &headers, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text,
        "invalid event body at `data.id`: unexpected type or value"
    );

    // A 422 is not a success: the claim is released, a fixed sender's retry runs.
    let (status, text) = send(
        &app,
        &Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes()),
        EVENT,
    )
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "batch.succeeded"));
}

#[tokio::test]
async fn a_request_dropped_while_committing_still_releases_its_claim() {
    let secret = generate_secret();
    let store = common::ObservedStore {
        stall_commits: true,
        ..Default::default()
    };
    let app = app(Handled::default())
        .layer(WebhookLayer::new(common::verifier(&secret)).replay_store(store.clone()));
    let headers = Signer::hmac(&secret)
        .unwrap()
        .id("msg_stall")
        .sign(EVENT.as_bytes());
    let attempt = tokio::spawn({
        let (app, headers) = (app.clone(), headers.clone());
        async move { send(&app, &headers, EVENT).await }
    });
    store.committing.notified().await;
    attempt.abort(); // the client goes away while the store stalls
    assert!(attempt.await.unwrap_err().is_cancelled());

    // Bounded: a release that never comes fails the test instead of hanging.
    tokio::time::timeout(Duration::from_secs(10), store.released.notified())
        .await
        .expect("the claim was released");
    assert!(matches!(
        gemini_webhooks::replay::ReplayStore::claim(&*store.inner, "msg_stall")
            .await
            .unwrap(),
        gemini_webhooks::replay::Claim::New(_)
    ));
}

#[tokio::test]
async fn handled_ids_are_committed_for_longer_than_geminis_retries() {
    let store = common::ObservedStore::default();
    let f = fixture();
    let app = app(Handled::default())
        .layer(WebhookLayer::new(common::verifier(&f.secret)).replay_store(store.clone()));
    let headers = f.sign("msg_ttl", EVENT);
    assert_eq!(send(&app, &headers, EVENT).await.0, StatusCode::OK);
    let committed = store.committed_for.lock().unwrap().clone();
    assert_eq!(committed, vec![Duration::from_secs(25 * 3600)]);
    assert!(committed[0] >= Duration::from_secs(24 * 3600));
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_accepted() {
    let f = fixture_with(|layer| layer.body_limit(EVENT.len()));
    assert_eq!(
        f.app
            .clone()
            .oneshot(request(&HeaderMap::new(), ""))
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    let layer = WebhookLayer::new(common::verifier(&f.secret)).body_limit(EVENT.len());
    assert_eq!(layer.receiver().limit(), EVENT.len());
    // Announced and exactly at the limit.
    let headers = f.sign("msg_edge", EVENT);
    let mut announced = request(&headers, EVENT);
    announced
        .headers_mut()
        .insert("content-length", EVENT.len().into());
    let response = f.app.clone().oneshot(announced).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Not announced (streamed) and exactly at the limit.
    let chunks = vec![Ok::<_, std::io::Error>(Bytes::from_static(
        EVENT.as_bytes(),
    ))];
    let streamed = Body::from_stream(futures_lite_stream(chunks.into_iter()));
    let headers = f.sign("msg_edge_streamed", EVENT);
    let response = f
        .app
        .clone()
        .oneshot(request(&headers, streamed))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        f.handled.runs("msg_edge") + f.handled.runs("msg_edge_streamed"),
        2
    );
    // One byte more is refused.
    let longer = format!("{EVENT} ");
    let headers = f.sign("msg_edge_over", &longer);
    assert_eq!(
        send(&f.app, &headers, &longer).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn on_the_webhook_route_only_the_layer_leaves_other_routes_alone() {
    use axum::routing::{get, post};
    let secret = generate_secret();
    let app: axum::Router = axum::Router::new()
        .route(
            "/webhooks/gemini",
            post(|| async { StatusCode::OK })
                .route_layer(WebhookLayer::new(common::verifier(&secret))),
        )
        .route("/health", get(|| async { "ok" }));
    let call = |method: &str, uri: &str, headers: HeaderMap| {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(EVENT))
            .unwrap();
        request.headers_mut().extend(headers);
        app.clone().oneshot(request)
    };
    let status = |response: Result<axum::response::Response, _>| response.unwrap().status();
    assert_eq!(
        status(call("GET", "/health", HeaderMap::new()).await),
        StatusCode::OK
    );
    assert_eq!(
        status(call("GET", "/nowhere", HeaderMap::new()).await),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(call("GET", "/webhooks/gemini", HeaderMap::new()).await),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        status(call("POST", "/webhooks/gemini", HeaderMap::new()).await),
        StatusCode::BAD_REQUEST
    );
    let signed = Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes());
    assert_eq!(
        status(call("POST", "/webhooks/gemini", signed).await),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_handler_can_take_the_delivery_and_the_typed_event_together() {
    use axum::Extension;
    use axum::routing::post;
    let secret = generate_secret();
    async fn both(
        Extension(delivery): Extension<gemini_webhooks::Delivery>,
        event: GeminiEvent,
    ) -> String {
        format!("{} {}", delivery.id(), event.event_type())
    }
    let app: axum::Router = axum::Router::new().route(
        "/webhooks/gemini",
        post(both).route_layer(WebhookLayer::new(common::verifier(&secret))),
    );
    let headers = Signer::hmac(&secret)
        .unwrap()
        .id("msg_both")
        .sign(EVENT.as_bytes());
    let (status, text) = send(&app, &headers, EVENT).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "msg_both batch.succeeded")
    );
}

#[tokio::test]
async fn an_announced_length_under_the_limit_is_read_and_the_default_limit_is_256_kib() {
    assert_eq!(gemini_webhooks::receiver::DEFAULT_BODY_LIMIT, 256 * 1024);
    let f = fixture();
    let headers = f.sign("msg_announced", EVENT);
    let mut announced = request(&headers, EVENT);
    announced
        .headers_mut()
        .insert("content-length", EVENT.len().into());
    let response = f.app.clone().oneshot(announced).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(f.handled.runs("msg_announced"), 1);
}

#[tokio::test]
async fn an_admission_shows_its_delivery() {
    let secret = generate_secret();
    let receiver = gemini_webhooks::Receiver::new(common::verifier(&secret));
    let headers = Signer::hmac(&secret)
        .unwrap()
        .id("msg_admitted")
        .sign(EVENT.as_bytes());
    let admission = receiver
        .admit(&headers, Bytes::from_static(EVENT.as_bytes()))
        .await
        .unwrap();
    assert_eq!(admission.delivery().id(), "msg_admitted");
    let shown = format!("{admission:?}");
    assert!(
        shown.starts_with("Admission { delivery: Delivery { id: \"msg_admitted\""),
        "{shown}"
    );
}
