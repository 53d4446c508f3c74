//! [`InboxWorker`]: claims stored deliveries, runs the handler in the job's
//! transaction, retries with backoff, dead-letters, shuts down gracefully.

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use deadpool_postgres::Pool;
use futures_util::future::try_join;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::job::{JobConnection, StoredDelivery};
use super::{FromJob, Inbox, InboxError, Job, Shared};
use crate::metrics::JobOutcome;
use crate::postgres::millis;
use crate::replay::ClaimToken;

/// How often a worker deletes old done rows and buries jobs whose workers
/// kept dying.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// How long a worker waits before it reconnects its `LISTEN` connection.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Runs a handler for every delivery stored in an [`Inbox`]; built by
/// [`Inbox::worker`], started with [`run`](Self::run) or
/// [`run_until`](Self::run_until).
///
/// Any number of workers, in any number of processes, can share one inbox:
/// each claims due jobs with `FOR UPDATE SKIP LOCKED`, so no job runs twice
/// at once. Each worker opens its own connections (`concurrency` + 2: the
/// jobs' transactions, its claims, and one `LISTEN`ing for new deliveries),
/// so slow handlers never hold up ingest.
#[must_use]
pub struct InboxWorker<F, T> {
    inbox: Inbox,
    handler: Arc<F>,
    settings: WorkerSettings,
    input: PhantomData<fn(T)>,
}

#[derive(Debug, Clone)]
struct WorkerSettings {
    concurrency: usize,
    max_attempts: u32,
    lease: Duration,
    backoff: Duration,
    max_backoff: Duration,
    poll_interval: Duration,
    shutdown_grace: Duration,
}

impl WorkerSettings {
    /// The pause after failed attempt `attempt` (1-based): `backoff`
    /// doubled per earlier attempt, at most `max_backoff`.
    fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

impl<F, T, Fut, E> InboxWorker<F, T>
where
    F: Fn(T) -> Fut + Send + Sync + 'static,
    T: FromJob,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    pub(super) fn new(inbox: Inbox, handler: F) -> Self {
        Self {
            inbox,
            handler: Arc::new(handler),
            settings: WorkerSettings {
                concurrency: 8,
                max_attempts: 10,
                lease: Duration::from_secs(300),
                backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(3600),
                poll_interval: Duration::from_secs(1),
                shutdown_grace: Duration::from_secs(30),
            },
            input: PhantomData,
        }
    }

    /// How many jobs run at once (default 8).
    pub fn concurrency(mut self, jobs: usize) -> Self {
        self.settings.concurrency = jobs.max(1);
        self
    }

