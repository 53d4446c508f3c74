//! A durable inbox on PostgreSQL: its endpoint stores
//! each verified delivery and answers at once; workers run the handler
//! later, exactly once per delivery.
//!
//! Gemini wants a 2xx within seconds and retries for 24 hours; the real
//! work (downloading a batch's results, a video) takes longer. The
//! inbox's own endpoint ([`Inbox::service`], a terminal tower service for
//! axum's `Router::route_service`; `actix::inbox_resource` for actix-web;
//! [`InboxEndpoint::store`] for anything else) runs the same intake as the
//! middleware (headers checked before the body, the body bounded,
//! verified), then writes the delivery in one statement — its [`replay_key`](gemini_webhooks::Delivery::replay_key) is the
//! primary key, so a retry or a concurrent copy is a no-op — and answered
//! `202 Accepted` (`200` for a copy already stored). Requests that do not
//! verify never reach the table. When the database does not answer, the
//! answer is `503` and Gemini retries: nothing is lost.
//!
//! An [`InboxWorker`] (from [`Inbox::worker`]) runs your handler with
//! bounded concurrency in any number of processes: claims with `FOR UPDATE
//! SKIP LOCKED` and a short renewed lease, the handler inside a transaction
//! that holds the row (its writes through [`Job::client`] commit with the
//! done mark), cancelled as soon as its hold may be gone, retried with
//! backoff until [`max_attempts`](InboxWorker::max_attempts), then a dead
//! letter ([`Inbox::dead_letters`], [`Inbox::requeue`]). The whole story,
//! with the exactly-once pattern and its limits, is the guide
//! [`crate::guide::inbox`]; `model/inbox.pml` checks the protocol with spin.
//!
//! The table (default [`DEFAULT_TABLE`]) is created on first use;
//! [`Inbox::schema_sql`] gives the SQL for teams that run migrations.
//!
//! ```no_run
//! use gemini_webhooks_postgres::inbox::Inbox;
//! use gemini_webhooks::{GeminiEvent, Verifier};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let inbox = Inbox::builder("postgres://app@db.internal/app").build()?;
//! let verifier = Verifier::builder().secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?.build()?;
//!
//! // The HTTP side: verify, store, answer 202.
//! let app: axum::Router = axum::Router::new()
//!     .route_service("/webhooks/gemini", inbox.service(verifier));
//!
//! // The worker side, in this process or another one.
//! let worker = inbox.worker(|event: GeminiEvent| async move {
//!     println!("{}", event.event_type()); // download results, …
//!     Ok::<_, std::io::Error>(())
//! });
//! tokio::spawn(worker.run());
//! # Ok(())
//! # }
//! ```

mod attempt;
mod browse;
pub(crate) mod completion;
pub(crate) mod db;
mod done_mark;
mod endpoint;
mod error;
pub(crate) mod failure_log;
mod filter;
mod gate;
mod group_commit;
mod handler_slots;
mod hold;
mod ingest;
mod inspect;
mod job;
mod redrive;
mod retry_due;
mod service;
mod slots;
pub(crate) mod sql;
pub(crate) mod trace;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;
use http::StatusCode;

pub use browse::{Activity, JobCursor, JobPage, MinuteActivity, TEXT_WINDOW};
pub use completion::Origin;
pub use endpoint::InboxEndpoint;
pub use error::InboxError;
pub use filter::JobFilter;
pub use gate::Gate;
pub use inspect::{JobRecord, JobState};
pub use job::{FromDelivery, FromJob, Job};
pub use service::InboxService;
pub use worker::{Batch, InboxWorker};

use crate::connection::{Options, Source, postgres_options_methods};
use db::{InboxDb, InboxSettings, OwnConnections};
use gemini_webhooks::ConfigError;
use gemini_webhooks::Delivery;
use gemini_webhooks::replay::DEFAULT_DEDUP_TTL;
use job::StoredDelivery;

/// The table an inbox uses unless told otherwise.
pub const DEFAULT_TABLE: &str = "gemini_webhook_inbox";

/// A durable inbox of verified deliveries in a PostgreSQL table; see the
/// [module documentation](self). Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct Inbox {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) db: Arc<InboxDb>,
    batcher: group_commit::GroupCommit<ingest::Pending>,
    notify_pending: AtomicBool,
}

