//! The suite every sink's tests run (one per broker file): a receiver that
//! publishes in the request ([`in_request`]), an inbox whose workers
//! publish ([`outbox`]), and what the broker holds afterwards.

#![allow(dead_code)] // each broker's test file uses its part

pub mod in_request;
pub mod outbox;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gemini_webhooks::Verifier;
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks_bridge::sink::Sink;

/// The suite every sink's test file runs, against its own broker:
/// `start` makes a fresh [`Broker`] (an async expression), `subject` is
/// where a `batch.succeeded` message goes, `once` whether the broker keeps
/// one copy per webhook id (else only "nothing lost" is asserted), `probe`
/// whether the sink's readiness check asks the broker.
macro_rules! sink_suite {
    (start: $start:expr, subject: $subject:expr, once: $once:expr, probe: $probe:expr) => {
        #[tokio::test]
        async fn publishes_the_raw_body_with_its_attributes() {
            let broker = $start;
            common::in_request::publishes_the_raw_body_with_its_attributes(&broker, $subject).await;
        }

        #[tokio::test]
        async fn bad_and_duplicate_deliveries_publish_nothing_more() {
            let broker = $start;
            common::in_request::bad_and_duplicate_deliveries_publish_nothing_more(&broker).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_broker_away_answers_503_then_loses_nothing() {
            let mut broker = $start;
            common::in_request::a_stopped_broker_answers_503_then_loses_nothing(&mut broker, $once)
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn ready_while_the_broker_answers_and_not_while_away() {
            let mut broker = $start;
            common::ready_while_the_broker_answers(&mut broker, $probe).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_broker_stopped_mid_load_loses_no_acknowledged_delivery() {
            let mut broker = $start;
            common::in_request::a_broker_stopped_mid_load_loses_nothing(&mut broker, $once).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn in_the_outbox_a_broker_away_delays_deliveries_and_loses_none() {
            let mut broker = $start;
            common::outbox::a_broker_away_delays_deliveries_and_loses_none(&mut broker, $once)
                .await;
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

/// A broker of a test's own; what it held before a
/// [`stop`](Broker::stop) is still there after
/// [`start_again`](Broker::start_again).
pub trait Broker {
    /// A sink on it, publishing to `gemini.{type}` (or the broker's form
    /// of it).
    fn sink(&self) -> Arc<dyn Sink>;
    /// Every message it holds, oldest first.
    async fn received(&self) -> Vec<Received>;
    fn stop(&mut self);
    fn start_again(&mut self);
}

pub const BATCH: &str = r#"{"type":"batch.succeeded","timestamp":"2026-12-01T00:00:00Z","data":{"id":"batches/b1","output":{"responsesFile":"files/r1"}}}"#;

/// The ending of a batch of its own, `batches/{id}`: deliveries of
/// different batches, which no sink may take for one another (River keys
/// an ending per Gemini job).
pub fn batch(id: &str) -> String {
    BATCH.replace("batches/b1", &format!("batches/{id}"))
}

/// A verifier for a new secret, and the secret.
pub fn verifier() -> (Verifier, String) {
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    (verifier, secret)
}

/// Every id of `acknowledged` is in the broker — exactly once where
/// `once` (the broker de-duplicates on the webhook id).
pub async fn assert_each_in_broker<S: AsRef<str>>(
    broker: &impl Broker,
    acknowledged: &[S],
    once: bool,
) {
    let received = broker.received().await;
    let ids: Vec<_> = received
        .iter()
        .map(|m| m.attributes[0].clone().unwrap())
        .collect();
    for id in acknowledged.iter().map(AsRef::as_ref) {
        let copies = ids.iter().filter(|seen| seen.as_str() == id).count();
        assert!(copies >= 1, "{id} lost: {ids:?}");
        if once {
            assert_eq!(copies, 1, "{id} twice: {ids:?}");
        }
    }
}

/// The sink is ready while the broker answers; where it `probe`s the
/// broker, not while it is away, and ready again once it is back.
pub async fn ready_while_the_broker_answers(broker: &mut impl Broker, probe: bool) {
    let sink = broker.sink();
    sink.ready().await.unwrap();
    broker.stop();
    let away = sink.ready().await;
    assert_eq!(away.is_err(), probe, "{away:?}");
    broker.start_again();
    // Bounded: a client reconnects at its own pace.
    for _ in 0..600 {
        if sink.ready().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "not ready after the broker came back: {:?}",
        sink.ready().await
    );
}

/// Polls `done` every 20 ms until it holds; bounded (five minutes: only a
/// stuck test reaches it), so a slow machine waits instead of failing.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..15_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

/// A verified delivery of [`BATCH`] as delivery `id`, as a message.
pub fn message(id: &str) -> gemini_webhooks_bridge::sink::Message {
    let (verifier, secret) = verifier();
    let headers = Signer::hmac(&secret).unwrap().id(id).sign(BATCH.as_bytes());
    let delivery = verifier.verify(&headers, BATCH.as_bytes()).unwrap();
    gemini_webhooks_bridge::sink::Message::from_delivery(&delivery).unwrap()
}
