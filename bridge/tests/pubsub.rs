//! The Pub/Sub sink against an emulator of the test's own, reached through
//! a proxy the test cuts to take the service away (the emulator keeps its
//! topics in memory: a restart would lose them).
#![cfg(feature = "pubsub")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use common::{Broker, Received};
use gemini_webhooks_bridge::pubsub::PubSubSink;
use gemini_webhooks_bridge::sink::{Sink, Subject};
use google_cloud_pubsub::client::BasePublisher;
use serde_json::{Value, json};
use testdb::{OwnPubSub, Proxy};

const PROJECT: &str = "gemini-test";

struct PubSub {
    emulator: OwnPubSub,
    proxy: Proxy,
    sink: Arc<PubSubSink>,
    http: reqwest::Client,
    /// What the subscription gave so far (a pull acknowledges it).
    taken: Mutex<Vec<Received>>,
}

impl PubSub {
    async fn start(ordered: bool) -> Self {
        let emulator = OwnPubSub::start();
        let proxy = Proxy::start(&emulator.host());
        let http = reqwest::Client::new();
        let base = format!("http://{}/v1/projects/{PROJECT}", emulator.host());
        for (path, body) in [
            ("topics/gemini-batch.succeeded", json!({})),
            (
                "subscriptions/everything",
                json!({"topic": format!("projects/{PROJECT}/topics/gemini-batch.succeeded"), "enableMessageOrdering": true}),
            ),
        ] {
            let response = http
                .put(format!("{base}/{path}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.text().await.unwrap()
            );
        }
        let client = BasePublisher::builder()
            .with_endpoint(format!("http://127.0.0.1:{}", proxy.port()))
            .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
            .build()
            .await
            .unwrap();
        let mut sink = PubSubSink::new(client, PROJECT, Subject::parse("gemini-{type}").unwrap());
        if ordered {
            sink = sink.ordered_by_job();
        }
        Self {
            emulator,
            proxy,
            sink: Arc::new(sink),
            http,
            taken: Mutex::default(),
        }
    }

    /// Pulls what the subscription holds, acknowledging it; the ordering keys.
    async fn pull(&self) -> Vec<String> {
        let base = format!(
            "http://{}/v1/projects/{PROJECT}/subscriptions/everything",
            self.emulator.host()
        );
        let mut keys = Vec::new();
        loop {
            let pulled: Value = self
                .http
                .post(format!("{base}:pull"))
                .json(&json!({"maxMessages": 100, "returnImmediately": true}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let Some(messages) = pulled["receivedMessages"]
                .as_array()
                .filter(|m| !m.is_empty())
            else {
                return keys;
            };
            let mut ack_ids = Vec::new();
            for received in messages {
                let message = &received["message"];
                let attribute =
                    |name: &str| message["attributes"][name].as_str().map(str::to_owned);
                let data = base64::engine::general_purpose::STANDARD
                    .decode(message["data"].as_str().unwrap())
                    .unwrap();
                keys.push(
                    message["orderingKey"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
                self.taken.lock().unwrap().push(Received {
                    subject: "gemini-batch.succeeded".to_owned(),
                    attributes: [
                        attribute("webhook-id"),
                        attribute("webhook-timestamp"),
                        attribute("gemini-event-type"),
                    ],
                    body: Bytes::from(data),
                });
                ack_ids.push(received["ackId"].clone());
            }
            self.http
                .post(format!("{base}:acknowledge"))
                .json(&json!({"ackIds": ack_ids}))
                .send()
                .await
                .unwrap();
        }
    }
}

impl Broker for PubSub {
    fn sink(&self) -> Arc<dyn Sink> {
        self.sink.clone()
    }

    async fn received(&self) -> Vec<Received> {
        self.pull().await;
        self.taken.lock().unwrap().clone()
    }

    fn stop(&mut self) {
        self.proxy.cut();
    }

    fn start_again(&mut self) {
        self.proxy.restore();
    }
}

// Pub/Sub does not de-duplicate publishes.
sink_suite!(start: PubSub::start(false).await, subject: "gemini-batch.succeeded", once: false, probe: false);

/// With ordering by job, the ordering key is the Gemini job's name.
#[tokio::test]
async fn ordered_by_job_the_ordering_key_is_the_job() {
    let pubsub = PubSub::start(true).await;
    let published = pubsub
        .sink
        .publish(&common::message("msg_ordered"))
        .await
        .unwrap();
    assert!(published.broker_id.is_some());
    assert_eq!(pubsub.pull().await, ["batches/b1"]);
}

/// A topic that does not exist is an error, not a confirmation.
#[tokio::test]
async fn a_missing_topic_is_not_confirmed() {
    let pubsub = PubSub::start(false).await;
    let client = BasePublisher::builder()
        .with_endpoint(format!("http://{}", pubsub.emulator.host()))
        .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
        .build()
        .await
        .unwrap();
    let sink = PubSubSink::new(client, PROJECT, Subject::parse("missing").unwrap())
        .timeout(Duration::from_secs(5));
    assert!(sink.publish(&common::message("msg_nowhere")).await.is_err());
}

/// `Debug` names the project, the topic template and the ordering.
#[tokio::test]
async fn debug_shows_project_topic_and_ordering() {
    let pubsub = PubSub::start(true).await;
    let shown = format!("{:?}", pubsub.sink);
    for part in ["PubSubSink {", PROJECT, "gemini-{type}", "ordered: true"] {
        assert!(shown.contains(part), "{part} not in {shown}");
    }
}
