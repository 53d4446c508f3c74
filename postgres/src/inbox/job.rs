//! [`Job`]: one stored delivery as a worker's handler receives it, with the
//! database transaction its completion commits in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use serde::de::DeserializeOwned;

use super::completion::{EventKeys, Origin, keys_of};
use gemini_webhooks::event::{EventError, GeminiEvent};
use gemini_webhooks::{Delivery, DeliveryRecord, Verified, VerifiedBy};

/// A stored delivery being handled by an [`InboxWorker`](super::InboxWorker).
///
/// [`client`](Job::client) is a connection inside the transaction that
/// marks the job done: what the handler writes through it commits together
/// with that mark, or not at all. So a handler whose effects live in the
/// same database takes effect exactly once, even when it runs twice (a
/// crash before the commit rolls back both). Effects outside the database
/// (an email, a call to another service) are at least once: make them
/// idempotent, keyed by [`Delivery::replay_key`].
///
/// ```no_run
/// # async fn run(inbox: gemini_webhooks_postgres::inbox::Inbox) {
/// use gemini_webhooks_postgres::inbox::Job;
///
/// let worker = inbox.worker(|job: Job| async move {
///     let event = job.event()?;
///     job.client()
///         .execute(
///             "INSERT INTO finished_jobs (webhook_id, event_type) VALUES ($1, $2)",
///             &[&job.delivery().id(), &event.event_type()],
///         )
///         .await?;
///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
/// });
/// worker.run().await;
/// # }
/// ```
pub struct Job {
    delivery: Delivery,
    attempt: u32,
    received_at: SystemTime,
    connection: Arc<JobConnection>,
}

impl Job {
    pub(super) fn new(
        delivery: Delivery,
        attempt: u32,
        received_at: SystemTime,
        connection: Arc<JobConnection>,
    ) -> Self {
        Self {
            delivery,
            attempt,
            received_at,
            connection,
        }
    }

    /// A job as a worker hands it to its handler, for testing the handler
    /// without a worker: `delivery` (signed with
    /// [`Signer`](gemini_webhooks::testing::Signer) and verified) at attempt
    /// `attempt`, with `connection` (from your own pool) as
    /// [`client`](Job::client).
    ///
    /// The connection is used as it is: open a transaction on it first
    /// (`BEGIN`) and the handler's writes stay uncommitted, as in a worker's
    /// job, and vanish when the job is dropped (its connection is closed,
    /// not returned to the pool, as a worker does with a job that did not
    /// commit). Without one they commit as they run, for your test to read.
    ///
    /// ```no_run
    /// # async fn run(pool: deadpool_postgres::Pool) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks_postgres::inbox::Job;
    /// use gemini_webhooks::testing::{Signer, generate_secret, sample_event};
    ///
    /// async fn handle(job: Job) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    ///     let event = job.event()?;
    ///     job.client()
    ///         .execute("INSERT INTO finished (resource) VALUES ($1)", &[&event.resource_id()])
    ///         .await?;
    ///     Ok(())
    /// }
    ///
    /// let secret = generate_secret();
    /// let verifier = gemini_webhooks::Verifier::builder().secret(&secret)?.build()?;
    /// let body = sample_event("batch.succeeded");
    /// let delivery = verifier.verify(&Signer::hmac(&secret)?.sign(&body), body)?;
    /// handle(Job::for_test(delivery, 1, pool.get().await?)).await.unwrap();
    /// let row = pool.get().await?.query_one("SELECT count(*) FROM finished", &[]).await?;
    /// assert_eq!(row.get::<_, i64>(0), 1);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "test-util")]
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    pub fn for_test(
        delivery: Delivery,
        attempt: u32,
        connection: deadpool_postgres::Object,
    ) -> Self {
        Self::new(
            delivery,
            attempt.max(1),
            SystemTime::now(),
            Arc::new(JobConnection::new(connection)),
        )
    }

    /// The stored delivery, as it was verified at ingest.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Takes the delivery out.
    pub fn into_delivery(self) -> Delivery {
        self.delivery
    }

    /// Which attempt this is: 1 the first time, 2 after one failure or one
    /// lapsed lease, and so on.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// When ingest stored the delivery, by the database's clock: how long
    /// it waited is `SystemTime::now()` minus this (on synchronised clocks).
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }

    /// Where the event came from: a webhook, or the reconciler's poll of
    /// the Gemini API when the webhook had not come by the job's deadline
    /// (a [`GeminiEvent`] of the same type and `data` fields, with the
    /// `user_metadata` the job was tracked with).
    pub fn origin(&self) -> Origin {
        match self.delivery.verified_by() {
            VerifiedBy::Poll => Origin::Poll,
            _ => Origin::Webhook,
        }
    }

    /// Parses the body as a [`GeminiEvent`].
    pub fn event(&self) -> Result<GeminiEvent, EventError> {
        self.delivery.event()
    }

    /// Parses the body as any JSON type of yours.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, EventError> {
        self.delivery.json()
    }

    /// A connection inside the job's open transaction. Statements run on
    /// it commit when the handler returns `Ok` (with the job's done mark)
    /// and roll back when it fails or panics. Do not `COMMIT` or
    /// `ROLLBACK` on it yourself.
    pub fn client(&self) -> &tokio_postgres::Client {
        self.connection.client()
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("delivery", &self.delivery)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// What an inbox handler can take: [`Job`], [`Delivery`], [`GeminiEvent`]
/// or [`Verified<T>`] — the same types the HTTP extractors give.
///
/// A body that does not parse as the asked-for type can never succeed, so
/// its job goes to the dead letters at once instead of being retried.
pub trait FromJob: Sized + Send + 'static {
    /// Builds the handler's input from the job.
    fn from_job(job: Job) -> Result<Self, EventError>;

    /// Builds the input from the delivery alone, for a worker that
    /// completes in batches (no transaction); `None` for an input that
    /// needs the job's transaction. Implemented through [`FromDelivery`].
    #[doc(hidden)]
    fn from_delivery_alone(delivery: Delivery) -> Option<Result<Self, EventError>> {
        let _ = delivery;
        None
    }
}