/// What ingest did with a verified delivery; both are 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stored {
    /// Written to the inbox: `202 Accepted`.
    New,
    /// A copy with this replay key is already in the inbox (pending, done
    /// or dead): `200 OK`, nothing written.
    Duplicate,
}

impl Stored {
    /// The status to answer with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::New => StatusCode::ACCEPTED,
            Self::Duplicate => StatusCode::OK,
        }
    }

    /// The `outcome` label it is counted under (feature `metrics`):
    /// `stored`, or `duplicate`.
    pub fn outcome(self) -> &'static str {
        match self {
            Self::New => "stored",
            Self::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::New => "accepted",
            Self::Duplicate => "already received",
        })
    }
}

/// How many jobs an inbox holds, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxCounts {
    /// Waiting for a worker (new, or retrying after a failure).
    pub pending: u64,
    /// Held by a worker whose lease has not lapsed.
    pub running: u64,
    /// Handled, kept for the dedup TTL.
    pub done: u64,
    /// Dead letters.
    pub dead: u64,
}

impl InboxCounts {
    /// How many jobs are in `state`.
    ///
    /// ```no_run
    /// # async fn run(inbox: gemini_webhooks_postgres::inbox::Inbox) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks_postgres::inbox::JobState;
    ///
    /// let counts = inbox.counts().await?;
    /// if counts.of(JobState::Dead) > 0 {
    ///     eprintln!("dead letters wait for `requeue`");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn of(&self, state: JobState) -> u64 {
        match state {
            JobState::Pending => self.pending,
            JobState::Running => self.running,
            JobState::Done => self.done,
            JobState::Dead => self.dead,
        }
    }
}

impl Inbox {
    /// A builder for the database at `url` (`postgres://user:password@host/db`
    /// or the key-value form). Nothing connects until first use. With
    /// `sslmode=require` in it, connections use TLS and verify the
    /// server's certificate (feature `tls`; see
    /// `InboxBuilder::tls_root_certificates`).
    pub fn builder(url: impl Into<String>) -> InboxBuilder {
        InboxBuilder::new(Source::Url(url.into()))
    }

