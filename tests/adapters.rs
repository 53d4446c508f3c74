//! One table of cases, two adapters: every row of the status table runs
//! against the tower layer (in an axum app) and the actix-web middleware,
//! which must answer the same status with the same text and run the handler
//! the same number of times.

#![cfg(all(feature = "axum", feature = "actix"))]

mod common;

use std::time::{Duration, SystemTime};

use actix_web::{App, web};
use bytes::Bytes;
use common::{DownStore, EVENT, Handled, event_with};
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{GeminiEvent, Receiver, Verifier, actix::GeminiWebhooks};
use http::HeaderMap;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// One request of a case and what must come back.
struct Step {
    path: &'static str,
    headers: HeaderMap,
    body: Bytes,
    status: u16,
    text: Option<&'static str>,
    runs_after: usize,
}

struct Case {
    name: &'static str,
    store_down: bool,
    steps: Vec<Step>,
}

const ID: &str = "msg_case";

fn cases(secret: &str) -> Vec<Case> {
    let signer = Signer::hmac(secret).unwrap().id(ID);
    let sign = |body: &str| signer.sign(body.as_bytes());
    let step = |headers: HeaderMap, body: &str, status, text, runs_after| Step {
        path: "/webhooks/gemini",
        headers,
        body: Bytes::from(body.to_owned()),
        status,
        text,
        runs_after,
    };
    let mut missing = sign(EVENT);
    missing.remove("webhook-id");
    let mut garbled = sign(EVENT);
    garbled.insert("webhook-timestamp", "soon".parse().unwrap());
    let stale = signer
        .clone()
        .timestamp(SystemTime::now() - Duration::from_secs(600))
        .sign(EVENT.as_bytes());
    let mut announced_large = sign(EVENT);
    announced_large.insert("content-length", "2000000".parse().unwrap());
    let big = "x".repeat(1024 * 1024 + 1);
    let fail_once = event_with(r#""fail_once": true"#);
    let not_an_event = r#"{"type":"batch.failed","data":{"id":7}}"#;

    vec![
        Case {
            name: "new delivery, then its retry",
            store_down: false,
            steps: vec![
                step(sign(EVENT), EVENT, 200, Some(""), 1),
                step(sign(EVENT), EVENT, 200, Some("already handled"), 1),
            ],
        },
        Case {
            name: "missing header",
            store_down: false,
            steps: vec![step(
                missing,
                EVENT,
                400,
                Some("missing header `webhook-id`"),
                0,
            )],
        },
        Case {
            name: "malformed timestamp",
            store_down: false,
            steps: vec![step(
                garbled,
                EVENT,
                400,
                Some("invalid header `webhook-timestamp`: not a unix time in seconds"),
                0,
            )],
        },
        Case {
            name: "tampered body",
            store_down: false,
            steps: vec![step(
                sign(EVENT),
                &EVENT.replace("batches/1", "batches/9"),
                401,
                Some("no matching signature"),
                0,
            )],
        },
        Case {
            name: "stale timestamp",
            store_down: false,
            steps: vec![step(stale, EVENT, 401, Some("timestamp too old"), 0)],
        },
        Case {
            name: "body over the limit, announced",
            store_down: false,
            steps: vec![step(
                announced_large,
                EVENT,
                413,
                Some("body larger than 1048576 bytes"),
                0,
            )],
        },
        Case {
            name: "body over the limit, not announced",
            store_down: false,
            steps: vec![step(
                sign(&big),
                &big,
                413,
                Some("body larger than 1048576 bytes"),
                0,
            )],
        },
        Case {
            name: "replay store down",
            store_down: true,
            steps: vec![step(
                sign(EVENT),
                EVENT,
                503,
                Some("replay store unavailable; retry later"),
                0,
            )],
        },
        Case {
            name: "handler fails, the retry runs",
            store_down: false,
            steps: vec![
                step(sign(&fail_once), &fail_once, 500, None, 1),
                step(sign(&fail_once), &fail_once, 200, None, 2),
                step(
                    sign(&fail_once),
                    &fail_once,
                    200,
                    Some("already handled"),
                    2,
                ),
            ],
        },
        Case {
            name: "signed body that is not an event (extractor)",
            store_down: false,
            steps: vec![Step {
                path: "/webhooks/typed",
                ..step(
                    sign(not_an_event),
                    not_an_event,
                    422,
                    Some("invalid event body at `.`: missing field `timestamp`"),
                    0,
                )
            }],
        },
    ]
}

fn receiver(secret: &str) -> Receiver {
    Receiver::new(Verifier::builder().secret(secret).unwrap().build().unwrap())
}

async fn typed(event: GeminiEvent) -> String {
    event.event_type().to_owned()
}

/// Runs a case through the tower layer in an axum app.
async fn run_axum(case: &Case, secret: &str) -> Vec<(u16, String, usize)> {
    use axum::routing::post;
    let handled = Handled::default();
    let router = axum::Router::new()
        .route("/webhooks/gemini", post(common::handler))
        .route("/webhooks/typed", post(typed))
        .with_state(handled.clone());
    let app = if case.store_down {
        router.layer(WebhookLayer::from_receiver(
            receiver(secret).replay_store(DownStore),
        ))
    } else {
        router.layer(WebhookLayer::from_receiver(receiver(secret)))
    };
    let mut seen = Vec::new();
    for step in &case.steps {
        let mut request = axum::http::Request::post(step.path)
            .body(axum::body::Body::from(step.body.clone()))
            .unwrap();
        request.headers_mut().extend(step.headers.clone());
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let text = response.into_body().collect().await.unwrap().to_bytes();
        seen.push((
            status,
            String::from_utf8_lossy(&text).into_owned(),
            handled.runs(ID),
        ));
    }
    seen
}

/// Runs a case through the actix-web middleware.
async fn run_actix(case: &Case, secret: &str) -> Vec<(u16, String, usize)> {
    let handled = Handled::default();
    macro_rules! app {
        ($middleware:expr) => {
            actix_web::test::init_service(
                App::new()
                    .app_data(web::Data::new(handled.clone()))
                    .service(
                        web::resource("/webhooks/gemini")
                            .wrap($middleware.clone())
                            .route(web::post().to(common::actix_app::handler)),
                    )
                    .service(
                        web::resource("/webhooks/typed")
                            .wrap($middleware)
                            .route(web::post().to(typed)),
                    ),
            )
            .await
        };
    }
    let mut seen = Vec::new();
    if case.store_down {
        let app = app!(GeminiWebhooks::from_receiver(
            receiver(secret).replay_store(DownStore)
        ));
        for step in &case.steps {
            seen.push(send_actix(&app, step, &handled).await);
        }
    } else {
        let app = app!(GeminiWebhooks::from_receiver(receiver(secret)));
        for step in &case.steps {
            seen.push(send_actix(&app, step, &handled).await);
        }
    }
    seen
}

async fn send_actix<S, B>(app: &S, step: &Step, handled: &Handled) -> (u16, String, usize)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    // Payload first: it sets Content-Length, which a step may override.
    let mut request = actix_web::test::TestRequest::post()
        .uri(step.path)
        .set_payload(step.body.clone());
    for (name, value) in &step.headers {
        request = request.insert_header((name.as_str(), value.as_bytes()));
    }
    let response = actix_web::test::call_service(app, request.to_request()).await;
    let status = response.status().as_u16();
    let text = actix_web::test::read_body(response).await;
    (
        status,
        String::from_utf8_lossy(&text).into_owned(),
        handled.runs(ID),
    )
}

#[actix_web::test]
async fn every_row_of_the_status_table_is_the_same_on_both_adapters() {
    let secret = generate_secret();
    for case in cases(&secret) {
        let axum = run_axum(&case, &secret).await;
        let actix = run_actix(&case, &secret).await;
        for (i, step) in case.steps.iter().enumerate() {
            for (adapter, seen) in [("axum", &axum), ("actix", &actix)] {
                let (status, text, runs) = &seen[i];
                assert_eq!(
                    *status, step.status,
                    "{}: step {i} on {adapter}: {text}",
                    case.name
                );
                if let Some(expected) = step.text {
                    assert_eq!(text, expected, "{}: step {i} on {adapter}", case.name);
                }
                assert_eq!(
                    *runs, step.runs_after,
                    "{}: step {i} on {adapter}",
                    case.name
                );
            }
        }
        assert_eq!(axum, actix, "{}: the adapters differ", case.name);
    }
}
