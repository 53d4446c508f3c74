//! The suite every sink's tests run (one per broker file): a receiver
//! that publishes in the request, and what the broker holds afterwards.

#![allow(dead_code)] // each broker's test file uses its part

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use gemini_webhooks::Verifier;
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks_bridge::sink::Sink;
use gemini_webhooks_bridge::{PublishService, Publisher};
use http::{Request, StatusCode};
use tower::ServiceExt as _;

/// The suite every sink's test file runs, against its own broker:
/// `start` makes a fresh [`Broker`] (an async expression), `subject` is
/// where a `batch.succeeded` message goes, `once` whether the broker keeps
/// one copy per webhook id (else only "nothing lost" is asserted).
macro_rules! sink_suite {
    (start: $start:expr, subject: $subject:expr, once: $once:expr) => {
        #[tokio::test]
        async fn publishes_the_raw_body_with_its_attributes() {
            let broker = $start;
            common::publishes_the_raw_body_with_its_attributes(&broker, $subject).await;
        }

        #[tokio::test]
        async fn bad_and_duplicate_deliveries_publish_nothing_more() {
            let broker = $start;
            common::bad_and_duplicate_deliveries_publish_nothing_more(&broker).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_broker_away_answers_503_then_loses_nothing() {
            let mut broker = $start;
            common::a_stopped_broker_answers_503_then_loses_nothing(&mut broker, $once).await;
        }
    };
}

/// One message as the broker holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The subject, routing key, stream or topic it went to.
    pub subject: String,
    /// The attributes / headers `webhook-id`, `webhook-timestamp`,
    /// `gemini-event-type`, in that order (`None` where missing).
    pub attributes: [Option<String>; 3],
    pub body: Bytes,
}

/// A broker of a test's own.
pub trait Broker {
    /// A sink on it, publishing to `gemini.{type}` (or the broker's form
    /// of it).
    fn sink(&self) -> Arc<dyn Sink>;
    /// Every message it holds, oldest first.
    async fn received(&self) -> Vec<Received>;
    fn stop(&mut self);
    fn start_again(&mut self);
    /// Whether what it held before a restart is still there after it
    /// (not for a Redis that keeps nothing on disk).
    fn durable(&self) -> bool {
        true
    }
}

pub const BATCH: &str = r#"{"type":"batch.succeeded","timestamp":"2026-12-01T00:00:00Z","data":{"id":"batches/b1","output":{"responsesFile":"files/r1"}}}"#;

/// The ending of a batch of its own, `batches/{id}`: deliveries of
/// different batches, which no sink may take for one another (River keys
/// an ending per Gemini job).
pub fn batch(id: &str) -> String {
    BATCH.replace("batches/b1", &format!("batches/{id}"))
}

/// A receiver that publishes to a sink in the request.
pub struct App {
    secret: String,
    router: Router,
}

impl App {
    pub fn new(sink: Arc<dyn Sink>) -> Self {
        let secret = generate_secret();
        let verifier = Verifier::builder()
            .secret(&secret)
            .unwrap()
            .build()
            .unwrap();
        let service = tower::ServiceBuilder::new()
            .layer(WebhookLayer::new(verifier))
            .service(PublishService::new(Publisher::new(sink)));
        Self {
            secret,
            router: Router::new().route_service("/webhooks/gemini", service),
        }
    }

    /// Sends `body` signed as delivery `id`; the status.
    pub async fn send(&self, id: &str, body: &str) -> StatusCode {
        self.send_at(id, body, SystemTime::now(), false).await
    }

    pub async fn send_at(&self, id: &str, body: &str, at: SystemTime, tamper: bool) -> StatusCode {
        let mut request: Request<Body> = Signer::hmac(&self.secret)
            .unwrap()
            .id(id)
            .timestamp(at)
            .request("/webhooks/gemini", body.to_owned());
        if tamper {
            *request.body_mut() = Body::from(body.replace("b1", "b2"));
        }
        self.router.clone().oneshot(request).await.unwrap().status()
    }

