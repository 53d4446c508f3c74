//! axum extractors without `WebhookLayer`: they verify with a `Verifier`
//! extension, or answer 500 saying what is missing.

mod common;

use std::net::SocketAddr;

use axum::routing::post;
use common::{EVENT, client};
use gemini_webhooks::Delivery;
use gemini_webhooks::testing::{Signer, generate_secret};
use http::StatusCode;

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test]
async fn an_extractor_without_layer_or_verifier_answers_500_saying_why() {
    let router = axum::Router::new().route(
        "/webhooks/gemini",
        post(|_: Delivery| async { "unreachable" }),
    );
    let addr = serve(router).await;
    let headers = Signer::hmac(&generate_secret())
        .unwrap()
        .sign(EVENT.as_bytes());
    let response = client::post(&format!("http://{addr}/webhooks/gemini"), headers, EVENT)
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.text().contains("not configured"));
}

#[tokio::test]
async fn an_extractor_with_a_verifier_extension_verifies_by_itself() {
    let secret = generate_secret();
    let verifier = common::verifier(&secret);
    let router = axum::Router::new()
        .route(
            "/webhooks/gemini",
            post(|d: Delivery| async move { d.id().to_owned() }),
        )
        .layer(axum::Extension(verifier));
    let addr = serve(router).await;
    let url = format!("http://{addr}/webhooks/gemini");
    let signed = Signer::hmac(&secret)
        .unwrap()
        .id("msg_standalone")
        .sign(EVENT.as_bytes());
    let ok = client::post(&url, signed.clone(), EVENT).await.unwrap();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.text(), "msg_standalone");

    let forged = client::post(&url, signed, "{}").await.unwrap();
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
}
