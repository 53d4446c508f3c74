//! One worker's statements and one attempt at one job, start to end:
//! claim, begin, start, the handler under its watch, then complete, fail
//! or release. The SQL is in [`sql`](super::sql), the lease's renewal in
//! [`hold`](super::hold).

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use deadpool_postgres::Pool;
use futures_util::future::{Either, try_join};
use tokio::time::Instant;

use super::bookkeeping::{Bookkeeping, Plan};
use super::failure_log::FailureLog;
use super::hold::{Hold, Holds, Lost};
use super::job::{JobConnection, StoredDelivery};
use super::retry_due::RetryDue;
use super::sql::JobSql;
use super::{FromJob, InboxError, Job, Shared};
use crate::postgres::millis;
use crate::replay::ClaimToken;

/// A worker's settings, as its builder left them.
#[derive(Debug, Clone)]
pub(super) struct WorkerSettings {
    pub(super) concurrency: usize,
    pub(super) max_attempts: u32,
    pub(super) lease: Duration,
    pub(super) job_timeout: Duration,
    pub(super) backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) poll_interval: Duration,
    pub(super) shutdown_grace: Duration,
}

impl WorkerSettings {
    /// The pause after failed attempt `attempt` (1-based): `backoff`
    /// doubled per earlier attempt, at most `max_backoff`.
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }

    /// How often a running job checks its connection and deadline.
    fn watch_every(&self) -> Duration {
        (self.lease / 6).min(Duration::from_secs(1))
    }
}

/// What a worker's jobs share.
pub(super) struct WorkerContext<F> {
    pub(super) shared: Arc<Shared>,
    /// The jobs' transactions, one connection each.
    pub(super) jobs: Pool,
    /// Claims, renewals, attempt counts, failures: short statements that
    /// the server abandons when the client would.
    pub(super) bookkeeping: Bookkeeping,
    pub(super) sql: JobSql,
    pub(super) settings: WorkerSettings,
    pub(super) holds: Holds,
    pub(super) handler: Arc<F>,
    /// Renewals fail together while the database is away: logged once.
    pub(super) renewals: FailureLog,
    /// When the earliest retry this worker scheduled falls due: the loop
    /// wakes then, not at its next poll, so a backoff shorter than the
    /// poll interval holds.
    pub(super) retry_due: RetryDue,
}

/// A job as claimed: its row, and the lease that proves the claim.
pub(super) struct Claimed {
    pub(super) hold: Arc<Hold>,
    /// Attempts started before this claim.
    attempts: u32,
    /// An earlier worker's lease was still on the row.
    abandoned: bool,
    received_at: SystemTime,
    stored: StoredDelivery,
    body: Bytes,
}

/// Why an attempt failed.
enum Failure {
    /// Worth another attempt (the handler failed, panicked, timed out or
    /// lost its hold on the job).
    Retry(String),
    /// No attempt can succeed (the body is not the handler's type, the
    /// attempts are used up).
    Permanent(String),
}

