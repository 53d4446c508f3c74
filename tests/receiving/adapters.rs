//! One table of cases, two adapters: every row of the status table runs
//! against the tower layer (in an axum app) and the actix-web middleware,
//! which must answer the same status with the same text and run the handler
//! the same number of times.

#![cfg(all(feature = "axum", feature = "actix"))]

use crate::common;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::two_adapters::{ID, Step, check, run_actix, run_axum};
use common::{DownStore, EVENT, event_with};
use gemini_webhooks::Receiver;
use gemini_webhooks::receiver::DEFAULT_BODY_LIMIT;
use gemini_webhooks::testing::{Signer, generate_secret};
use http::HeaderMap;

struct Case {
    name: &'static str,
    store_down: bool,
    steps: Vec<Step>,
}

fn cases(secret: &str) -> Vec<Case> {
    let signer = Signer::hmac(secret).unwrap().id(ID);
    let sign = |body: &str| signer.sign(body.as_bytes());
    let step = |headers: HeaderMap, body: &str, status, text: Option<&str>, runs_after| Step {
        path: "/webhooks/gemini",
        headers,
        body: Bytes::from(body.to_owned()),
        status,
        text: text.map(str::to_owned),
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
    let big = "x".repeat(DEFAULT_BODY_LIMIT + 1);
    let too_large = format!("body larger than {DEFAULT_BODY_LIMIT} bytes");
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
            steps: vec![step(announced_large, EVENT, 413, Some(&too_large), 0)],
        },
        Case {
            name: "body over the limit, not announced",
            store_down: false,
            steps: vec![step(sign(&big), &big, 413, Some(&too_large), 0)],
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
                    Some("invalid event body at `data.id`: unexpected type or value"),
                    0,
                )
            }],
        },
    ]
}

fn receiver(secret: &str) -> Receiver {
    Receiver::new(common::verifier(secret))
}

#[test]
fn every_row_of_the_status_table_is_the_same_on_both_adapters() {
    common::on_actix(async {
        let secret = generate_secret();
        for case in cases(&secret) {
            let (axum, actix) = if case.store_down {
                (
                    run_axum(receiver(&secret).replay_store(DownStore), &case.steps).await,
                    run_actix(receiver(&secret).replay_store(DownStore), &case.steps).await,
                )
            } else {
                (
                    run_axum(receiver(&secret), &case.steps).await,
                    run_actix(receiver(&secret), &case.steps).await,
                )
            };
            check(case.name, &case.steps, &axum, &actix);
        }
    })
}

/// A handler whose claim the store says is gone is stopped, and the
/// delivery answered 503, by both adapters alike (in real time: the
/// claim's first extension comes a third of its 3 s TTL in).
#[test]
fn a_handler_whose_claim_is_lost_is_stopped_with_503_on_both_adapters() {
    common::on_actix(async {
        let secret = generate_secret();
        let store = || common::ObservedStore {
            inner: std::sync::Arc::new(
                gemini_webhooks::replay::MemoryReplayStore::builder()
                    .in_flight_ttl(Duration::from_secs(3))
                    .build(),
            ),
            lose_claims: true,
            ..Default::default()
        };
        let held = event_with(r#""hold": true"#);
        let steps = [Step {
            path: "/webhooks/gemini",
            headers: Signer::hmac(&secret).unwrap().id(ID).sign(held.as_bytes()),
            body: Bytes::from(held.clone()),
            status: 503,
            text: Some(
                "the claim on this delivery could not be held while it was handled; retry later"
                    .to_owned(),
            ),
            runs_after: 1,
        }];
        let axum = run_axum(receiver(&secret).replay_store(store()), &steps).await;
        let actix = run_actix(receiver(&secret).replay_store(store()), &steps).await;
        check("claim lost", &steps, &axum, &actix);
    })
}

/// The actix middleware wrapping a scope, whose routing below it needs the
/// request to itself (actix's `match_info_mut`): a delivery is handled.
#[test]
fn the_actix_middleware_wraps_a_scope_that_routes_below_it() {
    common::on_actix(async {
        use actix_web::{App, HttpResponse, web};
        use gemini_webhooks::actix::GeminiWebhooks;
        let secret = generate_secret();
        let app = actix_web::test::init_service(
            App::new().service(
                web::scope("/webhooks")
                    .wrap(GeminiWebhooks::new(common::verifier(&secret)))
                    .route("/gemini", web::post().to(HttpResponse::Ok)),
            ),
        )
        .await;
        let headers = Signer::hmac(&secret)
            .unwrap()
            .id("msg_scope")
            .sign(EVENT.as_bytes());
        let mut request = actix_web::test::TestRequest::post()
            .uri("/webhooks/gemini")
            .set_payload(EVENT);
        for (name, value) in &headers {
            request = request.insert_header((name.as_str(), value.as_bytes()));
        }
        let response = actix_web::test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status().as_u16(), 200);
    })
}
