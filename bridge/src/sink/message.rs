//! [`Message`]: one verified delivery as every sink publishes it.

use bytes::Bytes;
use gemini_webhooks::{Delivery, EventError};

/// The attribute (header) that carries the delivery's `webhook-id`: the
/// key a consumer de-duplicates on.
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// The attribute that carries the delivery's `webhook-timestamp` (Unix
/// seconds, as sent).
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The attribute that carries the event's `type` (`batch.succeeded`, …),
/// so a consumer can route without parsing the body.
pub const EVENT_TYPE_HEADER: &str = "gemini-event-type";

/// One verified delivery, ready to publish: the raw body exactly as
/// Gemini signed it, and what a broker keeps beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    id: String,
    timestamp: String,
    event_type: String,
    job: Option<String>,
    completion_key: Option<String>,
    body: Bytes,
}

impl Message {
    /// The message for `delivery`; an error if its body is not a Gemini
    /// event (no `type` to route on; answered `422`).
    pub fn from_delivery(delivery: &Delivery) -> Result<Self, EventError> {
        let parsed;
        let event = match delivery.parsed_event() {
            Some(event) => event,
            None => {
                parsed = delivery.event()?;
                &parsed
            }
        };
        Ok(Self {
            id: delivery.id().to_owned(),
            timestamp: delivery.unix_timestamp().to_string(),
            event_type: event.event_type().to_owned(),
            job: event.resource_id().map(str::to_owned),
            completion_key: event.completion_key(),
            body: delivery.body().clone(),
        })
    }

    /// The delivery's `webhook-id` (`poll:…` for a completion an inbox's
    /// reconciler read from the API).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The delivery's `webhook-timestamp`, in Unix seconds.
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// The event's `type`, e.g. `batch.succeeded`.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The Gemini job the event is about (`batches/…`), if it names one:
    /// an ordering key or message group for brokers that have them.
    pub fn job(&self) -> Option<&str> {
        self.job.as_deref()
    }

    /// The key of the Gemini job this event ends (`batch:b1`), `None` for
    /// an event that ends none
    /// ([`GeminiEvent::completion_key`](gemini_webhooks::GeminiEvent::completion_key)):
    /// one ending per job, whatever its type or whether a webhook or an
    /// inbox's poll delivered it.
    pub fn completion_key(&self) -> Option<&str> {
        self.completion_key.as_deref()
    }

    /// The raw verified body, byte for byte.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The attributes every message carries, by name:
    /// [`webhook-id`](WEBHOOK_ID_HEADER), [`webhook-timestamp`](TIMESTAMP_HEADER)
    /// and [`gemini-event-type`](EVENT_TYPE_HEADER).
    pub fn headers(&self) -> [(&'static str, &str); 3] {
        [
            (WEBHOOK_ID_HEADER, &self.id),
            (TIMESTAMP_HEADER, &self.timestamp),
            (EVENT_TYPE_HEADER, &self.event_type),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gemini_webhooks::testing::Signer;

    fn delivery(body: &str) -> Delivery {
        let secret = gemini_webhooks::testing::generate_secret();
        let verifier = gemini_webhooks::Verifier::builder()
            .secret(&secret)
            .unwrap()
            .build()
            .unwrap();
        let headers = Signer::hmac(&secret)
            .unwrap()
            .id("msg_1")
            .sign(body.as_bytes());
        verifier.verify(&headers, body.as_bytes()).unwrap()
    }

    #[test]
    fn a_message_keeps_the_body_and_names_id_timestamp_type_and_job() {
        let body = r#"{"type":"batch.succeeded","data":{"id":"batches/7"}}"#;
        let delivery = delivery(body);
        let message = Message::from_delivery(&delivery).unwrap();
        assert_eq!(message.body().as_ref(), body.as_bytes());
        assert_eq!(message.job(), Some("batches/7"));
        assert_eq!(message.completion_key(), Some("batch:7"));
        let timestamp = delivery.unix_timestamp().to_string();
        assert_eq!(
            message.headers(),
            [
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", timestamp.as_str()),
                ("gemini-event-type", "batch.succeeded"),
            ]
        );
    }

    #[test]
    fn a_body_that_is_not_an_event_is_an_error() {
        let err = Message::from_delivery(&delivery(r#"{"no":"type"}"#)).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::UNPROCESSABLE_ENTITY);
    }
}
