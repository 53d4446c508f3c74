//! What a receiver decides before it reads a body, and what an unverified
//! request may hold meanwhile: stale or unsigned requests are answered
//! without polling the body (tower and actix-web), an unauthenticated body
//! that never ends holds no permit of the inner service and gets 408 at the
//! body deadline, reads beyond the limit get 503 unread, a handler slower
//! than the in-flight TTL keeps its claim through a stalled store, and a
//! handler whose claim cannot be held is stopped (503) before it lapses.
//!
//! Every wait is bounded with Tokio's paused clock: a regression fails with
//! a message instead of hanging, and nothing depends on the machine's speed.

use crate::common;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use common::{EVENT, Handled, app, event_with};
use gemini_webhooks::replay::MemoryReplayStore;
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::tower::WebhookLayer;
use http::HeaderMap;
use tokio::sync::Notify;
use tower::ServiceExt;

/// A body that never yields a byte, and remembers whether it was polled.
#[derive(Clone, Default)]
struct NeverEnding {
    polled: Arc<AtomicBool>,
    first_poll: Arc<Notify>,
}

impl NeverEnding {
    fn was_polled(&self) -> bool {
        self.polled.load(Ordering::SeqCst)
    }

    fn note_poll(&self) {
        if !self.polled.swap(true, Ordering::SeqCst) {
            self.first_poll.notify_one();
        }
    }
}

impl http_body::Body for NeverEnding {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.note_poll();
        Poll::Pending
    }
}

#[cfg(feature = "actix")]
impl futures_core::Stream for NeverEnding {
    type Item = Result<Bytes, actix_web::error::PayloadError>;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.note_poll();
        Poll::Pending
    }
}

/// An actix-web test request to the webhook route with `headers` and a
/// body that never ends (a macro: `actix_http::Request` cannot be named
/// here).
#[cfg(feature = "actix")]
macro_rules! actix_request {
    ($headers:expr, $body:expr) => {{
        let mut builder = actix_web::test::TestRequest::post().uri("/webhooks/gemini");
        for (header, value) in $headers {
            builder = builder.insert_header((header.as_str(), value.as_bytes()));
        }
        let payload: Pin<
            Box<dyn futures_core::Stream<Item = Result<Bytes, actix_web::error::PayloadError>>>,
        > = Box::pin($body);
        builder
            .to_request()
            .replace_payload(actix_web::dev::Payload::from(payload))
            .0
    }};
}

/// Long enough for anything that does not wait on the body; with the
/// clock paused it passes only once every task is idle.
const BOUND: Duration = Duration::from_secs(600);

fn request(headers: &HeaderMap, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post("/webhooks/gemini").body(body.into()).unwrap();
    request.headers_mut().extend(headers.clone());
    request
}

fn stale(secret: &str) -> HeaderMap {
    Signer::hmac(secret)
        .unwrap()
        .timestamp(SystemTime::now() - Duration::from_secs(3600))
        .sign(EVENT.as_bytes())
}

#[tokio::test(start_paused = true)]
async fn tower_answers_stale_and_unsigned_requests_without_reading_the_body() {
    let secret = generate_secret();
    let app = app(Handled::default()).layer(WebhookLayer::new(common::verifier(&secret)));
    let unsigned = HeaderMap::new();
    let v1a_only = {
        let mut headers = Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes());
        let entry = Signer::ed25519(&gemini_webhooks::testing::generate_ed25519_key().private_key)
            .unwrap()
            .signature("msg", 1, b"");
        headers.insert("webhook-signature", entry.parse().unwrap());
        headers
    };
    for (name, headers, status, text) in [
        ("stale", stale(&secret), 401, "timestamp too old"),
        ("unsigned", unsigned, 400, "missing header `webhook-id`"),
        ("no usable entry", v1a_only, 401, "no matching signature"),
    ] {
        let body = NeverEnding::default();
        let response = tokio::time::timeout(
            BOUND,
            app.clone()
                .oneshot(request(&headers, Body::new(body.clone()))),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: waited for a body that never ends"))
        .unwrap();
        assert_eq!(response.status(), status, "{name}");
        let text_seen = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(text_seen, text, "{name}");
        assert!(!body.was_polled(), "{name}: the body was polled");
    }

    // The control: a fresh, well-formed request does read its body, until
    // the body deadline.
    let body = NeverEnding::default();
    let fresh = Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes());
    let waited =
        tokio::time::timeout(BOUND, app.oneshot(request(&fresh, Body::new(body.clone())))).await;
    assert_eq!(
        waited
            .expect("answered at the body deadline")
            .unwrap()
            .status(),
        StatusCode::REQUEST_TIMEOUT,
        "a fresh request is answered only after its body, or its deadline"
    );
    assert!(body.was_polled());
}