/// A handler's input that needs no transaction: [`Delivery`],
/// [`GeminiEvent`] or [`Verified<T>`]. A worker whose handler takes one
/// can [`complete_in_batches`](super::InboxWorker::complete_in_batches).
pub trait FromDelivery: Sized + Send + 'static {
    /// Builds the handler's input from the delivery.
    fn from_delivery(delivery: Delivery) -> Result<Self, EventError>;
}

impl<T: FromDelivery> FromJob for T {
    fn from_job(job: Job) -> Result<Self, EventError> {
        T::from_delivery(job.delivery)
    }

    fn from_delivery_alone(delivery: Delivery) -> Option<Result<Self, EventError>> {
        Some(T::from_delivery(delivery))
    }
}

impl FromJob for Job {
    fn from_job(job: Job) -> Result<Self, EventError> {
        Ok(job)
    }
}

impl FromDelivery for Delivery {
    fn from_delivery(delivery: Delivery) -> Result<Self, EventError> {
        Ok(delivery)
    }
}

impl FromDelivery for GeminiEvent {
    fn from_delivery(delivery: Delivery) -> Result<Self, EventError> {
        delivery.event()
    }
}

impl<T: DeserializeOwned + Send + 'static> FromDelivery for Verified<T> {
    fn from_delivery(delivery: Delivery) -> Result<Self, EventError> {
        delivery.json().map(Verified)
    }
}

/// The pooled connection a job's transaction runs on. If the job ends
/// without a `COMMIT` or `ROLLBACK` having gone through (its task was
/// aborted, a statement timed out), the connection is detached from the
/// pool and closed, so PostgreSQL rolls the transaction back and no other
/// user of the pool finds it open.
pub(super) struct JobConnection {
    object: Option<deadpool_postgres::Object>,
    closed: AtomicBool,
}

impl JobConnection {
    pub(super) fn new(object: deadpool_postgres::Object) -> Self {
        Self {
            object: Some(object),
            closed: AtomicBool::new(false),
        }
    }

    pub(super) fn client(&self) -> &deadpool_postgres::ClientWrapper {
        match &self.object {
            Some(object) => object,
            None => unreachable!("the object is taken only in drop"),
        }
    }

    /// Records that the transaction ended cleanly: the connection may go
    /// back to the pool.
    pub(super) fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

impl Drop for JobConnection {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire)
            && let Some(object) = self.object.take()
        {
            drop(deadpool_postgres::Object::take(object));
        }
    }
}

/// A delivery as the inbox stores it: its record, one column each, and
/// the keys of the job it is about (written, not read back: the body
/// holds the event).
pub(super) struct StoredDelivery {
    pub(super) record: DeliveryRecord,
    /// The job the event is about and, if it ends it, its completion key.
    pub(super) keys: Option<EventKeys>,
    /// The event's type (`None`: the body is no event), kept in its own
    /// column for filters.
    pub(super) event_type: Option<String>,
    /// The event's envelope timestamp: the order of a job's events.
    pub(super) event_at: Option<SystemTime>,
    /// The trace context of the span that stores it.
    pub(super) trace_context: Option<String>,
}

impl StoredDelivery {
    pub(super) fn of(delivery: &Delivery) -> Self {
        // Borrowed from the event the receiver parsed for its span (or
        // parsed once now and kept for the handler): no copy of it.
        let event = delivery.parsed_event();
        Self {
            record: DeliveryRecord::of(delivery),
            keys: event.and_then(keys_of),
            event_type: event.map(|event| event.event_type().to_owned()),
            event_at: event.and_then(GeminiEvent::timestamp).map(SystemTime::from),
            trace_context: super::trace::current(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Against the PostgreSQL at `DATABASE_URL`, or a throwaway one.
    #[tokio::test]
    async fn an_unfinished_transaction_never_goes_back_to_the_pool() {
        let url = crate::connection::plan_check::test_database_url();
        let pool = crate::connection::pool(
            url.parse().unwrap(),
            &crate::connection::Connector::Plain,
            2,
            Duration::from_secs(10),
        )
        .unwrap();
        let open = JobConnection::new(pool.get().await.expect("the tests' PostgreSQL"));
        open.client().batch_execute("BEGIN").await.unwrap();
        drop(open);
        assert_eq!(pool.status().size, 0, "detached and closed");
        let finished = JobConnection::new(pool.get().await.unwrap());
        finished
            .client()
            .batch_execute("BEGIN; COMMIT")
            .await
            .unwrap();
        finished.mark_closed();
        drop(finished);
        assert_eq!(pool.status().size, 1, "back in the pool");
    }
}