    /// A builder for an inbox on the application's own pool
    /// (deadpool-postgres 0.14), as it is: ingest, administration, the
    /// workers' jobs and their bookkeeping all take its connections (count
    /// the workers' concurrency plus two in its size). Each bookkeeping
    /// statement then sets the server's cutoff for itself, in a
    /// transaction of its own. Workers do not `LISTEN` on such a pool (its
    /// connections are not ours to keep): they find new deliveries by
    /// polling ([`poll_interval`](InboxWorker::poll_interval), default
    /// 1 s).
    ///
    /// ```no_run
    /// # fn run(pool: deadpool_postgres::Pool) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks_postgres::inbox::Inbox;
    /// let inbox = Inbox::from_pool(pool).table("app.webhook_inbox").build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_pool(pool: Pool) -> InboxBuilder {
        InboxBuilder::new(Source::Pool(pool))
    }

    /// The SQL that creates an inbox table and its indexes, for teams that
    /// run migrations themselves (idempotent).
    ///
    /// ```
    /// use gemini_webhooks_postgres::inbox::Inbox;
    /// let sql = Inbox::schema_sql("gemini_webhook_inbox");
    /// assert!(sql.contains("CREATE TABLE IF NOT EXISTS gemini_webhook_inbox"));
    /// ```
    pub fn schema_sql(table: &str) -> String {
        sql::schema(table)
    }

    /// The table in use.
    pub fn table(&self) -> &str {
        &self.shared.db.settings.table
    }

    /// Stores a verified delivery under its replay key (`INSERT … ON
    /// CONFLICT DO NOTHING`) and returns once it is committed. Deliveries
    /// arriving while a write is in flight are committed together, in one
    /// multi-row `INSERT` (group commit); a copy of one already stored is
    /// [`Stored::Duplicate`]. Listening workers are then woken by a
    /// `NOTIFY` sent in the background. What the middleware calls; call it
    /// yourself from any other receiving code.
    pub async fn ingest(&self, delivery: &Delivery) -> Result<Stored, InboxError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.shared.batcher.submit(
            &self.shared,
            ingest::Pending {
                key: delivery.replay_key().to_owned(),
                row: StoredDelivery::of(delivery),
                body: delivery.body().clone(),
                reply,
            },
        );
        // If the batch outlives this wait and commits, the delivery's retry
        // finds it stored: a 503 now loses nothing.
        match tokio::time::timeout(self.shared.db.settings.timeout, answer).await {
            Ok(Ok(stored)) => stored,
            Ok(Err(_)) | Err(_) => Err(InboxError::TimedOut { what: "ingest" }),
        }
    }

    /// The endpoint that verifies deliveries with `verifier` and stores
    /// them here, to configure (body limit, …) before serving it.
    pub fn endpoint(&self, verifier: gemini_webhooks::verify::Verifier) -> InboxEndpoint {
        InboxEndpoint::new(self.clone(), verifier)
    }

    /// A tower service that verifies deliveries with `verifier` and stores
    /// them here: `inbox.endpoint(verifier).service()`.
    pub fn service(&self, verifier: gemini_webhooks::verify::Verifier) -> InboxService {
        self.endpoint(verifier).service()
    }

    /// A connection from the inbox's pool, made as the inbox makes its own
    /// (TLS when the URL asks for it), with the inbox's table created: for
    /// an application's own set-up statements or migrations beside it.
    /// Dropped, it goes back to the pool.
    pub async fn connection(&self) -> Result<deadpool_postgres::Object, InboxError> {
        // The inbox's own path to a connection: pool, schema, timeout.
        self.shared
            .db
            .run("connect", |client| async move { Ok(client) })
            .await
    }

    /// Up to `limit` dead letters, oldest failure first, bodies included.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<JobRecord>, InboxError> {
        self.shared.db.dead_letters(limit).await
    }

    /// Runs the dead letter with this replay key again, from attempt 1;
    /// `false` if there is no such dead letter.
    pub async fn requeue(&self, key: &str) -> Result<bool, InboxError> {
        let requeued = self.shared.db.requeue(Some(key), JobState::Dead).await?;
        Ok(requeued == 1)
    }

    /// Runs every dead letter again; returns how many.
    pub async fn requeue_all(&self) -> Result<u64, InboxError> {
        self.shared.db.requeue(None, JobState::Dead).await
    }

    /// Checks that the inbox can do its work: connects, creates its table
    /// (unless migrations own it) and reads it, within the timeout. Call it
    /// at start-up to fail fast on what would otherwise be a 503 for every
    /// delivery and a worker waiting out an outage: a wrong URL or password,
    /// a database that does not exist, a missing table. The error shows its
    /// cause with [`ErrorChain`](gemini_webhooks::ErrorChain).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks_postgres::inbox::Inbox;
    ///
    /// let inbox = Inbox::builder(std::env::var("DATABASE_URL")?).build()?;
    /// if let Err(err) = inbox.check().await {
    ///     eprintln!("inbox unusable: {}", gemini_webhooks::ErrorChain(&err));
    ///     std::process::exit(1);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check(&self) -> Result<(), InboxError> {
        self.shared.db.check().await
    }

    /// How many jobs the inbox holds, by state.
    pub async fn counts(&self) -> Result<InboxCounts, InboxError> {
        self.shared.db.counts().await
    }

    /// Deletes up to 1,000 done rows older than the dedup TTL; returns how
    /// many. Also deletes up to 1,000 tracked jobs closed (done, abandoned)
    /// more than 24 hours past their horizon. Workers run it every minute.
    pub async fn cleanup_done(&self) -> Result<u64, InboxError> {
        let db = &self.shared.db;
        db.cleanup(&db.pool).await.map(|cleaned| cleaned.done)
    }

    /// A worker that runs `handler` for each stored delivery; see
    /// [`InboxWorker`] for its settings. The handler takes a [`Job`],
    /// [`Delivery`], [`GeminiEvent`](gemini_webhooks::GeminiEvent) or
    /// [`Verified<T>`](gemini_webhooks::Verified); `Ok` marks the job done, `Err`
    /// retries it. The error is any `std::error::Error` (or a `String`, a
    /// `&str`, a boxed error: whatever converts into
    /// `Box<dyn Error + Send + Sync>`), kept in `last_error` and logged
    /// with its whole cause chain ([`ErrorChain`](gemini_webhooks::ErrorChain)).
    pub fn worker<F, T, Fut, E>(&self, handler: F) -> InboxWorker<F, T>
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        T: FromJob,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    {
        InboxWorker::new(self.clone(), handler)
    }
}