    /// Sends until the answer is 2xx, as Gemini retries; bounded.
    pub async fn send_until_accepted(&self, id: &str, body: &str) -> StatusCode {
        for _ in 0..600 {
            let status = self.send(id, body).await;
            if status.is_success() {
                return status;
            }
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{id}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{id}: not accepted within 600 retries");
    }
}

/// Published in the request: the raw body byte for byte, the three
/// attributes, the subject with the type in it.
pub async fn publishes_the_raw_body_with_its_attributes(broker: &impl Broker, subject: &str) {
    let app = App::new(broker.sink());
    assert_eq!(app.send("msg_raw", BATCH).await, StatusCode::OK);
    let received = broker.received().await;
    assert_eq!(received.len(), 1, "{received:?}");
    let message = &received[0];
    assert_eq!(message.body, Bytes::from_static(BATCH.as_bytes()));
    assert_eq!(message.subject, subject);
    assert_eq!(message.attributes[0].as_deref(), Some("msg_raw"));
    let timestamp: u64 = message.attributes[1].as_deref().unwrap().parse().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(timestamp) < 600, "{timestamp}");
    assert_eq!(message.attributes[2].as_deref(), Some("batch.succeeded"));
}

/// Bad deliveries are answered and never published; a duplicate is
/// answered 200 without a second message.
pub async fn bad_and_duplicate_deliveries_publish_nothing_more(broker: &impl Broker) {
    let app = App::new(broker.sink());
    let now = SystemTime::now();
    let stale = now - Duration::from_secs(3600);
    assert_eq!(
        app.send_at("msg_t", BATCH, now, true).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.send_at("msg_s", BATCH, stale, false).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.send("msg_n", r#"{"no":"type"}"#).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(broker.received().await.is_empty());
    assert_eq!(app.send("msg_d", BATCH).await, StatusCode::OK);
    assert_eq!(app.send("msg_d", BATCH).await, StatusCode::OK);
    let received = broker.received().await;
    assert_eq!(received.len(), 1, "{received:?}");
}

/// While the broker is down deliveries are answered 503; once it is back,
/// every delivery Gemini retries is published, and each acknowledged one
/// is in the broker — exactly once where `once` (the broker
/// de-duplicates on the webhook id).
pub async fn a_stopped_broker_answers_503_then_loses_nothing(broker: &mut impl Broker, once: bool) {
    let app = App::new(broker.sink());
    assert_eq!(
        app.send("msg_before", &batch("msg_before")).await,
        StatusCode::OK
    );
    broker.stop();
    for id in ["msg_down1", "msg_down2"] {
        assert_eq!(
            app.send(id, &batch(id)).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "{id}"
        );
    }
    broker.start_again();
    for id in ["msg_down1", "msg_down2", "msg_after"] {
        assert_eq!(
            app.send_until_accepted(id, &batch(id)).await,
            StatusCode::OK,
            "{id}"
        );
    }
    let received = broker.received().await;
    let ids: Vec<_> = received
        .iter()
        .map(|m| m.attributes[0].clone().unwrap())
        .collect();
    let kept = if broker.durable() { 0 } else { 1 };
    for &id in &["msg_before", "msg_down1", "msg_down2", "msg_after"][kept..] {
        let copies = ids.iter().filter(|seen| seen.as_str() == id).count();
        assert!(copies >= 1, "{id} lost: {ids:?}");
        if once {
            assert_eq!(copies, 1, "{id} twice: {ids:?}");
        }
    }
}

/// A verified delivery of [`BATCH`] as delivery `id`, as a message.
pub fn message(id: &str) -> gemini_webhooks_bridge::sink::Message {
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let headers = Signer::hmac(&secret).unwrap().id(id).sign(BATCH.as_bytes());
    let delivery = verifier.verify(&headers, BATCH.as_bytes()).unwrap();
    gemini_webhooks_bridge::sink::Message::from_delivery(&delivery).unwrap()
}
