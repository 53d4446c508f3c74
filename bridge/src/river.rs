//! [`RiverSink`]: River, the PostgreSQL job queue, on its Rust client: one
//! unique job per delivery (per ending, for an event that ends a Gemini
//! job), inserted in a transaction.

use std::time::Duration;

use riverqueue::{InsertOpts, JobArgs, UniqueOpts};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::sink::{Message, PublishError, Published};

const KIND: &str = "river";

/// The job a [`RiverSink`] inserts: the delivery's attributes and its raw
/// body (JSON text, byte for byte), kind `gemini_webhook`. A worker in any
/// of River's languages decodes these fields; `body` parses as the Gemini
/// event.
///
/// Unique on `unique_key` (River's unique jobs, by argument): the ending's
/// completion key for an event that ends a Gemini job (`batch:b1`: its
/// webhook and an inbox's poll of it are one job), else the webhook id.
/// While a job with that key is in the table (until River's cleaner
/// removes it, a day after completion by default) a second insert is
/// confirmed as a [duplicate](Published::duplicate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeminiWebhookArgs {
    /// The delivery's `webhook-id`.
    pub webhook_id: String,
    /// Its `webhook-timestamp`, Unix seconds.
    pub webhook_timestamp: String,
    /// The event's `type`.
    pub event_type: String,
    /// The Gemini job the event is about (`batches/…`), if any.
    pub job: Option<String>,
    /// What River de-duplicates on.
    pub unique_key: String,
    /// The raw verified body.
    pub body: String,
}

impl JobArgs for GeminiWebhookArgs {
    const KIND: &'static str = "gemini_webhook";

    fn default_insert_opts() -> InsertOpts {
        InsertOpts::default().with_unique(UniqueOpts::new().with_by_args(true))
    }

    fn unique_fields() -> &'static [&'static [&'static str]] {
        &[&["unique_key"]]
    }
}

impl GeminiWebhookArgs {
    /// The job for `message`; `None` if its body is not UTF-8 text.
    pub fn of(message: &Message) -> Option<Self> {
        Some(Self {
            webhook_id: message.id().to_owned(),
            webhook_timestamp: message.timestamp().to_owned(),
            event_type: message.event_type().to_owned(),
            job: message.job().map(str::to_owned),
            unique_key: message.completion_key().unwrap_or(message.id()).to_owned(),
            body: std::str::from_utf8(message.body()).ok()?.to_owned(),
        })
    }
}

/// Inserts a [`GeminiWebhookArgs`] job into River's `river_job` table
/// (migrated by River: `river migrate-up`, or `riverqueue-migrate`) on a
/// queue, in a transaction of its own: confirmed once it committed.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use gemini_webhooks_bridge::river::RiverSink;
///
/// let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://localhost/app")?;
/// let sink = RiverSink::new(pool, "gemini")?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RiverSink {
    pool: PgPool,
    client: riverqueue::Client,
    queue: String,
    timeout: Duration,
}

impl std::fmt::Debug for RiverSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiverSink")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// River's client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("River's client could not be built")]
pub struct RiverSinkError(#[source] riverqueue::Error);

impl RiverSink {
    /// Inserts on `queue` through `pool` (the caller's: River's tables are
    /// in its database), waiting up to 10 seconds for each commit.
    pub fn new(pool: PgPool, queue: impl Into<String>) -> Result<Self, RiverSinkError> {
        let client = riverqueue::Client::builder(pool.clone())
            .build()
            .map_err(RiverSinkError)?;
        Ok(Self {
            pool,
            client,
            queue: queue.into(),
            timeout: Duration::from_secs(10),
        })
    }

    /// How long to wait for the insert and its commit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn insert(&self, message: &Message) -> Result<Published, PublishError> {
        let args = GeminiWebhookArgs::of(message).ok_or_else(|| {
            PublishError::refused(
                KIND,
                "the body is not UTF-8 text, which a River job's args need",
            )
        })?;
        let opts = InsertOpts::default().with_queue(self.queue.clone());
        // Until the commit is sent, nothing is in River: a failure or a
        // timeout rolls the transaction back.
        let inserted = tokio::time::timeout(self.timeout, async {
            let mut transaction = self
                .pool
                .begin()
                .await
                .map_err(|err| PublishError::not_published(KIND, "no transaction", err))?;
            let inserted = self
                .client
                .insert(args)
                .opts(opts)
                .tx(&mut transaction)
                .await
                .map_err(|err| PublishError::not_published(KIND, "not inserted", err))?;
            Ok::<_, PublishError>((transaction, inserted))
        })
        .await
        .map_err(|elapsed| PublishError::not_published(KIND, "not inserted", elapsed))??;
        let (transaction, inserted) = inserted;
        tokio::time::timeout(self.timeout, transaction.commit())
            .await
            .map_err(|elapsed| PublishError::unconfirmed(KIND, "no commit", elapsed))?
            .map_err(|err| PublishError::unconfirmed(KIND, "no commit", err))?;
        let published = Published::with_id(inserted.id().to_string());
        Ok(if inserted.unique_skipped_as_duplicate {
            published.duplicate()
        } else {
            published
        })
    }
}

crate::sink::macros::sink_impl!(RiverSink, insert {
    /// The database answers.
    fn ready(&self) -> crate::sink::BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(crate::sink::answers_within(KIND, sqlx::query("SELECT 1").execute(&self.pool)))
    }
});
