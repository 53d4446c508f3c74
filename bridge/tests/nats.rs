//! The NATS JetStream sink against a `nats-server -js` of the test's own.
#![cfg(feature = "nats")]

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use common::{Broker, Received};
use gemini_webhooks_bridge::nats::NatsSink;
use gemini_webhooks_bridge::sink::{Sink, Subject};
use testdb::OwnNats;

struct Nats {
    server: OwnNats,
    sink: Arc<NatsSink>,
    jetstream: jetstream::Context,
}

const STREAM: &str = "GEMINI";

impl Nats {
    async fn start() -> Self {
        let server = OwnNats::start();
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(server.url())
            .await
            .unwrap();
        let jetstream = jetstream::new(client.clone());
        jetstream
            .create_stream(jetstream::stream::Config {
                name: STREAM.to_owned(),
                subjects: vec!["gemini.>".to_owned()],
                duplicate_window: Duration::from_secs(3600),
                ..Default::default()
            })
            .await
            .unwrap();
        let sink = NatsSink::new(client, Subject::parse("gemini.{type}").unwrap());
        Self {
            server,
            sink: Arc::new(sink),
            jetstream,
        }
    }
}

impl Broker for Nats {
    fn sink(&self) -> Arc<dyn Sink> {
        self.sink.clone()
    }

    async fn received(&self) -> Vec<Received> {
        let mut stream = self.jetstream.get_stream(STREAM).await.unwrap();
        let count = stream.info().await.unwrap().state.messages;
        let mut received = Vec::new();
        for sequence in 1..=count {
            let message = stream.get_raw_message(sequence).await.unwrap();
            let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned());
            received.push(Received {
                subject: message.subject.to_string(),
                attributes: [
                    header("webhook-id"),
                    header("webhook-timestamp"),
                    header("gemini-event-type"),
                ],
                body: message.payload,
            });
        }
        received
    }

    fn stop(&mut self) {
        self.server.stop();
    }

    fn start_again(&mut self) {
        self.server.start_again();
    }
}

// The stream de-duplicates on `Nats-Msg-Id`.
sink_suite!(start: Nats::start().await, subject: "gemini.batch.succeeded", once: true, probe: true);

/// A second publish of one webhook id is the stream's duplicate, confirmed
/// without a second message: what makes an unconfirmed publish safe to retry.
#[tokio::test]
async fn the_stream_keeps_one_copy_of_a_webhook_id() {
    let nats = Nats::start().await;
    let message = common::message("msg_twice");
    let first = nats.sink.publish(&message).await.unwrap();
    let second = nats.sink.publish(&message).await.unwrap();
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(first.broker_id, second.broker_id);
    assert_eq!(nats.received().await.len(), 1);
    assert!(nats.sink.ready().await.is_ok());
}

/// A subject no stream takes is refused, not published.
#[tokio::test]
async fn a_subject_no_stream_takes_is_not_published() {
    let nats = Nats::start().await;
    let client = async_nats::connect(nats.server.url()).await.unwrap();
    let sink = NatsSink::new(client, Subject::parse("elsewhere.{type}").unwrap())
        .ack_timeout(Duration::from_secs(5));
    let err = sink
        .publish(&common::message("msg_nowhere"))
        .await
        .unwrap_err();
    assert!(!err.may_have_published(), "{err}");
}

/// A PubAck that never comes (the server went away after the client took
/// the message) leaves the publish unconfirmed: it may have reached the
/// stream, so the delivery is retried, and the stream's de-duplication
/// keeps one copy.
#[tokio::test]
async fn a_pub_ack_that_never_comes_may_have_published() {
    let mut nats = Nats::start().await;
    let client = async_nats::connect(nats.server.url()).await.unwrap();
    let sink = NatsSink::new(client, Subject::parse("gemini.{type}").unwrap())
        .ack_timeout(Duration::from_millis(300));
    nats.stop();
    let err = sink
        .publish(&common::message("msg_unanswered"))
        .await
        .unwrap_err();
    assert!(err.may_have_published(), "{err}");
}
