//! [`SqsSink`]: Amazon SQS on the AWS SDK, confirmed by SendMessage's
//! result; on FIFO queues de-duplicated on the webhook id and grouped by
//! the Gemini job.

use std::time::Duration;

use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::types::MessageAttributeValue;
use sha2::{Digest, Sha256};

use crate::sink::{Message, PublishError, Published};

const KIND: &str = "sqs";

/// SQS takes a de-duplication id of at most 128 characters.
const MAX_DEDUPLICATION_ID: usize = 128;

/// Sends each message to a queue: the raw body as the message body (SQS
/// bodies are text: a Gemini body is JSON, so UTF-8), the attributes as
/// `String` message attributes. On a FIFO queue (its URL ends in `.fifo`)
/// `MessageDeduplicationId` is the webhook id, so a delivery sent twice
/// within SQS's five-minute window is one message, and `MessageGroupId` is
/// the Gemini job (`gemini` for an event that names none), so one job's
/// events are received in order. On a standard queue consumers should
/// de-duplicate on the `webhook-id` attribute.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use gemini_webhooks_bridge::sqs::SqsSink;
///
/// // Credentials, and AWS_ENDPOINT_URL if set, as the AWS SDK finds them.
/// let sink = SqsSink::connect("https://sqs.eu-west-1.amazonaws.com/123456789012/gemini.fifo", "eu-west-1").await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    fifo: bool,
    timeout: Duration,
}

impl SqsSink {
    /// Sends to `queue_url` through `client` (the caller's configuration),
    /// waiting up to 10 seconds for each result.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        let queue_url = queue_url.into();
        Self {
            client,
            fifo: queue_url.ends_with(".fifo"),
            queue_url,
            timeout: Duration::from_secs(10),
        }
    }

    /// A sink with the AWS SDK's own configuration (credentials from the
    /// environment, a profile or the instance; `AWS_ENDPOINT_URL` for an
    /// emulator) in `region`.
    pub async fn connect(queue_url: impl Into<String>, region: impl Into<String>) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.into()))
            .load()
            .await;
        Self::new(aws_sdk_sqs::Client::new(&config), queue_url)
    }

    /// How long to wait for SendMessage's result before the publish ends
    /// [unconfirmed](PublishError::may_have_published).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn send(&self, message: &Message) -> Result<Published, PublishError> {
        let body = std::str::from_utf8(message.body()).map_err(|_| {
            PublishError::refused(KIND, "the body is not UTF-8 text, which SQS needs")
        })?;
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body);
        for (name, value) in message.headers() {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|err| PublishError::not_published(KIND, "bad attribute", err))?;
            request = request.message_attributes(name, attribute);
        }
        if self.fifo {
            request = request
                .message_deduplication_id(deduplication_id(message.id()))
                .message_group_id(message.job().unwrap_or("gemini"));
        }
        let sent = tokio::time::timeout(self.timeout, request.send())
            .await
            .map_err(|elapsed| PublishError::unconfirmed(KIND, "no result", elapsed))?;
        match sent {
            Ok(output) => Ok(output
                .message_id()
                .map_or_else(Published::new, Published::with_id)),
            Err(err @ (SdkError::ConstructionFailure(_) | SdkError::ServiceError(_))) => {
                Err(PublishError::not_published(KIND, "not sent", err))
            }
            // The request may have reached SQS.
            Err(err) => Err(PublishError::unconfirmed(KIND, "no result", err)),
        }
    }
}

/// The webhook id, or its SHA-256 in hex when longer than SQS takes.
fn deduplication_id(id: &str) -> String {
    if id.len() <= MAX_DEDUPLICATION_ID {
        return id.to_owned();
    }
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

crate::sink::macros::sink_impl!(SqsSink, send {
    /// SQS answers `GetQueueAttributes` for the queue. A refusal of the
    /// call itself (a send-only IAM policy) is still an answer: ready; a
    /// queue that does not exist is not.
    fn ready(&self) -> crate::sink::BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(crate::sink::answers_within(KIND, async {
            let probe = self.client.get_queue_attributes().queue_url(&self.queue_url);
            match probe.send().await {
                Err(SdkError::ServiceError(err)) if !err.err().is_queue_does_not_exist() => Ok(()),
                answer => answer.map(drop),
            }
        }))
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_id_is_hashed_to_fit() {
        assert_eq!(deduplication_id("msg_1"), "msg_1");
        let exactly = "x".repeat(128);
        assert_eq!(deduplication_id(&exactly), exactly);
        let long = deduplication_id(&"x".repeat(129));
        assert_eq!(long.len(), 64);
        assert_ne!(long, deduplication_id(&"x".repeat(130)));
    }
}
