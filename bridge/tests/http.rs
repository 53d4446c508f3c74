//! The HTTP sink against an axum endpoint of the test's own that verifies
//! the re-signed deliveries with the crate's own `Verifier`.
#![cfg(feature = "http")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use common::{Broker, Received};
use gemini_webhooks::Delivery;
use gemini_webhooks::testing::generate_secret;
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks_bridge::http::HttpSink;
use gemini_webhooks_bridge::sink::Sink;

/// An endpoint that verifies what the sink sends and keeps it.
struct Endpoint {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<StatusCode>>,
    sink: Arc<HttpSink>,
    server: Option<tokio::task::JoinHandle<()>>,
    secret: String,
}

impl Endpoint {
    async fn start() -> Self {
        let (port, secret) = (testdb::free_port(), generate_secret());
        let url = format!("http://127.0.0.1:{port}/inbound");
        let mut endpoint = Self {
            port,
            received: Arc::default(),
            answer: Arc::new(Mutex::new(StatusCode::OK)),
            sink: Arc::new(HttpSink::new(reqwest::Client::new(), &url, &secret).unwrap()),
            server: None,
            secret,
        };
        endpoint.start_again();
        endpoint
    }

    fn serve(&self) -> Router {
        let verifier = gemini_webhooks::Verifier::builder()
            .secret(&self.secret)
            .unwrap()
            .build()
            .unwrap();
        let (received, answer) = (Arc::clone(&self.received), Arc::clone(&self.answer));
        let handle = move |headers: http::HeaderMap, delivery: Delivery| async move {
            let status = *answer.lock().unwrap();
            if status.is_success() {
                let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
                received.lock().unwrap().push(Received {
                    subject: "/inbound".to_owned(),
                    attributes: [
                        header("webhook-id"),
                        header("webhook-timestamp"),
                        header("gemini-event-type"),
                    ],
                    body: delivery.body().clone(),
                });
            }
            status
        };
        Router::new().route(
            "/inbound",
            axum::routing::post(handle).route_layer(WebhookLayer::new(verifier)),
        )
    }
}

impl Broker for Endpoint {
    fn sink(&self) -> Arc<dyn Sink> {
        self.sink.clone()
    }

    async fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        // Bounded: until the port refuses connections.
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("the endpoint still listens");
    }

    fn start_again(&mut self) {
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let app = self.serve();
        self.server = Some(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }
}

// An endpoint whose answer was lost may have the delivery twice.
sink_suite!(start: Endpoint::start().await, subject: "/inbound", once: false, probe: true);

/// An endpoint that refuses is not published, and says so; one signed
/// with another secret is refused by the endpoint's verifier.
#[tokio::test]
async fn a_refusal_is_not_published() {
    let endpoint = Endpoint::start().await;
    *endpoint.answer.lock().unwrap() = StatusCode::INTERNAL_SERVER_ERROR;
    let err = endpoint
        .sink
        .publish(&common::message("msg_refused"))
        .await
        .unwrap_err();
    assert!(!err.may_have_published(), "{err}");
    *endpoint.answer.lock().unwrap() = StatusCode::OK;
    let url = format!("http://127.0.0.1:{}/inbound", endpoint.port);
    let stranger = HttpSink::new(reqwest::Client::new(), &url, &generate_secret()).unwrap();
    let err = stranger
        .publish(&common::message("msg_stranger"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("4xx"), "{err}");
    assert!(endpoint.received().await.is_empty());
    assert!(HttpSink::new(reqwest::Client::new(), "not a url", &generate_secret()).is_err());
    assert!(HttpSink::new(reqwest::Client::new(), &url, "not a secret").is_err());
}

/// Nothing listening: not published (the request never left).
#[tokio::test]
async fn no_endpoint_is_not_published() {
    let url = format!("http://127.0.0.1:{}/inbound", testdb::free_port());
    let sink = HttpSink::new(reqwest::Client::new(), &url, &generate_secret()).unwrap();
    let err = sink
        .publish(&common::message("msg_nobody"))
        .await
        .unwrap_err();
    assert!(!err.may_have_published(), "{err}");
    assert!(sink.ready().await.is_err());
}
