//! Publishing in the request: `WebhookLayer` + `PublishService`, the
//! answer 2xx only after the broker confirmed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use gemini_webhooks::Verifier;
use gemini_webhooks::testing::Signer;
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks_bridge::sink::Sink;
use gemini_webhooks_bridge::{PublishService, Publisher};
use http::{Request, StatusCode};
use tower::ServiceExt as _;

use super::{BATCH, Broker, assert_each_in_broker, batch, eventually, verifier};

const PATH: &str = "/webhooks/gemini";

/// A receiver on [`PATH`], and the secret Gemini signs with.
pub struct App {
    secret: String,
    router: Router,
    /// 503s answered so far.
    refused: AtomicUsize,
}

impl App {
    /// Publishing to `sink` in the request.
    pub fn new(sink: Arc<dyn Sink>) -> Self {
        Self::serving(|verifier| {
            tower::ServiceBuilder::new()
                .layer(WebhookLayer::new(verifier))
                .service(PublishService::new(Publisher::new(sink)))
        })
    }

    /// Serving what `service` makes of the verifier.
    pub fn serving<S>(service: impl FnOnce(Verifier) -> S) -> Self
    where
        S: tower::Service<Request<Body>, Error = std::convert::Infallible> + Clone + Send + Sync,
        S: 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        let (verifier, secret) = verifier();
        Self {
            secret,
            router: Router::new().route_service(PATH, service(verifier)),
            refused: AtomicUsize::new(0),
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
            .request(PATH, body.to_owned());
        if tamper {
            *request.body_mut() = Body::from(body.replace("b1", "b2"));
        }
        self.router.clone().oneshot(request).await.unwrap().status()
    }

    /// Sends until the answer is 2xx, as Gemini retries, every answer
    /// before it a 503; bounded.
    pub async fn send_until_accepted(&self, id: &str, body: &str) -> StatusCode {
        for _ in 0..1200 {
            let status = self.send(id, body).await;
            if status.is_success() {
                return status;
            }
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{id}");
            self.refused.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{id}: not accepted within 1200 retries");
    }

    /// 503s answered so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
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
/// is in the broker.
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
    let all = ["msg_before", "msg_down1", "msg_down2", "msg_after"];
    assert_each_in_broker(broker, &all, once).await;
}

/// How many concurrent senders [`a_broker_stopped_mid_load_loses_nothing`]
/// runs.
const SENDERS: usize = 8;

/// The broker goes away while [`SENDERS`] senders keep delivering (each a
/// new delivery as soon as the last was acknowledged, retrying on 503 as
/// Gemini does), so publishes are in flight when it goes; it comes back
/// once every sender could have seen a 503. Afterwards every delivery
/// acknowledged before, during or after is in the broker.
pub async fn a_broker_stopped_mid_load_loses_nothing(broker: &mut impl Broker, once: bool) {
    let app = Arc::new(App::new(broker.sink()));
    let accepted = Arc::new(AtomicUsize::new(0));
    let finish = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (app, accepted, finish) = (app.clone(), accepted.clone(), finish.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                while !finish.load(Ordering::SeqCst) {
                    let id = format!("msg_{sender}_{}", acknowledged.len());
                    app.send_until_accepted(&id, &batch(&id)).await;
                    accepted.fetch_add(1, Ordering::SeqCst);
                    acknowledged.push(id);
                }
                acknowledged
            })
        })
        .collect();
    let accepted_by = |count: usize| {
        let accepted = accepted.clone();
        move || accepted.load(Ordering::SeqCst) >= count
    };
    eventually(
        "deliveries accepted before the stop",
        accepted_by(2 * SENDERS),
    )
    .await;
    broker.stop();
    eventually("503s while the broker is away", || app.refused() >= SENDERS).await;
    broker.start_again();
    let now = accepted.load(Ordering::SeqCst);
    eventually("deliveries accepted after", accepted_by(now + 2 * SENDERS)).await;
    finish.store(true, Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    for sender in senders {
        acknowledged.extend(sender.await.unwrap());
    }
    assert!(acknowledged.len() >= 4 * SENDERS, "{}", acknowledged.len());
    assert_each_in_broker(broker, &acknowledged, once).await;
}
