//! One attempt at one job, start to end: begin, start, the handler under
//! its watch, then complete or fail. The statements are the door's
//! ([`WorkerDb`]), the lease's renewal in [`hold`](super::hold), the
//! loop around attempts in [`worker`](super::worker).

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::Either;
use tokio::time::Instant;

use super::db::{ClaimedRow, Fail, FailRecorded, WorkerDb};
use super::done_mark::DoneMark;
use super::failure_log::FailureLog;
use super::group_commit::GroupCommit;
use super::handler_slots::Slot;
use super::hold::{Hold, Holds, Lost};
use super::job::JobConnection;
use super::retry_due::RetryDue;
use super::worker::WorkerSettings;
use super::{FromJob, Job};
use gemini_webhooks::DeliveryRecord;
use gemini_webhooks::ErrorChain;
use gemini_webhooks::replay::ClaimToken;

/// Most bytes of a failure's text kept in the job's `last_error`.
const MAX_ERROR_BYTES: usize = 2_000;

/// What a worker's jobs share.
pub(super) struct WorkerContext<F> {
    pub(super) db: WorkerDb,
    pub(super) settings: WorkerSettings,
    pub(super) holds: Holds,
    pub(super) handler: Arc<F>,
    /// Renewals fail together while the database is away: logged once.
    pub(super) renewals: FailureLog,
    /// When the earliest retry this worker scheduled falls due: the loop
    /// wakes then, not at its next poll, so a backoff shorter than the
    /// poll interval holds.
    pub(super) retry_due: RetryDue,
    /// The done marks of a worker that completes in batches.
    pub(super) completions: GroupCommit<DoneMark>,
}

/// A job as claimed: its row, and the lease that proves the claim.
pub(super) struct ClaimedJob {
    pub(super) hold: Arc<Hold>,
    /// Attempts started before this claim.
    attempts: u32,
    /// An earlier worker's lease was still on the row.
    abandoned: bool,
    received_at: SystemTime,
    stored: DeliveryRecord,
    body: Bytes,
    /// The trace context stored with it: its attempt's span continues it.
    trace_context: Option<String>,
    /// The handler's slot, in a worker that completes in batches: freed
    /// when the handler returns, before the done mark.
    pub(super) slot: Option<Slot>,
}

/// Why an attempt failed.
enum AttemptFailure {
    /// Worth another attempt (the handler failed, panicked, timed out or
    /// lost its hold on the job).
    Retry(String),
    /// No attempt can succeed (the body is not the handler's type, the
    /// attempts are used up).
    Permanent(String),
}

/// How the handler's run ended.
enum Ended<E> {
    Ok,
    Failed(E),
    Panicked,
    TimedOut,
    Lost(Lost),
}

