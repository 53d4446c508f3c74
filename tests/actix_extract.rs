//! actix-web extractors without the middleware: they verify with the app's
//! `Verifier`, or answer 500 saying what is missing.

#![cfg(feature = "actix")]

mod common;

use actix_web::{App, HttpResponse, web};
use common::EVENT;
use gemini_webhooks::Delivery;
use gemini_webhooks::testing::{Signer, generate_secret};

async fn echo_id(delivery: Delivery) -> HttpResponse {
    HttpResponse::Ok().body(delivery.id().to_owned())
}

#[actix_web::test]
async fn extractors_without_middleware_verify_with_app_data_or_say_why_not() {
    let secret = generate_secret();
    let verifier = common::verifier(&secret);
    let with = actix_web::test::init_service(
        App::new()
            .app_data(web::Data::new(verifier))
            .route("/hook", web::post().to(echo_id)),
    )
    .await;
    let without =
        actix_web::test::init_service(App::new().route("/hook", web::post().to(echo_id))).await;

    let request = |headers: &http::HeaderMap, body: &'static str| {
        let mut request = actix_web::test::TestRequest::post()
            .uri("/hook")
            .set_payload(body);
        for (name, value) in headers {
            request = request.insert_header((name.as_str(), value.as_bytes()));
        }
        request.to_request()
    };
    let signed = Signer::hmac(&secret)
        .unwrap()
        .id("msg_alone")
        .sign(EVENT.as_bytes());

    let ok = actix_web::test::call_service(&with, request(&signed, EVENT)).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(actix_web::test::read_body(ok).await, "msg_alone");
    let forged = actix_web::test::call_service(&with, request(&signed, "{}")).await;
    assert_eq!(forged.status(), 401);

    let unconfigured = actix_web::test::call_service(&without, request(&signed, EVENT)).await;
    assert_eq!(unconfigured.status(), 500);
    let text = actix_web::test::read_body(unconfigured).await;
    assert!(
        String::from_utf8_lossy(&text).contains("not configured"),
        "{text:?}"
    );
}