    /// How many attempts a job gets before it becomes a dead letter
    /// (default 10). Attempts whose worker died count too.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.settings.max_attempts = attempts.max(1);
        self
    }

    /// How long a claimed job is reserved for its worker (default 5
    /// minutes). While the handler runs, the job's row stays locked, so a
    /// slow handler keeps its job past the lease; the lease only decides
    /// how soon the job of a worker that died runs again.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.settings.lease = lease;
        self
    }

    /// The pause after the first failure (default 1 s), doubled after each
    /// further one, up to `max` (default 1 hour).
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.settings.backoff = first;
        self.settings.max_backoff = max;
        self
    }

    /// How often an idle worker looks for due jobs without being woken by a
    /// `NOTIFY` (default 1 s): retries falling due, a lost notification.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll_interval = interval;
        self
    }

    /// How long [`run_until`](Self::run_until) lets running jobs finish
    /// after the shutdown signal before releasing them (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.settings.shutdown_grace = grace;
        self
    }

    /// Runs until the task is dropped.
    pub async fn run(self) {
        self.run_until(std::future::pending()).await;
    }

    /// Runs until `shutdown` completes, then stops claiming, waits up to the
    /// [`shutdown_grace`](Self::shutdown_grace) for running jobs, and
    /// releases the others (rolled back, due again at once, the attempt not
    /// counted).
    ///
    /// Database outages are waited out: the worker logs them and tries again
    /// every poll interval.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let shared = Arc::clone(&self.inbox.shared);
        // The worker's own bookkeeping (claims, failures, releases) commits
        // without waiting for the WAL flush: losing one in a database crash
        // only makes its job run again, and a job's transaction, which
        // does wait, flushes every earlier commit with it.
        let mut config = shared.config.clone();
        let options = format!(
            "{} -c synchronous_commit=off",
            config.get_options().unwrap_or_default()
        );
        config.options(options.trim_start());
        let pool = match crate::postgres::pool(
            config,
            &shared.connector,
            self.settings.concurrency + 1,
            shared.settings.timeout,
        ) {
            Ok(pool) => pool,
            Err(err) => {
                tracing::error!(error = %err, "gemini webhook inbox worker could not start");
                return;
            }
        };
        let wake = Arc::new(Notify::new());
        let _listener = AbortOnDrop(tokio::spawn(listen(
            shared.config.clone(),
            shared.connector.clone(),
            shared.settings.channel.clone(),
            Arc::clone(&wake),
        )));
        let context = Arc::new(WorkerContext {
            sql: JobSql::new(&shared.settings.table),
            shared,
            pool,
            settings: self.settings,
            handler: self.handler,
        });
        let mut running = JoinSet::new();
        let mut leases = HashMap::new();
        let mut shutdown = pin!(shutdown);
        let mut maintained: Option<Instant> = None;
        loop {
            if maintained.is_none_or(|at| at.elapsed() >= MAINTENANCE_EVERY) {
                maintained = Some(Instant::now());
                context.maintain().await;
            }
            let free = context.settings.concurrency - running.len();
            if free > 0 {
                match context.claim(free).await {
                    Ok(claimed) => {
                        for job in claimed {
                            let lease = (job.key.clone(), job.lease.clone());
                            let task = running.spawn(Arc::clone(&context).run(job));
                            leases.insert(task.id(), lease);
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "gemini webhook inbox: claiming jobs failed")
                    }
                }
            }
            let tick = pin!(tokio::time::sleep(context.settings.poll_interval));
            let notified = pin!(wake.notified());
            match next_wake(shutdown.as_mut(), &mut running, notified, tick).await {
                Wake::Shutdown => break,
                Wake::Finished(id) => {
                    leases.remove(&id);
                    // Collect every other finished job too, so one claim
                    // refills all the free slots.
                    while let Some(finished) = running.try_join_next_with_id() {
                        leases.remove(&finished.map_or_else(|err| err.id(), |(id, ())| id));
                    }
                }
                Wake::Notified | Wake::Tick => {}
            }
        }
        let drain = async {
            while let Some(finished) = running.join_next_with_id().await {
                leases.remove(&finished.map_or_else(|err| err.id(), |(id, ())| id));
            }
        };
        let _ = tokio::time::timeout(context.settings.shutdown_grace, drain).await;
        running.abort_all();
        while let Some(finished) = running.join_next_with_id().await {
            if let Ok((id, ())) = finished {
                leases.remove(&id);
            }
        }
        for (key, lease) in leases.into_values() {
            context.release(&key, &lease).await;
        }
    }
}

impl<F, T> fmt::Debug for InboxWorker<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxWorker")
            .field("inbox", &self.inbox)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What woke the worker's loop.
enum Wake {
    Shutdown,
    Finished(tokio::task::Id),
    Notified,
    Tick,
}

/// Waits for the first of: the shutdown signal, a job finishing, a
/// notification, the poll tick.
async fn next_wake(
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
    running: &mut JoinSet<()>,
    mut notified: Pin<&mut tokio::sync::futures::Notified<'_>>,
    mut tick: Pin<&mut tokio::time::Sleep>,
) -> Wake {
    poll_fn(|cx| {
        if shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Shutdown);
        }
        if let Poll::Ready(Some(finished)) = running.poll_join_next_with_id(cx) {
            let id = finished.map_or_else(|err| err.id(), |(id, ())| id);
            return Poll::Ready(Wake::Finished(id));
        }
        if notified.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Notified);
        }
        if tick.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Tick);
        }
        Poll::Pending
    })
    .await
}

