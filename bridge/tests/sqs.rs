//! The SQS sink against a `moto_server` of the test's own, reached through
//! a proxy the test cuts to take the service away.
#![cfg(feature = "sqs")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use common::{Broker, Received};
use gemini_webhooks_bridge::sink::Sink;
use gemini_webhooks_bridge::sqs::SqsSink;
use testdb::{OwnMoto, Proxy};

struct Sqs {
    _moto: OwnMoto,
    proxy: Proxy,
    admin: aws_sdk_sqs::Client,
    queue_url: String,
    sink: Arc<SqsSink>,
    /// What the queue gave so far (each is deleted once received).
    taken: Mutex<Vec<Received>>,
}

fn client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

impl Sqs {
    async fn start(queue: &str) -> Self {
        let moto = OwnMoto::start();
        let admin = client(&moto.url());
        let mut create = admin.create_queue().queue_name(queue);
        if queue.ends_with(".fifo") {
            create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
        }
        let queue_url = create.send().await.unwrap().queue_url().unwrap().to_owned();
        let proxy = Proxy::start(&format!("127.0.0.1:{}", moto.port()));
        let through = client(&format!("http://127.0.0.1:{}", proxy.port()));
        let sink = SqsSink::new(through, &queue_url);
        Self {
            _moto: moto,
            proxy,
            admin,
            queue_url,
            sink: Arc::new(sink),
            taken: Mutex::default(),
        }
    }
}

impl Broker for Sqs {
    fn sink(&self) -> Arc<dyn Sink> {
        self.sink.clone()
    }

    async fn received(&self) -> Vec<Received> {
        loop {
            let output = self
                .admin
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            let messages = output.messages();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                let attribute = |name: &str| {
                    message
                        .message_attributes()
                        .and_then(|attributes| attributes.get(name))
                        .and_then(|value| value.string_value())
                        .map(str::to_owned)
                };
                self.taken.lock().unwrap().push(Received {
                    subject: self.queue_url.rsplit('/').next().unwrap().to_owned(),
                    attributes: [
                        attribute("webhook-id"),
                        attribute("webhook-timestamp"),
                        attribute("gemini-event-type"),
                    ],
                    body: Bytes::from(message.body().unwrap().to_owned()),
                });
                let handle = message.receipt_handle().unwrap();
                self.admin
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap();
            }
        }
        self.taken.lock().unwrap().clone()
    }

    fn stop(&mut self) {
        self.proxy.cut();
    }

    fn start_again(&mut self) {
        self.proxy.restore();
    }
}

// On a FIFO queue SQS de-duplicates on the webhook id.
sink_suite!(start: Sqs::start("gemini.fifo").await, subject: "gemini.fifo", once: true, probe: true);

/// A second send of one webhook id to a FIFO queue is SQS's duplicate.
#[tokio::test]
async fn a_fifo_queue_keeps_one_copy_of_a_webhook_id() {
    let sqs = Sqs::start("gemini.fifo").await;
    let message = common::message("msg_twice");
    sqs.sink.publish(&message).await.unwrap();
    sqs.sink.publish(&message).await.unwrap();
    assert_eq!(sqs.received().await.len(), 1);
}

/// A queue that does not exist is refused, not published, and the sink
/// is not ready.
#[tokio::test]
async fn a_missing_queue_is_not_published() {
    let sqs = Sqs::start("gemini").await;
    let missing = sqs.queue_url.replace("/gemini", "/missing");
    let sink = SqsSink::new(sqs.admin.clone(), missing);
    let err = sink
        .publish(&common::message("msg_nowhere"))
        .await
        .unwrap_err();
    assert!(!err.may_have_published(), "{err}");
    assert!(sink.ready().await.is_err());
}

/// A standard queue (no de-duplication id, no group) takes the message
/// with its attributes: consumers de-duplicate on `webhook-id`.
#[tokio::test]
async fn a_standard_queue_takes_the_message_with_its_attributes() {
    let sqs = Sqs::start("gemini").await;
    sqs.sink
        .publish(&common::message("msg_standard"))
        .await
        .unwrap();
    let received = sqs.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].attributes[0].as_deref(), Some("msg_standard"));
    assert_eq!(
        received[0].body,
        bytes::Bytes::from_static(common::BATCH.as_bytes())
    );
}