impl Shared {
    /// Sends a `NOTIFY` on the inbox's channel in the background, after the
    /// insert has committed: not in the insert's own transaction, because
    /// PostgreSQL serialises the commits of notifying transactions on one
    /// lock held across their WAL flush (measured: ingest capped at ~1,100
    /// deliveries/s). While one notification is pending, more inserts send
    /// none: the woken worker claims them all. A notification that fails
    /// is made up for by the workers' polling.
    pub(crate) fn wake_workers(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.notify_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(self);
        runtime.spawn(async move {
            // Cleared before sending: an insert committed from now on
            // schedules a notification of its own.
            shared.notify_pending.store(false, Ordering::Release);
            let _ = shared.db.notify().await;
        });
    }
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("settings", &self.shared.db.settings)
            .finish_non_exhaustive()
    }
}

/// Configures an [`Inbox`].
#[must_use]
pub struct InboxBuilder {
    options: Options,
    keep_done: Duration,
    in_job_order: bool,
}

/// Most connections ingest's own pool opens, by default.
/// Ingest's connections: a delivery holds one for a single `INSERT`, so
/// two answer 11,000–13,000 deliveries/s here (BENCHMARKS.md), and a
/// process with a default worker stays at 9 connections.
const DEFAULT_POOL_SIZE: usize = 2;

impl InboxBuilder {
    fn new(source: Source) -> Self {
        Self {
            options: Options::new(source, DEFAULT_TABLE),
            keep_done: DEFAULT_DEDUP_TTL,
            in_job_order: false,
        }
    }

    postgres_options_methods! {
        table: "Workers are woken on the channel `<table>_new` (`.` replaced by `_`).",
        schema_sql: "Inbox::schema_sql",
        pool_size: "Most connections ingest opens (default 2: a delivery holds one for a \
                    single `INSERT`). Workers open their own; see the connection budget in \
                    [`guide::inbox`](crate::guide). Not for an inbox built \
                    [`from_pool`](Inbox::from_pool).",
    }

    /// How long handled deliveries are kept, so later copies are still
    /// recognised (default 25 h: longer than Gemini's 24 h of retries).
    pub fn keep_done(mut self, ttl: Duration) -> Self {
        self.keep_done = ttl;
        self
    }

    /// Runs the events of one Gemini job (a batch, a video, an
    /// interaction) one at a time, in the order of their envelope
    /// timestamps: an `interaction.requires_action` is never handled after,
    /// or beside, the same interaction's `interaction.completed`. Other
    /// jobs are not held up. A job's event waits while an earlier one of
    /// the same job is pending (retrying included; a dead letter no longer
    /// holds it up). An event that arrives after a later one of its job
    /// has started waits for it to end (it cannot be handled first).
    ///
    /// Every worker of the table must be built from an inbox with this
    /// setting, and none may [`complete_in_batches`](InboxWorker::complete_in_batches):
    /// the order is kept by the job's transaction.
    pub fn in_job_order(mut self) -> Self {
        self.in_job_order = true;
        self
    }

    /// Builds the inbox; fails on a malformed URL or table name, never on an
    /// unreachable database (that is a 503 per delivery until it is back).
    pub fn build(self) -> Result<Inbox, ConfigError> {
        let options = self.options;
        let (pool, own) = options.open(&sql::DERIVED, DEFAULT_POOL_SIZE)?;
        let own = own.map(|(config, connector)| OwnConnections { config, connector });
        let settings = InboxSettings {
            channel: sql::channel(&options.table),
            table: options.table,
            timeout: options.timeout,
            keep_done: self.keep_done,
            in_job_order: self.in_job_order,
        };
        Ok(Inbox {
            shared: Arc::new(Shared {
                db: Arc::new(InboxDb::new(pool, own, settings, options.create_schema)),
                batcher: ingest::batcher(),
                notify_pending: AtomicBool::new(false),
            }),
        })
    }
}

impl fmt::Debug for InboxBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxBuilder")
            .field("options", &self.options)
            .field("keep_done", &self.keep_done)
            .field("in_job_order", &self.in_job_order)
            .finish()
    }
}