/// What a worker's jobs share.
struct WorkerContext<F> {
    shared: Arc<Shared>,
    pool: Pool,
    sql: JobSql,
    settings: WorkerSettings,
    handler: Arc<F>,
}

/// The statements a job runs, built once per worker (they name its table).
struct JobSql {
    claim: String,
    begin: String,
    complete: String,
    fail: String,
}

impl JobSql {
    fn new(table: &str) -> Self {
        Self {
            claim: format!(
                "UPDATE {table} AS t SET attempts = t.attempts + 1, lease = $2, \
                   run_at = now() + $3 * interval '1 millisecond' \
                 FROM (SELECT id FROM {table} WHERE state = 'pending' AND run_at <= now() \
                       AND attempts < $4 ORDER BY run_at LIMIT $1 FOR UPDATE SKIP LOCKED) AS due \
                 WHERE t.id = due.id \
                 RETURNING t.id, t.webhook_id, t.signed_at, t.verified_by, t.jwt_claims, t.body, \
                   t.attempts, t.received_at"
            ),
            // The state is checked on the row found, not in the WHERE
            // clause: there it matches the due index's predicate, and the
            // plan PostgreSQL keeps from when the table was small scans that
            // whole index for every job.
            begin: format!("SELECT state FROM {table} WHERE id = $1 AND lease = $2 FOR UPDATE"),
            complete: format!(
                "UPDATE {table} SET state = 'done', finished_at = now(), lease = NULL, \
                   last_error = NULL WHERE id = $1 AND lease = $2"
            ),
            fail: format!(
                "UPDATE {table} SET state = CASE WHEN attempts >= $3 THEN 'dead' ELSE 'pending' END, \
                   run_at = now() + $4 * interval '1 millisecond', lease = NULL, failed_at = now(), \
                   last_error = $5 \
                 WHERE id = $1 AND lease = $2 RETURNING state"
            ),
        }
    }
}

/// A job as claimed: its row, and the lease that proves the claim.
struct Claimed {
    key: String,
    lease: String,
    attempt: u32,
    received_at: SystemTime,
    stored: StoredDelivery,
    body: Bytes,
}

/// Why an attempt failed.
enum Failure {
    /// Worth another attempt (the handler failed or panicked).
    Retry(String),
    /// No attempt can succeed (the body is not the handler's type).
    Permanent(String),
}

impl<F> WorkerContext<F> {
    fn table(&self) -> &str {
        &self.shared.settings.table
    }

    /// Claims up to `limit` due jobs, giving each a fresh lease.
    async fn claim(&self, limit: usize) -> Result<Vec<Claimed>, InboxError> {
        let sql = &self.sql.claim;
        let lease = format!("{:032x}", ClaimToken::new().as_u128());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let lease_ms = millis(self.settings.lease);
        let max_attempts = i32::try_from(self.settings.max_attempts).unwrap_or(i32::MAX);
        let lease_value = &lease;
        let rows = self
            .shared
            .run_on(&self.pool, "claim", |client| async move {
                // Planned afresh each time (one more round trip per batch):
                // the plan PostgreSQL keeps once a prepared statement has
                // run five times is made for the table as it was, and one
                // made while a new inbox was small can sort every due row
                // for each claim after a burst has filled it.
                client
                    .query(
                        sql.as_str(),
                        &[&limit, lease_value, &lease_ms, &max_attempts],
                    )
                    .await
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| Claimed {
                key: row.get(0),
                lease: lease.clone(),
                stored: StoredDelivery {
                    webhook_id: row.get(1),
                    signed_at: row.get(2),
                    verified_by: row.get(3),
                    jwt_claims: row.get(4),
                },
                body: Bytes::from(row.get::<_, Vec<u8>>(5)),
                attempt: u32::try_from(row.get::<_, i32>(6)).unwrap_or(0),
                received_at: row.get(7),
            })
            .collect())
    }

