//! [`PubSubSink`]: Google Cloud Pub/Sub on Google's official client,
//! confirmed by the message id the service assigns.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use google_cloud_pubsub::client::{BasePublisher, Publisher};
use google_cloud_pubsub::error::PublishError as ClientError;
use google_cloud_pubsub::model::Message as PubsubMessage;

use crate::sink::{Message, PublishError, Published, Subject};

const KIND: &str = "pubsub";

/// The variable that points Google's clients at the emulator.
pub const EMULATOR_HOST: &str = "PUBSUB_EMULATOR_HOST";

/// Publishes to a Pub/Sub topic of a project (the topic's id may hold
/// `{type}`: a publisher per topic is made on first use). Each message's
/// data is the raw body, its attributes `webhook-id`, `webhook-timestamp`
/// and `gemini-event-type`; with [`ordered_by_job`](Self::ordered_by_job),
/// its ordering key is the Gemini job, so a subscription with message
/// ordering delivers one job's events in order.
///
/// Pub/Sub does not de-duplicate on publish: consumers should, on the
/// `webhook-id` attribute (a subscription with exactly-once delivery
/// de-duplicates redeliveries, not publishes).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use gemini_webhooks_bridge::{pubsub::PubSubSink, sink::Subject};
///
/// // Application Default Credentials, or the emulator at PUBSUB_EMULATOR_HOST.
/// let sink = PubSubSink::connect("my-project", Subject::parse("gemini-events")?).await?;
/// # Ok(()) }
/// ```
pub struct PubSubSink {
    client: BasePublisher,
    project: String,
    topic: Subject,
    ordered: bool,
    timeout: Duration,
    publishers: Mutex<HashMap<String, Publisher>>,
}

/// The Pub/Sub client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("the Pub/Sub client could not be built")]
pub struct PubSubSinkError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Debug for PubSubSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSubSink")
            .field("project", &self.project)
            .field("topic", &self.topic)
            .field("ordered", &self.ordered)
            .finish_non_exhaustive()
    }
}

impl PubSubSink {
    /// A sink on `client` (built with the caller's credentials and
    /// endpoint) publishing to `topic` in `project`, waiting up to
    /// 10 seconds for each message id.
    pub fn new(client: BasePublisher, project: impl Into<String>, topic: Subject) -> Self {
        Self {
            client,
            project: project.into(),
            topic,
            ordered: false,
            timeout: Duration::from_secs(10),
            publishers: Mutex::default(),
        }
    }

    /// A sink with Application Default Credentials, or — when
    /// `PUBSUB_EMULATOR_HOST` is set, as with Google's other clients — the
    /// emulator there, without credentials.
    pub async fn connect(
        project: impl Into<String>,
        topic: Subject,
    ) -> Result<Self, PubSubSinkError> {
        let mut builder = BasePublisher::builder();
        if let Some(host) = std::env::var(EMULATOR_HOST)
            .ok()
            .filter(|host| !host.is_empty())
        {
            builder = builder
                .with_endpoint(format!("http://{host}"))
                .with_credentials(
                    google_cloud_auth::credentials::anonymous::Builder::new().build(),
                );
        }
        let client = builder
            .build()
            .await
            .map_err(|err| PubSubSinkError(err.into()))?;
        Ok(Self::new(client, project, topic))
    }

    /// Sets each message's ordering key to its Gemini job (`batches/…`).
    pub fn ordered_by_job(mut self) -> Self {
        self.ordered = true;
        self
    }

    /// How long to wait for a message id before the publish ends
    /// [unconfirmed](PublishError::may_have_published).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The publisher of the topic `message` goes to.
    fn publisher(&self, message: &Message) -> Publisher {
        let topic = format!(
            "projects/{}/topics/{}",
            self.project,
            self.topic.render(message.event_type())
        );
        let mut publishers = self
            .publishers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        publishers
            .entry(topic)
            .or_insert_with_key(|topic| self.client.publisher(topic.clone()).build())
            .clone()
    }

    async fn send(&self, message: &Message) -> Result<Published, PublishError> {
        let mut outgoing = PubsubMessage::new()
            .set_data(message.body().clone())
            .set_attributes(message.headers());
        let ordering_key = self.ordered.then(|| message.job()).flatten();
        if let Some(key) = ordering_key {
            outgoing = outgoing.set_ordering_key(key);
        }
        let publisher = self.publisher(message);
        let published = tokio::time::timeout(self.timeout, publisher.publish(outgoing)).await;
        let error = match published {
            Ok(Ok(id)) => return Ok(Published::with_id(id)),
            // Handed to the client's batch: it may still go out.
            Err(elapsed) => PublishError::unconfirmed(KIND, "no message id", elapsed),
            Ok(Err(err @ ClientError::Rpc(_))) => {
                PublishError::unconfirmed(KIND, "no message id", err)
            }
            Ok(Err(err)) => PublishError::not_published(KIND, "not sent", err),
        };
        if let Some(key) = ordering_key {
            // The client pauses a key after a failure; the retry resumes it.
            publisher.resume_publish(key);
        }
        Err(error)
    }
}

crate::sink::macros::sink_impl!(PubSubSink, send {});
