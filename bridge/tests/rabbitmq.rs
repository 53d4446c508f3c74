//! The RabbitMQ sink against a virtual host of the test's own on the
//! machine's RabbitMQ, reached through a proxy the test cuts to take the
//! broker away.
#![cfg(feature = "rabbitmq")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};

use common::{Broker, Received};
use gemini_webhooks_bridge::rabbitmq::RabbitSink;
use gemini_webhooks_bridge::sink::{Sink, Subject};
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use testdb::{OwnVhost, Proxy};

struct Rabbit {
    _vhost: OwnVhost,
    proxy: Proxy,
    sink: Arc<RabbitSink>,
    admin: Channel,
    _connection: Connection,
    /// What the queue gave so far (a get takes the message).
    taken: Mutex<Vec<Received>>,
}

const EXCHANGE: &str = "gemini";
const QUEUE: &str = "everything";

impl Rabbit {
    async fn start() -> Self {
        let vhost = OwnVhost::create();
        let connection = Connection::connect(&vhost.url(), ConnectionProperties::default())
            .await
            .unwrap();
        let admin = connection.create_channel().await.unwrap();
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        admin
            .exchange_declare(
                EXCHANGE.into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await
            .unwrap();
        let queue = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        admin
            .queue_declare(QUEUE.into(), queue, FieldTable::default())
            .await
            .unwrap();
        admin
            .queue_bind(
                QUEUE.into(),
                EXCHANGE.into(),
                "gemini.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let proxy = Proxy::start(&OwnVhost::host());
        let url = vhost.url_through(&format!("127.0.0.1:{}", proxy.port()));
        let sink = RabbitSink::new(url, EXCHANGE, Subject::parse("gemini.{type}").unwrap());
        Self {
            _vhost: vhost,
            proxy,
            sink: Arc::new(sink),
            admin,
            _connection: connection,
            taken: Mutex::default(),
        }
    }
}

impl Broker for Rabbit {
    fn sink(&self) -> Arc<dyn Sink> {
        self.sink.clone()
    }

    async fn received(&self) -> Vec<Received> {
        let no_ack = BasicGetOptions { no_ack: true };
        while let Some(message) = self.admin.basic_get(QUEUE.into(), no_ack).await.unwrap() {
            let properties = &message.delivery.properties;
            assert_eq!(properties.delivery_mode(), &Some(2), "persistent");
            let headers = properties.headers().clone().unwrap_or_default();
            let header = |name: &str| match headers.inner().get(name) {
                Some(AMQPValue::LongString(value)) => Some(value.to_string()),
                _ => None,
            };
            let id = header("webhook-id");
            assert_eq!(
                properties.message_id().as_ref().map(|id| id.to_string()),
                id
            );
            let received = Received {
                subject: message.delivery.routing_key.to_string(),
                attributes: [id, header("webhook-timestamp"), header("gemini-event-type")],
                body: message.delivery.data.clone().into(),
            };
            self.taken.lock().unwrap().push(received);
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

// RabbitMQ does not de-duplicate: a publish whose confirm was lost may be
// there twice.
sink_suite!(start: Rabbit::start().await, subject: "gemini.batch.succeeded", once: false, probe: true);

/// A routing key no queue is bound to comes back: not published, and said
/// so, rather than dropped by the exchange.
#[tokio::test]
async fn an_unroutable_message_is_not_published() {
    let rabbit = Rabbit::start().await;
    let url = rabbit._vhost.url();
    let sink = RabbitSink::new(url, EXCHANGE, Subject::parse("elsewhere.{type}").unwrap());
    let err = sink
        .publish(&common::message("msg_nowhere"))
        .await
        .unwrap_err();
    assert!(!err.may_have_published(), "{err}");
    assert!(err.to_string().contains("no queue"), "{err}");
    assert!(sink.ready().await.is_ok());
}

/// Publishes share one connection and its channel (no connection per
/// message); after the broker went away the next publish reconnects once.
/// `Debug` shows the exchange, never the URL and its password.
#[tokio::test]
async fn publishes_share_one_connection_until_it_is_lost() {
    let rabbit = Rabbit::start().await;
    for id in ["msg_1", "msg_2", "msg_3"] {
        rabbit.sink.publish(&common::message(id)).await.unwrap();
    }
    assert_eq!(rabbit.proxy.accepted(), 1);
    rabbit.proxy.cut();
    rabbit.proxy.restore();
    // Bounded: lapin notices the closed connection when it next reads.
    for _ in 0..600 {
        if rabbit.sink.publish(&common::message("msg_4")).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    rabbit
        .sink
        .publish(&common::message("msg_5"))
        .await
        .unwrap();
    assert_eq!(rabbit.proxy.accepted(), 2, "reconnected once");
    let shown = format!("{:?}", rabbit.sink);
    assert!(
        shown.starts_with("RabbitSink {") && shown.contains(EXCHANGE),
        "{shown}"
    );
    let password = url::Url::parse(&rabbit._vhost.url())
        .unwrap()
        .password()
        .unwrap()
        .to_owned();
    assert!(!shown.contains(&password), "{shown}");
}