    /// Opens the job's transaction and locks its row, if the lease is still
    /// this worker's; `None` if another worker took the job over.
    async fn begin(
        &self,
        key: &str,
        lease: &str,
    ) -> Result<Option<Arc<JobConnection>>, InboxError> {
        // Not SKIP LOCKED: another worker's claim may hold the row for a
        // moment while it re-checks it against its own snapshot (and lets it
        // go). If our lease lapsed and another worker runs the job, the
        // wait ends with its commit, and the lease no longer matches.
        let sql = &self.sql.begin;
        self.shared
            .run_on(&self.pool, "begin a job", |object| async move {
                let connection = Arc::new(JobConnection::new(object));
                let client = connection.client();
                let statement = client.prepare_cached(sql).await?;
                // Sent together, answered in order: one round trip. The
                // job's own commit waits for the flush: the handler's writes
                // are as durable as any of the application's.
                let (_, row) = try_join(
                    client.batch_execute("BEGIN; SET LOCAL synchronous_commit = on"),
                    client.query_opt(&statement, &[&key, &lease]),
                )
                .await?;
                if row.is_some_and(|row| row.get::<_, &str>(0) == "pending") {
                    return Ok(Some(connection));
                }
                client.batch_execute("ROLLBACK").await?;
                connection.mark_closed();
                Ok(None)
            })
            .await
    }

    /// Marks the job done in its transaction and commits.
    async fn complete(
        &self,
        connection: &JobConnection,
        key: &str,
        lease: &str,
    ) -> Result<(), InboxError> {
        let sql = &self.sql.complete;
        let client = connection.client();
        let commit = async {
            let statement = client.prepare_cached(sql).await?;
            // One round trip. Should the mark fail, the server turns the
            // `COMMIT` behind it into a rollback, and the error is the mark's.
            try_join(
                client.execute(&statement, &[&key, &lease]),
                client.batch_execute("COMMIT"),
            )
            .await
            .map(|_| ())
        };
        self.within_timeout("complete a job", commit).await?;
        connection.mark_closed();
        Ok(())
    }

    /// Rolls the job's transaction back (the handler's writes with it).
    async fn roll_back(&self, connection: &JobConnection) {
        let rolled_back = self
            .within_timeout(
                "roll back a job",
                connection.client().batch_execute("ROLLBACK"),
            )
            .await;
        if rolled_back.is_ok() {
            connection.mark_closed();
        }
    }

    /// Records a failed attempt: due again after the backoff, or a dead
    /// letter once attempts are used up (at once for a permanent failure).
    async fn fail(&self, key: &str, lease: &str, attempt: u32, failure: Failure) -> JobOutcome {
        let sql = &self.sql.fail;
        let (max_attempts, error) = match failure {
            Failure::Retry(error) => (self.settings.max_attempts, error),
            Failure::Permanent(error) => (0, error),
        };
        let max_attempts = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        let pause = millis(self.settings.backoff(attempt));
        let error = truncate(error, 2_000);
        let recorded = self
            .shared
            .run_on(&self.pool, "record a failure", |client| async move {
                let statement = client.prepare_cached(sql).await?;
                client
                    .query_opt(&statement, &[&key, &lease, &max_attempts, &pause, &error])
                    .await
            })
            .await;
        match recorded {
            Ok(Some(row)) if row.get::<_, &str>(0) == "dead" => {
                tracing::error!(
                    key,
                    attempt,
                    "gemini webhook job failed for good: dead letter"
                );
                JobOutcome::Dead
            }
            Ok(_) => {
                tracing::warn!(key, attempt, "gemini webhook job failed; will retry");
                JobOutcome::Retried
            }
            // The lease lapses and the job runs again.
            Err(err) => {
                tracing::warn!(key, error = %err, "gemini webhook job failure not recorded");
                JobOutcome::Retried
            }
        }
    }

