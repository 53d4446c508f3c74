//! Each broker of the benchmark: a throwaway server (testdb), the sink on
//! it, the broker's own client for the raw and peer modes, and an inbox
//! whose workers publish through the sink (the outbox mode).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;
use gemini_webhooks::Verifier;
use gemini_webhooks_bridge::Publisher;
use gemini_webhooks_bridge::sink::{Sink, Subject};
use gemini_webhooks_postgres::inbox::Inbox;
use http::HeaderMap;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;

/// A broker of the run's own.
pub struct Broker {
    sink: Arc<dyn Sink>,
    raw: Option<Raw>,
    /// The servers, kept alive for the run.
    _servers: Box<dyn std::any::Any>,
}

/// The broker's own client, publishing with confirmations.
#[derive(Clone)]
pub enum Raw {
    Nats(async_nats::jetstream::Context),
    Rabbit(lapin::Channel),
    PubSub(google_cloud_pubsub::client::Publisher),
}

impl Raw {
    /// Publishes `body` as delivery `id`, awaiting the confirmation.
    pub async fn publish(&self, id: &str, body: Bytes) {
        match self {
            Self::Nats(jetstream) => {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", id);
                headers.insert("webhook-id", id);
                jetstream
                    .publish_with_headers("gemini.batch.succeeded", headers, body)
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
            Self::Rabbit(channel) => {
                let properties = lapin::BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_message_id(id.into());
                let confirm = channel
                    .basic_publish(
                        "gemini".into(),
                        "gemini.batch.succeeded".into(),
                        BasicPublishOptions::default(),
                        &body,
                        properties,
                    )
                    .await
                    .unwrap();
                assert!(confirm.await.unwrap().is_ack());
            }
            Self::PubSub(publisher) => {
                let message = google_cloud_pubsub::model::Message::new()
                    .set_data(body)
                    .set_attributes([("webhook-id", id)]);
                publisher.publish(message).await.unwrap();
            }
        }
    }
}

impl Broker {
    pub async fn start(name: &str) -> Self {
        match name {
            "nats" => nats().await,
            "rabbitmq" => rabbitmq().await,
            "pubsub" => pubsub().await,
            "redis" => redis(),
            "sqs" => sqs().await,
            "river" => river().await,
            other => panic!("no broker {other}: nats, rabbitmq, pubsub, redis, sqs or river"),
        }
    }

    pub fn sink(&self) -> Arc<dyn Sink> {
        self.sink.clone()
    }

