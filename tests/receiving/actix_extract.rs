//! actix-web extractors without the middleware: they verify with the app's
//! `Verifier`, or answer 500 saying what is missing.

#![cfg(feature = "actix")]

use crate::common;

use actix_web::{App, HttpResponse, web};
use common::EVENT;
use gemini_webhooks::Delivery;
use gemini_webhooks::testing::{Signer, generate_secret};

async fn echo_id(delivery: Delivery) -> HttpResponse {
    HttpResponse::Ok().body(delivery.id().to_owned())
}

#[test]
fn extractors_without_middleware_verify_with_app_data_or_say_why_not() {
    common::on_actix(async {
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
    })
}

#[test]
fn on_the_post_route_only_the_middleware_leaves_other_requests_alone() {
    common::on_actix(async {
        use gemini_webhooks::actix::GeminiWebhooks;
        let secret = generate_secret();
        let webhooks = GeminiWebhooks::new(common::verifier(&secret));
        let app = actix_web::test::init_service(
            App::new()
                .service(
                    web::resource("/webhooks/gemini").route(web::post().to(echo_id).wrap(webhooks)),
                )
                .route("/health", web::get().to(|| async { "ok" })),
        )
        .await;
        let call = |method: actix_web::http::Method, uri: &str| {
            actix_web::test::TestRequest::default()
                .method(method)
                .uri(uri)
                .to_request()
        };
        use actix_web::http::Method;
        for (method, uri, status) in [
            (Method::GET, "/health", 200),
            (Method::GET, "/nowhere", 404),
            (Method::GET, "/webhooks/gemini", 405),
            (Method::POST, "/webhooks/gemini", 400),
        ] {
            let response = actix_web::test::call_service(&app, call(method.clone(), uri)).await;
            assert_eq!(response.status().as_u16(), status, "{method} {uri}");
        }
        let signed = Signer::hmac(&secret)
            .unwrap()
            .id("msg_route")
            .actix_request("/webhooks/gemini", EVENT);
        let response = actix_web::test::call_service(&app, signed.to_request()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(actix_web::test::read_body(response).await, "msg_route");
    })
}