    /// Gives a job back without counting the attempt (at shutdown).
    async fn release(&self, key: &str, lease: &str) {
        let sql = format!(
            "UPDATE {table} SET run_at = now(), attempts = greatest(attempts - 1, 0), lease = NULL \
             WHERE id = $1 AND lease = $2 AND state = 'pending'",
            table = self.table()
        );
        let released = self
            .shared
            .run_on(&self.pool, "release a job", |client| async move {
                client.execute(&sql, &[&key, &lease]).await
            })
            .await;
        if let Err(err) = released {
            // Its lease lapses and it runs again, one attempt counted.
            tracing::warn!(key, error = %err, "gemini webhook job not released at shutdown");
        }
    }

    /// Deletes old done rows, and dead-letters jobs whose lease lapsed on
    /// their last attempt (a handler that kills its worker every time).
    /// Rows locked by a running job (a slow handler past its lease) are
    /// skipped, not waited for.
    async fn maintain(&self) {
        if let Err(err) = self.shared.cleanup_done_on(&self.pool).await {
            tracing::warn!(error = %err, "gemini webhook inbox cleanup failed");
        }
        let sql = format!(
            "UPDATE {table} SET state = 'dead', lease = NULL, failed_at = now(), \
               last_error = 'the worker died or lost its connection on every attempt' \
             WHERE id IN (SELECT id FROM {table} WHERE state = 'pending' AND lease IS NOT NULL \
               AND run_at <= now() AND attempts >= $1 FOR UPDATE SKIP LOCKED)",
            table = self.table()
        );
        let max_attempts = i32::try_from(self.settings.max_attempts).unwrap_or(i32::MAX);
        let buried = self
            .shared
            .run_on(
                &self.pool,
                "dead-letter abandoned jobs",
                |client| async move { client.execute(&sql, &[&max_attempts]).await },
            )
            .await;
        if let Err(err) = buried {
            tracing::warn!(error = %err, "gemini webhook inbox maintenance failed");
        }
    }

    async fn within_timeout<T>(
        &self,
        what: &'static str,
        statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, InboxError> {
        tokio::time::timeout(self.shared.settings.timeout, statement)
            .await
            .map_err(|_| InboxError::TimedOut { what })?
            .map_err(|err| InboxError::database(what, err))
    }
}

impl<F> WorkerContext<F> {
    /// One attempt at one job, start to end.
    async fn run<T, Fut, E>(self: Arc<Self>, claimed: Claimed)
    where
        F: Fn(T) -> Fut,
        T: FromJob,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let Claimed {
            key,
            lease,
            attempt,
            received_at,
            stored,
            body,
        } = claimed;
        let started = Instant::now();
        let connection = match self.begin(&key, &lease).await {
            Ok(Some(connection)) => connection,
            Ok(None) => return, // Another worker took it over.
            Err(err) => {
                // The lease lapses and the job runs again.
                tracing::warn!(key, error = %err, "gemini webhook job could not start");
                return;
            }
        };
        let span = tracing::info_span!("gemini_webhook_job", key = %key, attempt);
        let outcome = match stored.into_delivery(key.clone(), body) {
            None => Err(Failure::Permanent(
                "the stored row does not read as a delivery".to_owned(),
            )),
            Some(delivery) => {
                match T::from_job(Job::new(
                    delivery,
                    attempt,
                    received_at,
                    Arc::clone(&connection),
                )) {
                    Err(err) => Err(Failure::Permanent(err.to_string())),
                    Ok(input) => {
                        let handled = tracing::Instrument::instrument(
                            CatchUnwind(Box::pin((self.handler)(input))),
                            span.clone(),
                        )
                        .await;
                        match handled {
                            Ok(Ok(())) => Ok(()),
                            Ok(Err(err)) => Err(Failure::Retry(err.to_string())),
                            Err(()) => Err(Failure::Retry("the handler panicked".to_owned())),
                        }
                    }
                }
            }
        };
        let ended = match outcome {
            Ok(()) => match self.complete(&connection, &key, &lease).await {
                Ok(()) => {
                    span.in_scope(|| {
                        tracing::info!(outcome = "handled", "gemini webhook job done")
                    });
                    JobOutcome::Handled
                }
                // Not committed: neither the handler's writes nor the mark.
                Err(err) => {
                    tracing::warn!(key, error = %err, "gemini webhook job not committed");
                    JobOutcome::NotCommitted
                }
            },
            Err(failure) => {
                self.roll_back(&connection).await;
                drop(connection);
                self.fail(&key, &lease, attempt, failure).await
            }
        };
        crate::metrics::job_finished(ended, started.elapsed());
    }
}