impl<F> WorkerContext<F> {
    /// Claims up to `limit` due jobs, giving each a fresh lease.
    pub(super) async fn claim(&self, limit: usize) -> Result<Vec<ClaimedJob>, super::InboxError> {
        let lease = gemini_webhooks::__private::token_hex(&ClaimToken::new());
        let sent = Instant::now();
        let rows = self.db.claim(limit, &lease, self.settings.lease).await?;
        Ok(rows
            .into_iter()
            .map(|row: ClaimedRow| ClaimedJob {
                hold: self.holds.insert(row.key, lease.clone(), sent),
                attempts: row.attempts,
                abandoned: row.abandoned,
                received_at: row.received_at,
                stored: row.stored,
                body: row.body,
                trace_context: row.trace_context,
                slot: None,
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
        let sent = Instant::now();
        match self.db.renew(&keys, &leases, self.holds.lease).await {
            Ok(renewed) => {
                self.renewals.succeeded();
                self.holds.renewed(&holds, &renewed, sent);
            }
            // The deadline passes unless a later renewal gets through.
            Err(err) => self.renewals.failed(&err),
        }
    }

    /// Records a failed attempt: due again after the backoff, or a dead
    /// letter once attempts are used up (at once for a permanent failure).
    async fn fail(&self, hold: &Hold, attempt: u32, failure: AttemptFailure) -> JobOutcome {
        let (fail, error) = match failure {
            AttemptFailure::Retry(error) => {
                let fail = Fail::Retry {
                    max_attempts: self.settings.max_attempts,
                    pause: self.settings.backoff(attempt),
                };
                (fail, error)
            }
            AttemptFailure::Permanent(error) => (Fail::Dead, error),
        };
        let error = truncate(error, MAX_ERROR_BYTES);
        let key = hold.key.as_str();
        match self.db.fail(key, &hold.lease, fail, &error).await {
            Ok(FailRecorded::Dead) => {
                tracing::error!(
                    key,
                    attempt,
                    error,
                    "gemini webhook job failed for good: dead letter"
                );
                JobOutcome::Dead
            }
            Ok(FailRecorded::Retrying) => {
                if let Fail::Retry { pause, .. } = fail {
                    // Due `pause` after the statement on the server's
                    // clock: at the latest `pause` from now on ours.
                    self.retry_due.schedule(Instant::now() + pause);
                }
                tracing::warn!(key, attempt, error, "gemini webhook job failed; will retry");
                JobOutcome::Retried
            }
            // Another worker holds the job now (this lease lapsed): its
            // attempt decides, and nothing is due here.
            Ok(FailRecorded::NotHeld) => {
                tracing::warn!(
                    key,
                    attempt,
                    error,
                    "gemini webhook job failed after its lease was taken over; its new holder runs it"
                );
                JobOutcome::Retried
            }
            // The lease lapses and the job runs again.
            Err(err) => {
                tracing::warn!(key, error = %ErrorChain(&err), "gemini webhook job failure not recorded");
                JobOutcome::Retried
            }
        }
    }

    /// Gives a job back at shutdown: due again at once, its attempt (if it
    /// started) still counted.
    pub(super) async fn release(&self, hold: &Hold) {
        if let Err(err) = self.db.release(&hold.key, &hold.lease).await {
            // Its lease lapses and it runs again.
            tracing::warn!(key = hold.key, error = %ErrorChain(&err), "gemini webhook job not released at shutdown");
        }
    }
}

impl<F: Send + Sync + 'static> WorkerContext<F> {
    /// One attempt at one job, start to end; its outcome, `None` if it
    /// never started. Its hold is forgotten when it ends, however it ends.
    pub(super) async fn run<T, Fut, E>(self: Arc<Self>, claimed: ClaimedJob) -> Option<JobOutcome>
    where
        F: Fn(T) -> Fut,
        T: FromJob,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let hold = Arc::clone(&claimed.hold);
        let started = Instant::now();
        let outcome = self.attempt(claimed).await;
        if let Some(outcome) = outcome {
            crate::metrics::job_finished(outcome.label(), started.elapsed());
        }
        self.holds.remove(&hold);
        outcome
    }

    /// The attempt's outcome; `None` if it never started (the job was
    /// taken over, or the database did not answer: the lease lapses).
    async fn attempt<T, Fut, E>(self: &Arc<Self>, claimed: ClaimedJob) -> Option<JobOutcome>
    where
        F: Fn(T) -> Fut,
        T: FromJob,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let hold = Arc::clone(&claimed.hold);
        if claimed.attempts >= self.settings.max_attempts {
            // Pending but out of attempts: its worker died on the last one,
            // or `max_attempts` was lowered since. Buried, not stranded.
            let why = self.used_up(&claimed);
            return Some(self.fail(&hold, claimed.attempts, why).await);
        }
        if self.settings.in_batches {
            return Some(self.attempt_alone(claimed).await);
        }
        let (connection, attempt) = self.open(&hold).await?;
        let span = self.job_span(&claimed, attempt);
        let delivery = claimed.stored.into_delivery(hold.key.clone(), claimed.body);
        let outcome = match delivery {
            None => Err(AttemptFailure::Permanent(
                "the stored row does not read as a delivery".to_owned(),
            )),
            Some(delivery) => {
                let job = Job::new(
                    delivery,
                    attempt,
                    claimed.received_at,
                    Arc::clone(&connection),
                );
                match T::from_job(job) {
                    Err(err) => Err(AttemptFailure::Permanent(err.to_string())),
                    Ok(input) => {
                        let closed = || connection.client().is_closed();
                        self.handle(input, &hold, closed, span).await
                    }
                }
            }
        };
        Some(self.close(connection, &hold, attempt, outcome).await)
    }