#[tokio::test(start_paused = true)]
async fn standalone_extractors_answer_stale_requests_without_reading_the_body() {
    let secret = generate_secret();
    let app: axum::Router = axum::Router::new()
        .route(
            "/webhooks/gemini",
            axum::routing::post(|delivery: gemini_webhooks::Delivery| async move {
                delivery.id().to_owned()
            }),
        )
        .layer(axum::Extension(common::verifier(&secret)));
    let body = NeverEnding::default();
    let response = tokio::time::timeout(
        BOUND,
        app.oneshot(request(&stale(&secret), Body::new(body.clone()))),
    )
    .await
    .expect("waited for a body that never ends")
    .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!body.was_polled());
}

/// A held handler behind a store with 3 s claims, its delivery's id and
/// body, and the router.
fn held_behind(
    store: &common::ObservedStore,
    handled: &Handled,
    id: &str,
) -> (axum::Router, HeaderMap, String) {
    let secret = generate_secret();
    let app = app(handled.clone())
        .layer(WebhookLayer::new(common::verifier(&secret)).replay_store(store.clone()));
    let body = event_with(r#""hold": true"#);
    let headers = Signer::hmac(&secret).unwrap().id(id).sign(body.as_bytes());
    (app, headers, body)
}

/// The answer of a request spawned as a task, within the bound.
async fn answer_of(
    request: tokio::task::JoinHandle<Result<axum::response::Response, std::convert::Infallible>>,
) -> axum::response::Response {
    tokio::time::timeout(BOUND, request)
        .await
        .expect("answered within the bound")
        .unwrap()
        .unwrap()
}

fn store_with_3s_claims() -> common::ObservedStore {
    common::ObservedStore {
        inner: Arc::new(
            MemoryReplayStore::builder()
                .in_flight_ttl(Duration::from_secs(3))
                .build(),
        ),
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_claim_is_kept_through_a_stall_and_a_retry_meanwhile_runs_no_twin() {
    let handled = Handled::default();
    let store = store_with_3s_claims();
    // The extension at 1 s fails (the store stalled); the one at 2 s lands.
    store.failing_extensions.store(1, Ordering::SeqCst);
    let (app, headers, body) = held_behind(&store, &handled, "msg_stall");
    let first = tokio::spawn(app.clone().oneshot(request(&headers, body.clone())));
    handled.until_entered().await;
    // Gemini's retry at 5 s, while the first handler still runs (9 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let retry = tokio::time::timeout(BOUND, app.oneshot(request(&headers, body)))
        .await
        .expect("the retry was answered")
        .unwrap();
    assert_eq!(retry.status(), StatusCode::CONFLICT, "in flight, no twin");
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    handled.gate.notify_one();
    let response = tokio::time::timeout(BOUND, first)
        .await
        .expect("the handler finished")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(handled.runs("msg_stall"), 1);
    // Ticks at 1, 2, …, 8 s (the handler ends at 8.5 s): one failure,
    // then every one landed.
    assert_eq!(store.extensions.load(Ordering::SeqCst), 8);
}

#[tokio::test(start_paused = true)]
async fn a_claim_no_extension_holds_stops_the_handler_with_503_before_it_lapses() {
    let handled = Handled::default();
    let store = store_with_3s_claims();
    store.failing_extensions.store(usize::MAX, Ordering::SeqCst);
    let (app, headers, body) = held_behind(&store, &handled, "msg_unreachable");
    let started = tokio::time::Instant::now();
    let first = tokio::spawn(app.clone().oneshot(request(&headers, body.clone())));
    handled.until_entered().await;
    let response = answer_of(first).await;
    // Given up a sixth of the TTL before the claim lapses (3 s), after
    // the two ticks at 1 s and 2 s failed.
    assert_eq!(started.elapsed(), Duration::from_millis(2_500));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
    assert_eq!(store.extensions.load(Ordering::SeqCst), 2);
    assert_eq!(
        handled.completed("msg_unreachable"),
        0,
        "dropped unfinished"
    );
    // The claim was released: the retry runs the handler, alone.
    store.failing_extensions.store(0, Ordering::SeqCst);
    let retry = tokio::spawn(app.oneshot(request(&headers, body)));
    handled.until_entered().await;
    handled.gate.notify_one();
    let retried = answer_of(retry).await;
    assert_eq!(retried.status(), StatusCode::OK);
    assert_eq!(handled.runs("msg_unreachable"), 2);
    assert_eq!(handled.completed("msg_unreachable"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_claim_the_store_says_is_gone_stops_the_handler_at_once() {
    let handled = Handled::default();
    let store = common::ObservedStore {
        lose_claims: true,
        ..store_with_3s_claims()
    };
    let (app, headers, body) = held_behind(&store, &handled, "msg_taken");
    let started = tokio::time::Instant::now();
    let first = tokio::spawn(app.oneshot(request(&headers, body)));
    handled.until_entered().await;
    let response = answer_of(first).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1),
        "at the first tick"
    );
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
    assert_eq!(handled.completed("msg_taken"), 0);
}

#[cfg(feature = "actix")]
#[test]
fn actix_answers_stale_and_unsigned_requests_without_reading_the_body() {
    common::on_actix(async {
        use actix_web::{App, web};
        use gemini_webhooks::actix::GeminiWebhooks;

        let secret = generate_secret();
        let middleware = GeminiWebhooks::new(common::verifier(&secret));
        let service = actix_web::test::init_service(
            App::new().service(
                web::resource("/webhooks/gemini")
                    .wrap(middleware)
                    .route(web::post().to(|| async { "handled" })),
            ),
        )
        .await;
        for (name, headers, status) in [
            ("stale", stale(&secret), 401),
            ("unsigned", HeaderMap::new(), 400),
        ] {
            let body = NeverEnding::default();
            let request = actix_request!(&headers, body.clone());
            // actix-web's test runtime has no paused clock; the bound only
            // turns a regression into a failure instead of a hang.
            let response = tokio::time::timeout(
                Duration::from_secs(60),
                actix_web::test::call_service(&service, request),
            )
            .await
            .unwrap_or_else(|_| panic!("{name}: waited for a body that never ends"));
            assert_eq!(response.status().as_u16(), status, "{name}");
            assert!(!body.was_polled(), "{name}: the body was polled");
        }
    })
}

#[tokio::test(start_paused = true)]
async fn an_unauthenticated_body_that_never_ends_holds_no_inner_permit() {
    use tower::limit::ConcurrencyLimitLayer;
    let secret = generate_secret();
    let handled = Handled::default();
    // At most one request inside the app at a time.
    let service = tower::ServiceBuilder::new()
        .layer(WebhookLayer::new(common::verifier(&secret)))
        .layer(ConcurrencyLimitLayer::new(1))
        .service(app(handled.clone()));

    // Well-formed headers (so it passes the header checks), a body that
    // never comes: the attacker's slow request.
    let trickle = NeverEnding::default();
    let headers = Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes());
    let stuck = tokio::spawn(
        service
            .clone()
            .oneshot(request(&headers, Body::new(trickle.clone()))),
    );
    trickle.first_poll.notified().await;

    let genuine = Signer::hmac(&secret)
        .unwrap()
        .id("msg_genuine")
        .sign(EVENT.as_bytes());
    let response = tokio::time::timeout(BOUND, service.oneshot(request(&genuine, EVENT)))
        .await
        .expect("the genuine delivery waited behind an unauthenticated body")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(handled.runs("msg_genuine"), 1);
    assert!(!stuck.is_finished());
    stuck.abort();
}

#[tokio::test(start_paused = true)]
async fn a_handler_slower_than_the_in_flight_ttl_keeps_its_claim() {
    let secret = generate_secret();
    let handled = Handled::default();
    let store = MemoryReplayStore::builder()
        .in_flight_ttl(Duration::from_secs(30))
        .build();
    let app = app(handled.clone())
        .layer(WebhookLayer::new(common::verifier(&secret)).replay_store(store));
    let body = event_with(r#""hold": true"#);
    let headers = Signer::hmac(&secret)
        .unwrap()
        .id("msg_slow")
        .sign(body.as_bytes());

    let first = tokio::spawn(app.clone().oneshot(request(&headers, body.clone())));
    handled.until_entered().await;
    // Ten in-flight TTLs later the handler still runs...
    tokio::time::sleep(Duration::from_secs(300)).await;
    // ...and a copy is told to come back later, not run beside it.
    let twin = tokio::time::timeout(BOUND, app.clone().oneshot(request(&headers, body.clone())))
        .await
        .expect("the copy ran a twin handler (the claim lapsed)")
        .unwrap();
    assert_eq!(twin.status(), StatusCode::CONFLICT);

    handled.gate.notify_one();
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(handled.runs("msg_slow"), 1);
    let retry = app.oneshot(request(&headers, body)).await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(handled.runs("msg_slow"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_trickled_body_gets_408_at_the_deadline_and_reads_beyond_the_limit_get_503() {
    let secret = generate_secret();
    let handled = Handled::default();
    let service = tower::ServiceBuilder::new()
        .layer(WebhookLayer::new(common::verifier(&secret)).max_body_reads(1))
        .service(app(handled.clone()));
    // Headers anyone can forge without the secret: fresh, and a `v1` entry.
    let forged = Signer::hmac(&generate_secret())
        .unwrap()
        .sign(EVENT.as_bytes());
    let trickle = NeverEnding::default();
    let started = tokio::time::Instant::now();
    let stuck = tokio::spawn(
        service
            .clone()
            .oneshot(request(&forged, Body::new(trickle.clone()))),
    );
    trickle.first_poll.notified().await;

    // The one read allowed is taken: the next request is turned away
    // before a byte of its body is read.
    let second = NeverEnding::default();
    let genuine = Signer::hmac(&secret)
        .unwrap()
        .id("msg_genuine")
        .sign(EVENT.as_bytes());
    let response = tokio::time::timeout(
        BOUND,
        service
            .clone()
            .oneshot(request(&genuine, Body::new(second.clone()))),
    )
    .await
    .expect("a request beyond the read limit waited")
    .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(!second.was_polled());

    let response = tokio::time::timeout(BOUND, stuck)
        .await
        .expect("the trickled body was waited for beyond its deadline")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(10),
        "the default deadline"
    );

    // The read is free again: Gemini's retry gets through.
    let response = service.oneshot(request(&genuine, EVENT)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(handled.runs("msg_genuine"), 1);
}

#[cfg(feature = "actix")]
#[test]
fn actix_answers_a_trickled_body_with_408_at_the_deadline() {
    common::on_actix(async {
        use actix_web::{App, web};
        use gemini_webhooks::actix::GeminiWebhooks;

        let secret = generate_secret();
        let middleware =
            GeminiWebhooks::new(common::verifier(&secret)).body_timeout(Duration::from_millis(100));
        let service = actix_web::test::init_service(
            App::new().service(
                web::resource("/webhooks/gemini")
                    .wrap(middleware)
                    .route(web::post().to(|| async { "handled" })),
            ),
        )
        .await;
        let headers = Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes());
        let request = actix_request!(&headers, NeverEnding::default());
        let response = tokio::time::timeout(
            Duration::from_secs(60),
            actix_web::test::call_service(&service, request),
        )
        .await
        .expect("waited beyond the body deadline");
        assert_eq!(response.status().as_u16(), 408);
    })
}

/// A store whose claims never lapse (`Duration::MAX`) needs no extension:
/// the handler runs to its end, with no overflow on the way.
#[tokio::test(start_paused = true)]
async fn a_claim_that_never_lapses_is_never_extended() {
    let handled = Handled::default();
    let store = common::ObservedStore {
        inner: Arc::new(
            MemoryReplayStore::builder()
                .in_flight_ttl(Duration::MAX)
                .build(),
        ),
        ..Default::default()
    };
    let (app, headers, body) = held_behind(&store, &handled, "msg_forever");
    let first = tokio::spawn(app.oneshot(request(&headers, body)));
    handled.until_entered().await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    handled.gate.notify_one();
    assert_eq!(answer_of(first).await.status(), StatusCode::OK);
    assert_eq!(store.extensions.load(Ordering::SeqCst), 0);
}