impl<F> WorkerContext<F> {
    /// Claims up to `limit` due jobs, giving each a fresh lease.
    pub(super) async fn claim(&self, limit: usize) -> Result<Vec<Claimed>, InboxError> {
        let sql = &self.sql.claim;
        let lease = format!("{:032x}", ClaimToken::new().as_u128());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let lease_ms = millis(self.settings.lease);
        let lease_value = &lease;
        let sent = Instant::now();
        // Planned afresh each time (one more round trip per batch): the plan
        // PostgreSQL keeps once a prepared statement has run five times is
        // made for the table as it was, and one made while a new inbox was
        // small can sort every due row for each claim after a burst has
        // filled it.
        let rows = self
            .shared
            .bookkeep(
                &self.bookkeeping,
                "claim",
                sql,
                &[&limit, lease_value, &lease_ms],
                Plan::Fresh,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| Claimed {
                hold: self.holds.insert(row.get(0), lease.clone(), sent),
                stored: StoredDelivery {
                    webhook_id: row.get(1),
                    signed_at: row.get(2),
                    verified_by: row.get(3),
                    jwt_claims: row.get(4),
                    keys: None,
                },
                body: Bytes::from(row.get::<_, Vec<u8>>(5)),
                attempts: u32::try_from(row.get::<_, i32>(6)).unwrap_or(0),
                received_at: row.get(7),
                abandoned: row.get(8),
            })
            .collect())
    }

    /// Renews the lease of every job this worker holds; a job whose row no
    /// longer carries its lease is told it was taken over.
    pub(super) async fn renew(&self) {
        let (holds, keys, leases) = self.holds.snapshot();
        if holds.is_empty() {
            return;
        }
        let sql = &self.sql.renew;
        let lease_ms = millis(self.holds.lease);
        let sent = Instant::now();
        let (keys, leases) = (&keys, &leases);
        // Planned afresh, as the claim is: a kept generic plan of `= ANY`
        // scans the table (and this runs a few times a lease, not per job).
        let renewed = self
            .shared
            .bookkeep(
                &self.bookkeeping,
                "renew leases",
                sql,
                &[keys, leases, &lease_ms],
                Plan::Fresh,
            )
            .await;
        match renewed {
            Ok(rows) => {
                self.renewals.succeeded();
                let renewed: Vec<String> = rows.into_iter().map(|row| row.get(0)).collect();
                self.holds.renewed(&holds, &renewed, sent);
            }
            // The deadline passes unless a later renewal gets through.
            Err(err) => self.renewals.failed(&err),
        }
    }

    /// Opens the job's transaction and locks its row, if the lease is still
    /// this worker's; `None` if another worker took the job over.
    async fn begin(&self, hold: &Hold) -> Result<Option<Arc<JobConnection>>, InboxError> {
        // Not SKIP LOCKED: another worker's claim may hold the row for a
        // moment while it re-checks it against its own snapshot (and lets it
        // go). If our lease lapsed and another worker runs the job, the
        // wait ends with its commit, and the lease no longer matches.
        let sql = &self.sql.begin;
        // PostgreSQL's own idle-in-transaction limit, if set lower, would
        // end the transaction of a handler that computes without using the
        // connection: this job's transaction is bounded by the job timeout
        // and its hold instead.
        let idle_limit = format!(
            "BEGIN; SET LOCAL idle_in_transaction_session_timeout = {}",
            idle_limit_ms(self.settings.job_timeout)
        );
        let (key, lease) = (&hold.key, &hold.lease);
        self.shared
            .run_on(&self.jobs, "begin a job", |object| async move {
                let connection = Arc::new(JobConnection::new(object));
                let client = connection.client();
                let statement = client.prepare_cached(sql).await?;
                // Sent together, answered in order: one round trip.
                let (_, row) = try_join(
                    client.batch_execute(&idle_limit),
                    client.query_opt(&statement, &[key, lease]),
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

    /// Counts the attempt, committed before the handler runs; its number,
    /// or `None` if the lease is no longer this worker's.
    async fn start(&self, hold: &Hold) -> Result<Option<u32>, InboxError> {
        let sql = &self.sql.start;
        let (key, lease) = (&hold.key, &hold.lease);
        let rows = self
            .shared
            .bookkeep(
                &self.bookkeeping,
                "start a job",
                sql,
                &[key, lease],
                Plan::Cached,
            )
            .await?;
        Ok(rows
            .first()
            .map(|row| u32::try_from(row.get::<_, i32>(0)).unwrap_or(u32::MAX)))
    }

    /// Marks the job done in its transaction and commits.
    async fn complete(&self, connection: &JobConnection, hold: &Hold) -> Result<(), InboxError> {
        let sql = &self.sql.complete;
        let client = connection.client();
        let commit = async {
            let statement = client.prepare_cached(sql).await?;
            // One round trip. Should the mark fail, the server turns the
            // `COMMIT` behind it into a rollback, and the error is the mark's.
            // The row is ours: our `FOR KEY SHARE` lock keeps every claim off.
            try_join(
                client.execute(&statement, &[&hold.key, &hold.lease]),
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
    async fn fail(&self, hold: &Hold, attempt: u32, failure: Failure) -> JobOutcome {
        let sql = &self.sql.fail;
        let (max_attempts, error) = match failure {
            Failure::Retry(error) => (self.settings.max_attempts, error),
            Failure::Permanent(error) => (0, error),
        };
        let max_attempts = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        let backoff = self.settings.backoff(attempt);
        let pause = millis(backoff);
        let error = truncate(error, 2_000);
        let (key, lease, error_ref) = (&hold.key, &hold.lease, &error);
        let recorded = self
            .shared
            .bookkeep(
                &self.bookkeeping,
                "record a failure",
                sql,
                &[key, lease, &max_attempts, &pause, error_ref],
                Plan::Cached,
            )
            .await;
        match recorded {
            Ok(rows)
                if rows
                    .first()
                    .is_some_and(|row| row.get::<_, &str>(0) == "dead") =>
            {
                tracing::error!(
                    key,
                    attempt,
                    error,
                    "gemini webhook job failed for good: dead letter"
                );
                JobOutcome::Dead
            }
            Ok(_) => {
                // Due `pause` after the statement on the server's clock:
                // at the latest `pause` from now on ours.
                self.retry_due.schedule(Instant::now() + backoff);
                tracing::warn!(key, attempt, error, "gemini webhook job failed; will retry");
                JobOutcome::Retried
            }
            // The lease lapses and the job runs again.
            Err(err) => {
                tracing::warn!(key, error = %crate::error_chain::ErrorChain(&err), "gemini webhook job failure not recorded");
                JobOutcome::Retried
            }
        }
    }

    /// Gives a job back at shutdown: due again at once, its attempt (if it
    /// started) still counted.
    pub(super) async fn release(&self, hold: &Hold) {
        let sql = &self.sql.release;
        let (key, lease) = (&hold.key, &hold.lease);
        let released = self
            .shared
            .bookkeep(
                &self.bookkeeping,
                "release a job",
                sql,
                &[key, lease],
                Plan::Fresh,
            )
            .await;
        if let Err(err) = released {
            // Its lease lapses and it runs again.
            tracing::warn!(key, error = %crate::error_chain::ErrorChain(&err), "gemini webhook job not released at shutdown");
        }
    }

    /// Deletes old done rows.
    pub(super) async fn maintain(&self) {
        if let Err(err) = self.shared.cleanup_done_on(&self.bookkeeping.pool).await {
            tracing::warn!(error = %crate::error_chain::ErrorChain(&err), "gemini webhook inbox cleanup failed");
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
    /// One attempt at one job, start to end. Its hold is forgotten when it
    /// ends, however it ends.
    pub(super) async fn run<T, Fut, E>(self: Arc<Self>, claimed: Claimed)
    where
        F: Fn(T) -> Fut,
        T: FromJob,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let hold = Arc::clone(&claimed.hold);
        let started = Instant::now();
        if let Some(ended) = self.attempt(claimed).await {
            crate::metrics::job_finished(ended.label(), started.elapsed());
        }
        self.holds.remove(&hold);
    }

    /// The attempt's outcome; `None` if it never started (the job was
    /// taken over, or the database did not answer: the lease lapses).
    async fn attempt<T, Fut, E>(&self, claimed: Claimed) -> Option<JobOutcome>
    where
        F: Fn(T) -> Fut,
        T: FromJob,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Claimed {
            hold,
            attempts,
            abandoned,
            received_at,
            stored,
            body,
        } = claimed;
        let key = hold.key.as_str();
        if attempts >= self.settings.max_attempts {
            // Pending but out of attempts: its worker died on the last one,
            // or `max_attempts` was lowered since. Buried, not stranded.
            let why = if abandoned {
                "the worker died or lost its connection on its last attempt".to_owned()
            } else {
                format!(
                    "{attempts} attempts used up (max_attempts is {})",
                    self.settings.max_attempts
                )
            };
            return Some(self.fail(&hold, attempts, Failure::Permanent(why)).await);
        }
        let connection = match self.begin(&hold).await {
            Ok(Some(connection)) => connection,
            Ok(None) => return None,
            Err(err) => {
                tracing::warn!(key, error = %crate::error_chain::ErrorChain(&err), "gemini webhook job could not start");
                return None;
            }
        };
        let attempt = match self.start(&hold).await {
            Ok(Some(attempt)) => attempt,
            outcome => {
                if let Err(err) = outcome {
                    tracing::warn!(key, error = %crate::error_chain::ErrorChain(&err), "gemini webhook job could not start");
                }
                self.roll_back(&connection).await;
                return None;
            }
        };
        let outcome = match stored.into_delivery(key.to_owned(), body) {
            None => Err(Failure::Permanent(
                "the stored row does not read as a delivery".to_owned(),
            )),
            Some(delivery) => {
                let job = Job::new(delivery, attempt, received_at, Arc::clone(&connection));
                match T::from_job(job) {
                    Err(err) => Err(Failure::Permanent(err.to_string())),
                    Ok(input) => self.handle(input, &hold, &connection, attempt).await,
                }
            }
        };
        Some(match outcome {
            Ok(()) => match self.complete(&connection, &hold).await {
                Ok(()) => {
                    tracing::debug!(key, attempt, outcome = "handled", "gemini webhook job done");
                    JobOutcome::Handled
                }
                // Not committed: neither the handler's writes nor the mark.
                Err(err) => {
                    tracing::warn!(key, error = %crate::error_chain::ErrorChain(&err), "gemini webhook job not committed");
                    JobOutcome::NotCommitted
                }
            },
            Err(failure) => {
                self.roll_back(&connection).await;
                drop(connection);
                self.fail(&hold, attempt, failure).await
            }
        })
    }

    /// Runs the handler until it returns, panics, outlives the job timeout
    /// or loses its hold on the job; in the last two cases it is dropped
    /// (cancelled) there and then.
    async fn handle<T, Fut, E>(
        &self,
        input: T,
        hold: &Hold,
        connection: &JobConnection,
        attempt: u32,
    ) -> Result<(), Failure>
    where
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let span = tracing::info_span!("gemini_webhook_job", key = %hold.key, attempt);
        let handler =
            tracing::Instrument::instrument(CatchUnwind(Box::pin((self.handler)(input))), span);
        let timeout = self.settings.job_timeout;
        let lost = hold.lost(self.settings.watch_every(), || {
            connection.client().is_closed()
        });
        let handled = std::pin::pin!(tokio::time::timeout(timeout, handler));
        let lost = std::pin::pin!(lost);
        // The watch first: a handler cancelled for a lost hold is not asked
        // for its answer again.
        match futures_util::future::select(lost, handled).await {
            Either::Left((lost, _)) => Err(lost.into()),
            Either::Right((Ok(Ok(Ok(()))), _)) => Ok(()),
            Either::Right((Ok(Ok(Err(err))), _)) => {
                // The whole chain: a driver's `db error` names its cause
                // (the missing table) only in its source.
                let err: Box<dyn std::error::Error + Send + Sync> = err.into();
                Err(Failure::Retry(crate::ErrorChain(&*err).to_string()))
            }
            Either::Right((Ok(Err(())), _)) => {
                Err(Failure::Retry("the handler panicked".to_owned()))
            }
            Either::Right((Err(_), _)) => Err(Failure::Retry(format!(
                "the handler timed out after {} ms",
                timeout.as_millis()
            ))),
        }
    }
}

/// A lost hold is a failed attempt, retried: the handler was cancelled
/// before another worker could claim the job.
impl From<Lost> for Failure {
    fn from(lost: Lost) -> Self {
        Self::Retry(format!("cancelled: {}", lost.reason()))
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

/// The job transaction's idle limit: the job timeout plus a minute, in
/// milliseconds, at most PostgreSQL's largest (`i32::MAX`, about 24 days;
/// a larger value fails the statement).
fn idle_limit_ms(job_timeout: Duration) -> u128 {
    job_timeout
        .saturating_add(Duration::from_secs(60))
        .as_millis()
        .min(i32::MAX as u128)
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

/// How an inbox job's attempt ended: the `outcome` label of the jobs' metrics.
#[derive(Clone, Copy)]
pub(super) enum JobOutcome {
    Handled,
    Retried,
    Dead,
    NotCommitted,
}

impl JobOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Handled => "handled",
            Self::Retried => "retried",
            Self::Dead => "dead",
            Self::NotCommitted => "not_committed",
        }
    }
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
            job_timeout: Duration::from_secs(1),
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::ZERO,
        };
        let pauses: Vec<u64> = (1..=6).map(|a| settings.backoff(a).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 10, 10]);
        assert_eq!(settings.backoff(0).as_secs(), 1);
        assert_eq!(settings.backoff(u32::MAX), Duration::from_secs(10));
        assert_eq!(settings.watch_every(), Duration::from_secs(1) / 6);
    }

    #[test]
    fn the_idle_limit_is_the_job_timeout_and_a_minute_within_postgres_range() {
        assert_eq!(idle_limit_ms(Duration::from_secs(600)), 660_000);
        assert_eq!(idle_limit_ms(Duration::MAX), i32::MAX as u128);
    }

    #[test]
    fn errors_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("abcdef".to_owned(), 4), "abcd");
        assert_eq!(truncate("aé".to_owned(), 2), "a");
        assert_eq!(truncate("ab".to_owned(), 4), "ab");
    }
}
