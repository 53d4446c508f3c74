//! `WebhookLayer` on a real axum server on a loopback port, driven by a real
//! HTTP client.

mod common;

use std::net::SocketAddr;

use axum::routing::post;
use common::{EVENT, Handled, app, event_with};
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{Delivery, Verifier};
use reqwest::StatusCode;

struct Server {
    url: String,
    secret: String,
    handled: Handled,
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn start() -> Server {
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let handled = Handled::default();
    let router = app(handled.clone()).layer(WebhookLayer::new(verifier));
    let addr = serve(router).await;
    Server {
        url: format!("http://{addr}/webhooks/gemini"),
        secret,
        handled,
    }
}

impl Server {
    async fn post(&self, id: &str, body: &str) -> Result<(StatusCode, String), reqwest::Error> {
        let headers = Signer::hmac(&self.secret)
            .unwrap()
            .id(id)
            .sign(body.as_bytes());
        let response = reqwest::Client::new()
            .post(&self.url)
            .headers(headers)
            .body(body.to_owned())
            .send()
            .await?;
        Ok((response.status(), response.text().await?))
    }

    /// Posts until the id is no longer in flight (releases run as tasks),
    /// a bounded number of times.
    async fn post_until_not_in_flight(
        &self,
        id: &str,
        body: &str,
    ) -> Result<StatusCode, reqwest::Error> {
        for _ in 0..1000 {
            let (status, _) = self.post(id, body).await?;
            if status != StatusCode::CONFLICT {
                return Ok(status);
            }
            tokio::task::yield_now().await;
        }
        Ok(StatusCode::CONFLICT)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_copies_run_the_handler_once() {
    let server = std::sync::Arc::new(start().await);
    let copies = (0..50).map(|_| {
        let server = server.clone();
        tokio::spawn(async move { server.post("msg_concurrent", EVENT).await.unwrap().0 })
    });
    let mut statuses = Vec::new();
    for copy in copies {
        statuses.push(copy.await.unwrap());
    }
    assert_eq!(server.handled.runs("msg_concurrent"), 1);
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::OK));
}

#[tokio::test]
async fn done_gets_200_without_the_handler() {
    let server = start().await;
    assert_eq!(
        server.post("msg_done", EVENT).await.unwrap().0,
        StatusCode::OK
    );
    let (status, text) = server.post("msg_done", EVENT).await.unwrap();
    assert_eq!((status, text.as_str()), (StatusCode::OK, "already handled"));
    assert_eq!(server.handled.runs("msg_done"), 1);
}

#[tokio::test]
async fn release_on_500_then_the_retry_runs() {
    let server = start().await;
    let body = event_with(r#""fail_once": true"#);
    assert_eq!(
        server.post("msg_500", &body).await.unwrap().0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        server.post("msg_500", &body).await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(server.handled.runs("msg_500"), 2);
}

#[tokio::test]
async fn release_on_panic_then_the_retry_runs() {
    let server = start().await;
    let panics = event_with(r#""panic": true"#);
    // The connection dies with the handler: the client sees an error.
    assert!(server.post("msg_panic", &panics).await.is_err());
    assert_eq!(server.handled.runs("msg_panic"), 1);
    let status = server
        .post_until_not_in_flight("msg_panic", EVENT)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.handled.runs("msg_panic"), 2);
}

#[tokio::test]
async fn release_when_the_client_goes_away_then_the_retry_runs() {
    let server = start().await;
    let held = event_with(r#""hold": true"#);
    let attempt = tokio::spawn({
        let (url, headers) = (
            server.url.clone(),
            Signer::hmac(&server.secret)
                .unwrap()
                .id("msg_gone")
                .sign(held.as_bytes()),
        );
        async move {
            reqwest::Client::new()
                .post(url)
                .headers(headers)
                .body(held)
                .send()
                .await
        }
    });
    server.handled.entered.notified().await;
    attempt.abort(); // closes the connection mid-handler
    let _ = attempt.await;
    let status = server
        .post_until_not_in_flight("msg_gone", EVENT)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.handled.runs("msg_gone"), 2);
}

#[tokio::test]
async fn a_2_mib_body_gets_413() {
    let server = start().await;
    let body = "x".repeat(2 * 1024 * 1024);
    let (status, text) = server.post("msg_huge", &body).await.unwrap();
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body larger than 1048576 bytes"
        )
    );
    assert_eq!(server.handled.total(), 0);
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
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/gemini"))
        .headers(headers)
        .body(EVENT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.text().await.unwrap().contains("add WebhookLayer"));
}

#[tokio::test]
async fn an_extractor_with_a_verifier_extension_verifies_by_itself() {
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let router = axum::Router::new()
        .route(
            "/webhooks/gemini",
            post(|d: Delivery| async move { d.id().to_owned() }),
        )
        .layer(axum::Extension(verifier));
    let addr = serve(router).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/webhooks/gemini");
    let signed = Signer::hmac(&secret)
        .unwrap()
        .id("msg_standalone")
        .sign(EVENT.as_bytes());
    let ok = client
        .post(&url)
        .headers(signed.clone())
        .body(EVENT)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "msg_standalone");

    let forged = client
        .post(&url)
        .headers(signed)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
}
