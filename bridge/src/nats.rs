//! [`NatsSink`]: NATS JetStream, confirmed by the stream's PubAck and
//! de-duplicated by the server on `Nats-Msg-Id`.

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind};
use async_nats::{HeaderMap, header::NATS_MESSAGE_ID};

use crate::sink::{Message, PublishError, Published, Subject};

const KIND: &str = "nats";

/// Publishes to a JetStream stream: each message on `subject` (which may
/// hold `{type}`), with the `Nats-Msg-Id` header set to the webhook id, so
/// the stream keeps one copy of a delivery published twice within its
/// duplicate window (2 minutes by default: set `duplicate_window` to the
/// bridge's dedup TTL or more).
///
/// The stream must exist and take the subjects (`nats stream add GEMINI
/// --subjects 'gemini.>'`); a subject no stream takes fails every publish
/// with "no stream found", not published.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use gemini_webhooks_bridge::{nats::NatsSink, sink::Subject};
///
/// let client = async_nats::ConnectOptions::new()
///     .retry_on_initial_connect()
///     .connect("nats://127.0.0.1:4222")
///     .await?;
/// let sink = NatsSink::new(client, Subject::parse("gemini.{type}")?);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct NatsSink {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    subject: Subject,
}

impl NatsSink {
    /// Publishes on `subject` through `client` (the caller's connection:
    /// its options, credentials and TLS are the caller's), waiting up to
    /// 5 seconds for each PubAck.
    pub fn new(client: async_nats::Client, subject: Subject) -> Self {
        let jetstream = jetstream::new(client.clone());
        Self {
            client,
            jetstream,
            subject,
        }
    }

    /// How long to wait for a PubAck before the publish ends
    /// [unconfirmed](PublishError::may_have_published).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.jetstream.set_timeout(timeout);
        self
    }

    async fn send(&self, message: &Message) -> Result<Published, PublishError> {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, message.id());
        for (name, value) in message.headers() {
            headers.insert(name, value);
        }
        let subject = self.subject.render(message.event_type()).into_owned();
        let ack = self
            .jetstream
            .publish_with_headers(subject, headers, message.body().clone())
            .await
            .map_err(|err| PublishError::not_published(KIND, "not sent", err))?
            .await
            .map_err(|err| match err.kind() {
                // Handed to the client: it may still reach the stream.
                PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => {
                    PublishError::unconfirmed(KIND, "no PubAck", err)
                }
                _ => PublishError::not_published(KIND, "refused", err),
            })?;
        let published = Published::with_id(format!("{}:{}", ack.stream, ack.sequence));
        Ok(if ack.duplicate {
            published.duplicate()
        } else {
            published
        })
    }
}

crate::sink::macros::sink_impl!(NatsSink, send {
    /// The server answers a round trip (a flush) within 5 seconds.
    fn ready(&self) -> crate::sink::BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(crate::sink::answers_within(KIND, self.client.flush()))
    }
});
