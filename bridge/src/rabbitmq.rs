//! [`RabbitSink`]: RabbitMQ, persistent messages confirmed by publisher
//! confirms, `message_id` = webhook id.

use std::sync::PoisonError;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use crate::sink::{Message, PublishError, Published, Subject};

const KIND: &str = "rabbitmq";

/// AMQP delivery mode 2: written to disk by a durable queue.
const PERSISTENT: u8 = 2;

/// Publishes to an exchange (empty: the default exchange, where the
/// routing key names the queue) with a routing key that may hold
/// `{type}`. Each message is persistent, `mandatory` (a message no queue
/// takes comes back and is reported as not published instead of being
/// dropped), carries `message_id` = the webhook id and the attributes as
/// headers, and is confirmed by a publisher confirm. RabbitMQ does not
/// de-duplicate: consumers should, on `message_id`.
///
/// The connection is opened on first use and again after it is lost, so
/// the sink can be built while RabbitMQ is down.
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use gemini_webhooks_bridge::{rabbitmq::RabbitSink, sink::Subject};
///
/// let sink = RabbitSink::new("amqp://guest:guest@127.0.0.1:5672/%2f", "gemini", Subject::parse("{type}")?);
/// # Ok(()) }
/// ```
pub struct RabbitSink {
    url: String,
    exchange: ShortString,
    routing_key: Subject,
    timeout: Duration,
    /// The open channel, read by every publish without waiting.
    current: std::sync::RwLock<Option<Channel>>,
    /// Held while (re)connecting, so one caller connects at a time; keeps
    /// the connection the channel is on.
    open: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for RabbitSink {
    // Not the URL: it carries a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitSink")
            .field("exchange", &self.exchange.as_str())
            .field("routing_key", &self.routing_key)
            .finish_non_exhaustive()
    }
}

impl RabbitSink {
    /// Publishes to `exchange` with `routing_key` on the server at `url`
    /// (`amqp://` or `amqps://`), waiting up to 5 seconds to connect and
    /// for each confirm.
    pub fn new(url: impl Into<String>, exchange: &str, routing_key: Subject) -> Self {
        Self {
            url: url.into(),
            exchange: exchange.into(),
            routing_key,
            timeout: Duration::from_secs(5),
            current: std::sync::RwLock::new(None),
            open: Mutex::new(None),
        }
    }

    /// How long to wait to connect and for each confirm.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The channel in confirm mode, opening the connection if it is not
    /// open. One caller connects at a time; the others wait for it.
    async fn channel(&self) -> Result<Channel, PublishError> {
        if let Some(channel) = self.open_channel() {
            return Ok(channel);
        }
        let mut open = self.open.lock().await;
        // Another caller may have connected while this one waited.
        if let Some(channel) = self.open_channel() {
            return Ok(channel);
        }
        let connect = async {
            let connection =
                Connection::connect(&self.url, ConnectionProperties::default()).await?;
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok::<_, lapin::Error>((connection, channel))
        };
        let (connection, channel) = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|elapsed| PublishError::not_published(KIND, "could not connect", elapsed))?
            .map_err(|err| PublishError::not_published(KIND, "could not connect", err))?;
        *open = Some(connection);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(channel.clone());
        Ok(channel)
    }

    /// The current channel, if it is still open.
    fn open_channel(&self) -> Option<Channel> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|channel| channel.status().connected())
            .cloned()
    }

    async fn send(&self, message: &Message) -> Result<Published, PublishError> {
        let channel = self.channel().await?;
        let mut headers = FieldTable::default();
        for (name, value) in message.headers() {
            headers.insert(name.into(), AMQPValue::LongString(LongString::from(value)));
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_message_id(message.id().into())
            .with_content_type("application/json".into())
            .with_headers(headers);
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let routing_key = self.routing_key.render(message.event_type());
        let confirm = channel
            .basic_publish(
                self.exchange.clone(),
                routing_key.as_ref().into(),
                options,
                message.body(),
                properties,
            )
            .await
            .map_err(|err| PublishError::not_published(KIND, "not sent", err))?;
        let confirmation = tokio::time::timeout(self.timeout, confirm)
            .await
            .map_err(|elapsed| PublishError::unconfirmed(KIND, "no confirm", elapsed))?
            .map_err(|err| PublishError::unconfirmed(KIND, "no confirm", err))?;
        match confirmation {
            Confirmation::Ack(None) => Ok(Published::new()),
            Confirmation::Ack(Some(_)) => Err(PublishError::refused(
                KIND,
                "no queue is bound to the routing key: returned",
            )),
            Confirmation::Nack(_) => {
                Err(PublishError::refused(KIND, "refused by the broker (nack)"))
            }
            Confirmation::NotRequested => Err(PublishError::refused(
                KIND,
                "the channel is not in confirm mode",
            )),
        }
    }
}

crate::sink::macros::sink_impl!(RabbitSink, send {
    /// The channel is open, or opens, and RabbitMQ answers on it: a
    /// `basic.qos` round trip (harmless on a channel that only publishes),
    /// since a connection the broker dropped still looks open until lapin
    /// next reads from it.
    fn ready(&self) -> crate::sink::BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async {
            let channel = self.channel().await?;
            let round_trip = channel.basic_qos(0, BasicQosOptions::default());
            crate::sink::answers_within(KIND, round_trip).await
        })
    }
});