    pub fn raw(&self) -> Option<Raw> {
        self.raw.clone()
    }
}

async fn nats() -> Broker {
    use async_nats::jetstream;
    let server = testdb::OwnNats::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let context = jetstream::new(client.clone());
    context
        .create_stream(jetstream::stream::Config {
            name: "GEMINI".to_owned(),
            subjects: vec!["gemini.>".to_owned()],
            duplicate_window: Duration::from_secs(3600),
            ..Default::default()
        })
        .await
        .unwrap();
    let sink = gemini_webhooks_bridge::nats::NatsSink::new(
        client,
        Subject::parse("gemini.{type}").unwrap(),
    );
    Broker {
        sink: Arc::new(sink),
        raw: Some(Raw::Nats(context)),
        _servers: Box::new(server),
    }
}

async fn rabbitmq() -> Broker {
    let vhost = testdb::OwnVhost::create();
    let connection =
        lapin::Connection::connect(&vhost.url(), lapin::ConnectionProperties::default())
            .await
            .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            "gemini".into(),
            lapin::ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .unwrap();
    let queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare("everything".into(), queue, FieldTable::default())
        .await
        .unwrap();
    channel
        .queue_bind(
            "everything".into(),
            "gemini".into(),
            "gemini.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let sink = gemini_webhooks_bridge::rabbitmq::RabbitSink::new(
        vhost.url(),
        "gemini",
        Subject::parse("gemini.{type}").unwrap(),
    );
    Broker {
        sink: Arc::new(sink),
        raw: Some(Raw::Rabbit(channel)),
        _servers: Box::new((vhost, connection)),
    }
}

async fn pubsub() -> Broker {
    use google_cloud_pubsub::client::BasePublisher;
    let emulator = testdb::OwnPubSub::start();
    let http = reqwest::Client::new();
    let base = format!("http://{}/v1/projects/bench", emulator.host());
    http.put(format!("{base}/topics/gemini-batch.succeeded"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let subscription = serde_json::json!({"topic": "projects/bench/topics/gemini-batch.succeeded"});
    http.put(format!("{base}/subscriptions/everything"))
        .json(&subscription)
        .send()
        .await
        .unwrap();
    let client = BasePublisher::builder()
        .with_endpoint(format!("http://{}", emulator.host()))
        .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
        .build()
        .await
        .unwrap();
    let raw = client
        .publisher("projects/bench/topics/gemini-batch.succeeded")
        .build();
    let sink = gemini_webhooks_bridge::pubsub::PubSubSink::new(
        client,
        "bench",
        Subject::parse("gemini-{type}").unwrap(),
    );
    Broker {
        sink: Arc::new(sink),
        raw: Some(Raw::PubSub(raw)),
        _servers: Box::new(emulator),
    }
}

fn redis() -> Broker {
    let server = testdb::OwnRedis::start();
    let client = redis::Client::open(server.url()).unwrap();
    let sink = gemini_webhooks_bridge::redis::RedisSink::new(
        client,
        Subject::parse("gemini:{type}").unwrap(),
    );
    Broker {
        sink: Arc::new(sink),
        raw: None,
        _servers: Box::new(server),
    }
}

async fn sqs() -> Broker {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    let moto = testdb::OwnMoto::start();
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto.url())
        .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
        .build();
    let client = aws_sdk_sqs::Client::from_conf(config);
    let created = client
        .create_queue()
        .queue_name("gemini.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap();
    let sink = gemini_webhooks_bridge::sqs::SqsSink::new(client, created.queue_url().unwrap());
    Broker {
        sink: Arc::new(sink),
        raw: None,
        _servers: Box::new(moto),
    }
}

async fn river() -> Broker {
    let url = testdb::postgres_url();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(32)
        .connect(&url)
        .await
        .unwrap();
    riverqueue_migrate::PostgresMigrator::new(pool.clone())
        .migrate_up()
        .await
        .unwrap();
    sqlx::query("TRUNCATE river_job")
        .execute(&pool)
        .await
        .unwrap();
    let sink = gemini_webhooks_bridge::river::RiverSink::new(pool, "gemini").unwrap();
    Broker {
        sink: Arc::new(sink),
        raw: None,
        _servers: Box::new(()),
    }
}

/// The peer: an axum handler on the reference crate that verifies,
/// publishes with the broker's own client and answers `200`.
pub fn peer(secret: &str, raw: Raw) -> Router {
    struct Peer {
        webhook: standardwebhooks::Webhook,
        raw: Raw,
    }
    async fn handle(State(peer): State<Arc<Peer>>, headers: HeaderMap, body: Bytes) -> StatusCode {
        if peer.webhook.verify(&body, &headers).is_err() {
            return StatusCode::UNAUTHORIZED;
        }
        let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) else {
            return StatusCode::BAD_REQUEST;
        };
        peer.raw.publish(id, body.clone()).await;
        StatusCode::OK
    }
    let peer = Peer {
        webhook: standardwebhooks::Webhook::new(secret).unwrap(),
        raw,
    };
    Router::new()
        .route("/hook", axum::routing::post(handle))
        .with_state(Arc::new(peer))
}

/// An inbox whose workers publish through the broker's sink.
pub struct Outbox {
    inbox: Inbox,
}

impl Outbox {
    pub async fn start(broker: &Broker) -> Self {
        let table = format!("bench_outbox_{}", std::process::id());
        let inbox = Inbox::builder(testdb::postgres_url())
            .table(table)
            .build()
            .unwrap();
        inbox.check().await.unwrap();
        let worker = inbox
            .worker(Publisher::new(broker.sink()).handler())
            .complete_in_batches()
            .concurrency(64);
        tokio::spawn(worker.run_until(std::future::pending()));
        Self { inbox }
    }

    pub fn service(&self, verifier: Verifier) -> gemini_webhooks_postgres::inbox::InboxService {
        self.inbox.service(verifier)
    }

    /// Waits until `jobs` are done (published and confirmed).
    pub async fn wait_for_done(&self, jobs: usize) {
        loop {
            let counts = self.inbox.counts().await.unwrap();
            assert_eq!(counts.dead, 0, "dead letters: the broker refused");
            if counts.done as usize >= jobs {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