    /// An attempt outside any transaction (a worker that completes in
    /// batches): the claim counted it; a success is marked done with the
    /// others that end meanwhile ([`DoneMark`]).
    async fn attempt_alone<T, Fut, E>(self: &Arc<Self>, claimed: ClaimedJob) -> JobOutcome
    where
        F: Fn(T) -> Fut,
        T: FromJob,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let hold = Arc::clone(&claimed.hold);
        let attempt = claimed.attempts.saturating_add(1);
        let span = self.job_span(&claimed, attempt);
        let slot = claimed.slot;
        let delivery = claimed.stored.into_delivery(hold.key.clone(), claimed.body);
        let input = match delivery.map(T::from_delivery_alone) {
            None => Err("the stored row does not read as a delivery".to_owned()),
            // Only a `FromDelivery` input can ask for batches: not reached.
            Some(None) => Err("the handler's input needs the job's transaction".to_owned()),
            Some(Some(Err(err))) => Err(err.to_string()),
            Some(Some(Ok(input))) => Ok(input),
        };
        let outcome = match input {
            Err(why) => Err(AttemptFailure::Permanent(why)),
            Ok(input) => self.handle(input, &hold, || false, span).await,
        };
        // The next claim can run while this job's mark is written.
        drop(slot);
        match outcome {
            Ok(()) => self.mark_done(&hold, attempt).await,
            Err(failure) => self.fail(&hold, attempt, failure).await,
        }
    }

    /// Why a job claimed with its attempts used up fails for good.
    fn used_up(&self, claimed: &ClaimedJob) -> AttemptFailure {
        AttemptFailure::Permanent(if claimed.abandoned {
            "the worker died or lost its connection on its last attempt".to_owned()
        } else {
            format!(
                "{} attempts used up (max_attempts is {})",
                claimed.attempts, self.settings.max_attempts
            )
        })
    }

    /// Opens the job's transaction and counts the attempt: the connection
    /// and the attempt's number; `None` if the job was taken over or the
    /// database did not answer (logged).
    async fn open(&self, hold: &Hold) -> Option<(Arc<JobConnection>, u32)> {
        let key = hold.key.as_str();
        let idle_limit = idle_limit_ms(self.settings.job_timeout);
        let connection = match self.db.begin(key, &hold.lease, idle_limit).await {
            Ok(connection) => connection?,
            Err(err) => {
                tracing::warn!(key, error = %ErrorChain(&err), "gemini webhook job could not start");
                return None;
            }
        };
        match self.db.start(key, &hold.lease).await {
            Ok(Some(attempt)) => Some((connection, attempt)),
            started => {
                if let Err(err) = started {
                    tracing::warn!(key, error = %ErrorChain(&err), "gemini webhook job could not start");
                }
                self.db.roll_back(&connection).await;
                None
            }
        }
    }

    /// Commits a handled job, or rolls a failed one back and records the
    /// failure.
    async fn close(
        &self,
        connection: Arc<JobConnection>,
        hold: &Hold,
        attempt: u32,
        outcome: Result<(), AttemptFailure>,
    ) -> JobOutcome {
        let key = hold.key.as_str();
        let Err(failure) = outcome else {
            return match self.db.complete(&connection, key, &hold.lease).await {
                Ok(()) => {
                    tracing::debug!(key, attempt, outcome = "handled", "gemini webhook job done");
                    JobOutcome::Handled
                }
                // Not committed: neither the handler's writes nor the mark.
                Err(err) => {
                    tracing::warn!(key, error = %ErrorChain(&err), "gemini webhook job not committed");
                    JobOutcome::NotCommitted
                }
            };
        };
        self.db.roll_back(&connection).await;
        drop(connection);
        self.fail(hold, attempt, failure).await
    }

    /// Attempt `attempt`'s span, with OpenTelemetry's messaging attributes,
    /// continuing the trace context stored with the job.
    fn job_span(&self, claimed: &ClaimedJob, attempt: u32) -> tracing::Span {
        let span = tracing::info_span!(
            "gemini_webhook_job",
            key = %claimed.hold.key,
            attempt,
            messaging.system = "gemini-webhooks-inbox",
            messaging.operation = "process",
            messaging.message.id = %claimed.stored.webhook_id,
            messaging.destination.name = self.db.table(),
        );
        super::trace::continue_in(&span, claimed.trace_context.as_deref());
        span
    }

    /// Runs the handler until it returns, panics, outlives the job timeout
    /// or loses its hold on the job; in the last two cases it is dropped
    /// (cancelled) there and then.
    async fn handle<T, Fut, E>(
        &self,
        input: T,
        hold: &Hold,
        closed: impl Fn() -> bool,
        span: tracing::Span,
    ) -> Result<(), AttemptFailure>
    where
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let handler =
            tracing::Instrument::instrument(CatchUnwind(Box::pin((self.handler)(input))), span);
        let timeout = self.settings.job_timeout;
        // `closed`: whether the job's transaction's connection is gone.
        let lost = hold.lost(self.settings.watch_every(), closed);
        let handled = std::pin::pin!(tokio::time::timeout(timeout, handler));
        let lost = std::pin::pin!(lost);
        // The watch first: a handler cancelled for a lost hold is not asked
        // for its answer again.
        let ended = match futures_util::future::select(lost, handled).await {
            Either::Left((lost, _)) => Ended::Lost(lost),
            Either::Right((Ok(Ok(Ok(()))), _)) => Ended::Ok,
            Either::Right((Ok(Ok(Err(err))), _)) => Ended::Failed(err),
            Either::Right((Ok(Err(())), _)) => Ended::Panicked,
            Either::Right((Err(_), _)) => Ended::TimedOut,
        };
        let failure = match ended {
            Ended::Ok => return Ok(()),
            Ended::Failed(err) => {
                // The whole chain: a driver's `db error` names its cause
                // (the missing table) only in its source.
                let err: Box<dyn std::error::Error + Send + Sync> = err.into();
                ErrorChain(&*err).to_string()
            }
            Ended::Panicked => "the handler panicked".to_owned(),
            Ended::TimedOut => format!("the handler timed out after {} ms", timeout.as_millis()),
            // Cancelled before another worker could claim the job.
            Ended::Lost(lost) => format!("cancelled: {}", lost.reason()),
        };
        Err(AttemptFailure::Retry(failure))
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