/// Keeps the worker's `LISTEN` connection open, waking the worker on every
/// notification and after each (re)connect (to catch up on what it missed).
async fn listen(
    config: tokio_postgres::Config,
    connector: crate::postgres::Connector,
    channel: String,
    wake: Arc<Notify>,
) {
    loop {
        let notify = Arc::clone(&wake);
        let connected = tokio::time::timeout(
            Duration::from_secs(10),
            connector.connect_listening(&config, move || notify.notify_one()),
        )
        .await;
        if let Ok(Ok((client, driver))) = connected {
            let mut driver = AbortOnDrop(driver);
            if client
                .batch_execute(&format!("LISTEN {channel}"))
                .await
                .is_ok()
            {
                wake.notify_one();
                let _ = (&mut driver.0).await;
            }
            drop(client);
        }
        // Polling covers the gap; reconnecting sooner buys little.
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// Aborts a spawned task when dropped, so a worker's helpers end with it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A handler's future that turns a panic into `Err(())`, so the job is
/// rolled back and retried like any failure.
struct CatchUnwind<Fut>(Pin<Box<Fut>>);

impl<Fut: Future> Future for CatchUnwind<Fut> {
    type Output = Result<Fut::Output, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.get_mut().0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let settings = WorkerSettings {
            concurrency: 1,
            max_attempts: 10,
            lease: Duration::from_secs(1),
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::ZERO,
        };
        let pauses: Vec<u64> = (1..=6).map(|a| settings.backoff(a).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 10, 10]);
        assert_eq!(settings.backoff(0).as_secs(), 1);
        assert_eq!(settings.backoff(u32::MAX), Duration::from_secs(10));
    }

    /// Against the PostgreSQL at `DATABASE_URL` (default: the local one).
    #[tokio::test]
    async fn statements_planned_on_a_small_table_still_find_rows_by_id() {
        use crate::postgres::plan_check;
        let client = plan_check::client().await;
        let table = format!("plan_check_inbox_{}", std::process::id());
        let sql = JobSql::new(&table);
        // Due jobs: a scan of the due index would read them all.
        let fill = |from: u32, to: u32| {
            format!(
                "INSERT INTO {table} (id, webhook_id, signed_at, verified_by, body, lease) \
                 SELECT 'k' || i, 'msg_' || i, 0, 'secret:0', convert_to(repeat('x', 1000), 'UTF8'), 'lease' \
                 FROM generate_series({from} + 1, {to}) AS i"
            )
        };
        let job = "'k1', 'lease'";
        let schema = crate::inbox::Inbox::schema_sql(&table);
        // Prepared once per connection: the plan kept may be the generic one.
        let scans = plan_check::table_scans_after_growth(
            &client,
            "force_generic_plan",
            &schema,
            &fill,
            &[
                (&sql.begin, job),
                (&sql.complete, job),
                (&sql.fail, "'k1', 'lease', 5, 1000, 'error'"),
            ],
        )
        .await;
        assert!(scans.is_empty(), "{scans:#?}");
        // Planned afresh on every run.
        let claim = (sql.claim.as_str(), "8, 'lease', 300000, 5");
        let scans = plan_check::table_scans_when_grown(&client, &schema, &fill, claim).await;
        assert!(scans.is_empty(), "{scans:#?}");
    }

    #[test]
    fn errors_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("abcdef".to_owned(), 4), "abcd");
        assert_eq!(truncate("aé".to_owned(), 2), "a");
        assert_eq!(truncate("ab".to_owned(), 4), "ab");
    }
}
