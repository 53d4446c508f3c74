//! [`Reconciler`]: its settings, its loop, and one round: due jobs claimed,
//! polled, and stored or rescheduled in one transaction.

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::time::Instant;

use super::db::{ClaimedTracking, Step, TrackingDb};
use super::health::EndpointHealth;
use super::polled::{Polled, envelope};
use crate::inbox::failure_log::FailureLog;
use crate::inbox::{Inbox, InboxError};
use gemini_webhooks::ErrorChain;
use gemini_webhooks_api::{ApiError, GeminiClient, JobName};

/// Polls the Gemini API for tracked jobs whose webhook has not come by
/// their deadline, and stores each completion it finds in the inbox as
/// the webhook would have been; built by [`Reconciler::new`], started
/// with [`run`](Self::run) or [`run_until`](Self::run_until).
///
/// Any number of replicas can run one: a round claims due jobs with `FOR
/// UPDATE SKIP LOCKED`, polls them concurrently, and in the same
/// transaction stores each completion (`ON CONFLICT DO NOTHING`, so a
/// webhook's copy stored first wins and the poll is a no-op) and closes
/// its job, or schedules the next poll of a job still running. A replica
/// that dies mid-round loses its connection, and with it its locks: the
/// jobs are claimed again. One job's failing poll (429, 5xx, timeout)
/// backs off that job alone; a job not ended by its kind's
/// [horizon](super::horizon) is abandoned with an ERROR log.
///
/// It takes one connection of its own (the inbox's pool when built
/// [`from_pool`](Inbox::from_pool)).
#[must_use]
pub struct Reconciler {
    inbox: Inbox,
    client: GeminiClient,
    pub(super) settings: ReconcilerSettings,
    pool: OnceLock<Pool>,
    tracking: TrackingDb,
    /// Failed polls whose cause is new for their job, logged once per
    /// cause across jobs (each job's own error is in its tracking row): a
    /// job failing the same way poll after poll is not logged again.
    polls_log: FailureLog,
}

#[derive(Debug, Clone)]
pub(super) struct ReconcilerSettings {
    batch_size: usize,
    tick: Duration,
    poll_interval: Duration,
    max_poll_interval: Duration,
    retry_backoff: Duration,
    poll_timeout: Duration,
    reconcile_after: Option<Duration>,
    pub(super) webhook: Option<String>,
    pub(super) health_interval: Duration,
    pub(super) reenable: bool,
}

/// What one round did, job by job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Round {
    /// Jobs claimed and polled.
    pub polled: usize,
    /// Events stored by the poll (completions, and pending actions).
    pub stored: usize,
    /// Completions found already stored (their webhook came first).
    pub already_stored: usize,
    /// Jobs still running, polled again later.
    pub running: usize,
    /// Polls that failed (API errors, timeouts), tried again later.
    pub failed: usize,
    /// Jobs given up at their horizon.
    pub abandoned: usize,
    /// Whether the API answered 429 to a poll.
    pub rate_limited: bool,
}

/// What polling a job came to.
enum Outcome {
    Polled(Polled),
    /// The poll failed: why (its cause chain), and whether it was a 429.
    Failed {
        error: String,
        rate_limited: bool,
    },
}

impl Outcome {
    fn failed(err: &ApiError) -> Self {
        Self::Failed {
            error: ErrorChain(err).to_string(),
            rate_limited: err.status() == Some(http::StatusCode::TOO_MANY_REQUESTS),
        }
    }
}

impl Reconciler {
    /// A reconciler of `inbox`'s tracked jobs, polling them through
    /// `client`; its settings below.
    ///
    /// ```no_run
    /// # fn run(inbox: gemini_webhooks_postgres::inbox::Inbox) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks_api::GeminiClient;
    /// use gemini_webhooks_postgres::reconcile::Reconciler;
    ///
    /// let client = GeminiClient::new(std::env::var("GEMINI_API_KEY")?)?;
    /// tokio::spawn(Reconciler::new(&inbox, client).run());
    /// # Ok(()) }
    /// ```
    pub fn new(inbox: &Inbox, client: GeminiClient) -> Self {
        Reconciler {
            inbox: inbox.clone(),
            client,
            settings: ReconcilerSettings {
                batch_size: 16,
                tick: Duration::from_secs(1),
                poll_interval: Duration::from_secs(300),
                max_poll_interval: Duration::from_secs(3600),
                retry_backoff: Duration::from_secs(5),
                poll_timeout: Duration::from_secs(20),
                reconcile_after: None,
                webhook: None,
                health_interval: Duration::from_secs(300),
                reenable: false,
            },
            pool: OnceLock::new(),
            tracking: TrackingDb::new(inbox.table()),
            polls_log: FailureLog::new("polling tracked jobs"),
        }
    }
}

impl Reconciler {
    /// How many due jobs one round claims and polls at once (default 16).
    pub fn batch_size(mut self, jobs: usize) -> Self {
        self.settings.batch_size = jobs.max(1);
        self
    }

    /// How often an idle reconciler looks for due jobs (default 1 s).
    pub fn tick(mut self, every: Duration) -> Self {
        self.settings.tick = every;
        self
    }

    /// How long after a poll found a job still running it is polled again
    /// (default 5 min), doubling with each poll up to
    /// [`max_poll_interval`](Self::max_poll_interval).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll_interval = interval;
        self
    }

    /// The longest wait between two polls of a running job (default 1 h);
    /// set it to the [`poll_interval`](Self::poll_interval) for a fixed
    /// interval.
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.settings.max_poll_interval = interval;
        self
    }

    /// How long after a failed poll (429, 5xx, a timeout) it is tried
    /// again (default 5 s), doubling with each failure in a row up to the
    /// [`max_poll_interval`](Self::max_poll_interval). A 429 also pauses
    /// the whole reconciler that long before its next round.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.settings.retry_backoff = backoff;
        self
    }

    /// How long one poll may take, the client's own retries included
    /// (default 20 s); a poll cut off counts as failed.
    pub fn poll_timeout(mut self, timeout: Duration) -> Self {
        self.settings.poll_timeout = timeout;
        self
    }

    /// Jobs tracked without an [`expect_within`](super::TrackedJob::expect_within)
    /// of their own are polled once unseen this long, instead of after
    /// their kind's default.
    pub fn reconcile_after(mut self, after: Duration) -> Self {
        self.settings.reconcile_after = Some(after);
        self
    }

    /// Watches the static webhook `id` (its endpoint's health): its `state`
    /// is read every [`health_interval`](Self::health_interval); when it
    /// is not `enabled`, the reconciler logs an ERROR, sets the
    /// `gemini_webhooks_endpoint_enabled` gauge to 0, and polls every
    /// tracked unseen job at once (no webhook is coming for them) — and,
    /// with [`reenable`](Self::reenable), turns it back on.
    pub fn watch_webhook(mut self, id: impl Into<String>) -> Self {
        self.settings.webhook = Some(id.into());
        self
    }

    /// How often the watched webhook's state is read (default 5 min).
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.settings.health_interval = interval;
        self
    }

    /// Re-enables the watched webhook when Gemini disabled it after failed
    /// deliveries (`PATCH …?update_mask=state`; default off: fix the
    /// endpoint first, or it fails again). A webhook you disabled yourself
    /// is left as it is.
    pub fn reenable(mut self, reenable: bool) -> Self {
        self.settings.reenable = reenable;
        self
    }

    /// Runs until the process ends; see [`run_until`](Self::run_until).
    pub async fn run(self) {
        self.run_until(std::future::pending()).await;
    }

    /// Runs rounds until `shutdown` completes: a round that finds as many
    /// due jobs as it can take is followed at once by the next, otherwise
    /// the next comes after the [`tick`](Self::tick). A round under way
    /// when `shutdown` completes is finished first (it takes at most the
    /// [`poll_timeout`](Self::poll_timeout) and the inbox timeout), so no
    /// poll's answer is thrown away; no round starts after it. A
    /// `shutdown` already complete stops it before its first round.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = pin!(shutdown);
        let rounds = FailureLog::new("reconcile tracked jobs");
        let mut health = self.settings.webhook.clone().map(EndpointHealth::new);
        let mut next_check = Instant::now();
        loop {
            // Between rounds too: a backlog (rounds back to back) must not
            // hold a shutdown up.
            let stopping = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(shutdown.as_mut().poll(cx).is_ready())
            })
            .await;
            if stopping {
                return;
            }
            if let Some(health) = health.as_mut()
                && Instant::now() >= next_check
            {
                health.check(&self).await;
                next_check = Instant::now() + self.settings.health_interval;
            }
            let pause = match self.run_once().await {
                Ok(round) => {
                    rounds.succeeded();
                    if round.rate_limited {
                        self.settings.retry_backoff.max(self.settings.tick)
                    } else if round.polled >= self.settings.batch_size {
                        Duration::ZERO
                    } else {
                        self.settings.tick
                    }
                }
                Err(err) => {
                    rounds.failed(&err);
                    self.settings.tick
                }
            };
            if pause.is_zero() {
                continue;
            }
            let mut wake = pause;
            if health.is_some() {
                wake = wake.min(next_check.saturating_duration_since(Instant::now()));
            }
            let sleep = pin!(tokio::time::sleep(wake));
            if let futures_util::future::Either::Left(_) =
                futures_util::future::select(shutdown.as_mut(), sleep).await
            {
                return;
            }
        }
    }

    /// One round now: claims up to [`batch_size`](Self::batch_size) due
    /// jobs, polls them, and stores or reschedules each, all in one
    /// transaction. An error means nothing of the round was written: its
    /// jobs are due again.
    pub async fn run_once(&self) -> Result<Round, InboxError> {
        let db = &self.inbox.shared.db;
        let timeout = db.settings.timeout;
        let mut client = db.connection(self.pool(), "reconcile").await?;
        let database = |err| InboxError::database("reconcile", err);
        let in_time = |what| move |_| InboxError::TimedOut { what };
        if let Some(after) = self.settings.reconcile_after {
            tokio::time::timeout(timeout, self.tracking.override_default(&**client, after))
                .await
                .map_err(in_time("reconcile"))?
                .map_err(database)?;
        }
        let transaction = client.transaction().await.map_err(database)?;
        let claim = self.tracking.claim(&*transaction, self.settings.batch_size);
        let jobs = tokio::time::timeout(timeout, claim)
            .await
            .map_err(in_time("claim tracked jobs"))?
            .map_err(database)?;
        if jobs.is_empty() {
            return Ok(Round::default());
        }
        // A span per polled job: its poll, its write, and the attempt of a
        // completion it stores (which continues it) in one trace.
        let spans: Vec<_> = jobs
            .iter()
            .map(|job| tracing::info_span!("gemini_webhook_poll", job = %job.resource))
            .collect();
        let polls = jobs.iter().zip(&spans);
        let outcomes = futures_util::future::join_all(
            polls.map(|(job, span)| tracing::Instrument::instrument(self.poll(job), span.clone())),
        )
        .await;
        let mut round = Round {
            polled: jobs.len(),
            ..Round::default()
        };
        let writes = async {
            for ((job, outcome), span) in jobs.iter().zip(&outcomes).zip(&spans) {
                let step = self.decide(job, outcome, unix_now());
                let apply = self.tracking.apply(&*transaction, &job.key, &step);
                let stored = tracing::Instrument::instrument(apply, span.clone()).await?;
                self.account(job, outcome, &step, stored, &mut round);
            }
            transaction.commit().await
        };
        tokio::time::timeout(timeout, writes)
            .await
            .map_err(in_time("store polled jobs"))?
            .map_err(database)?;
        if round.stored > 0 {
            self.inbox.shared.wake_workers();
        }
        Ok(round)
    }

    /// Polls one job, within the poll timeout.
    async fn poll(&self, job: &ClaimedTracking) -> Outcome {
        let name = match JobName::parse(&job.resource) {
            Ok(name) => name,
            Err(err) => return Outcome::failed(&err),
        };
        match tokio::time::timeout(self.settings.poll_timeout, self.client.get_job(&name)).await {
            Ok(Ok(status)) => Outcome::Polled(Polled::of(&status, &job.resource)),
            Ok(Err(err)) => Outcome::failed(&err),
            Err(_) => Outcome::Failed {
                error: format!(
                    "no answer within the poll timeout of {:?}",
                    self.settings.poll_timeout
                ),
                rate_limited: false,
            },
        }
    }

    /// What polling `job` comes to, at unix time `now`: what the round
    /// writes for it. Pure: [`TrackingDb::apply`] writes it.
    fn decide<'a>(&self, job: &ClaimedTracking, outcome: &'a Outcome, now: i64) -> Step<'a> {
        match outcome {
            Outcome::Polled(Polled::Event {
                event_type,
                data,
                completion_key,
                ends,
            }) => Step::Store {
                id: format!("poll:{completion_key}"),
                signed_at: now,
                body: envelope(*event_type, data, job.user_metadata.as_ref()),
                completion_key,
                event_type: event_type.as_str(),
                next: (!ends).then(|| self.next_poll(job.polls)),
            },
            Outcome::Polled(Polled::Running(state)) if job.past_horizon => Step::Abandon {
                state: Some(state),
                error: None,
            },
            Outcome::Polled(Polled::Running(state)) => Step::Reschedule {
                state,
                next: self.next_poll(job.polls),
            },
            Outcome::Failed { error, .. } if job.past_horizon => Step::Abandon {
                state: None,
                error: Some(error),
            },
            Outcome::Failed { error, .. } => Step::Retry {
                error,
                next: self.retry_after(job.failures),
            },
        }
    }

    /// Counts, logs and measures what the round wrote for `job`.
    fn account(
        &self,
        job: &ClaimedTracking,
        outcome: &Outcome,
        step: &Step<'_>,
        stored: bool,
        round: &mut Round,
    ) {
        match outcome {
            Outcome::Polled(polled) => {
                self.polls_log.succeeded();
                crate::metrics::poll(match polled {
                    Polled::Event { ends: true, .. } => "ended",
                    Polled::Event { ends: false, .. } => "action",
                    Polled::Running(_) => "running",
                });
            }
            Outcome::Failed { rate_limited, .. } => {
                round.rate_limited |= rate_limited;
                round.failed += 1;
                crate::metrics::poll(if *rate_limited {
                    "rate_limited"
                } else {
                    "failed"
                });
            }
        }
        match step {
            Step::Store {
                next, event_type, ..
            } => {
                if stored {
                    round.stored += 1;
                    crate::metrics::completion_stored("poll");
                }
                if next.is_some() {
                    round.running += 1;
                } else {
                    round.already_stored += usize::from(!stored);
                    tracing::debug!(job = %job.resource, event_type, stored, "gemini job polled: ended");
                }
            }
            Step::Reschedule { .. } => round.running += 1,
            Step::Retry { error, .. } => log_failure(job, &self.polls_log, error),
            Step::Abandon { state, error } => {
                round.abandoned += 1;
                tracing::error!(
                    job = %job.resource,
                    state,
                    error,
                    "gemini job not ended by its horizon: no longer polled; its completion, if it comes, is handled as a webhook"
                );
                crate::metrics::poll("abandoned");
            }
        }
    }

    /// The wait before the next poll of a job polled `polls` times before.
    fn next_poll(&self, polls: u32) -> Duration {
        gemini_webhooks::__private::doubled(
            self.settings.poll_interval,
            polls,
            self.settings.max_poll_interval,
        )
    }

    /// The wait after a poll that failed, `failures` failures before it.
    fn retry_after(&self, failures: u32) -> Duration {
        gemini_webhooks::__private::doubled(
            self.settings.retry_backoff,
            failures,
            self.settings.max_poll_interval,
        )
    }

    /// Makes every open tracked job due now; how many.
    pub(super) async fn due_now(&self) -> Result<u64, InboxError> {
        self.tracking.due_now(&self.inbox.shared.db).await
    }

    /// Records the watched `webhook`'s `state`, checked now.
    pub(crate) async fn record_webhook(
        &self,
        webhook: &str,
        state: &str,
    ) -> Result<(), InboxError> {
        let db = &self.inbox.shared.db;
        self.tracking.record_webhook(db, webhook, state).await
    }

    pub(super) fn client(&self) -> &GeminiClient {
        &self.client
    }

    /// The reconciler's connection: a round's transaction is idle while it
    /// polls, so the server is told to end one idle far longer than any
    /// poll (a reconciler hung mid-round then frees its jobs).
    fn pool(&self) -> &Pool {
        self.pool.get_or_init(|| {
            let idle_ms = idle_cutoff(
                self.settings.poll_timeout,
                self.inbox.shared.db.settings.timeout,
            )
            .as_millis();
            let options = format!("-c idle_in_transaction_session_timeout={idle_ms}");
            self.inbox
                .shared
                .db
                .own_pool(1, &options)
                .unwrap_or_else(|_| self.inbox.shared.db.pool.clone())
        })
    }
}

/// Logs a failed poll: to `log` (WARN, once per cause across jobs) when
/// its cause is new for this job, else at DEBUG only (it failed the same
/// way last time).
fn log_failure(job: &ClaimedTracking, log: &FailureLog, error: &str) {
    if job.last_error.as_deref() == Some(error) {
        tracing::debug!(job = %job.resource, error, "polling a tracked gemini job still fails");
    } else {
        log.failed_with(error.to_owned());
    }
}

/// The unix time now, in seconds: a polled event's `signed_at`.
fn unix_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    i64::try_from(since.map_or(0, |since| since.as_secs())).unwrap_or(i64::MAX)
}

/// How long the server lets a round's transaction sit idle: twice the
/// poll timeout (the polls run while it is open) and the statement timeout
/// on top, at least a minute.
fn idle_cutoff(poll_timeout: Duration, timeout: Duration) -> Duration {
    (poll_timeout.saturating_mul(2) + timeout).max(Duration::from_secs(60))
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("inbox", &self.inbox)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_round_is_cut_off_well_after_its_polls() {
        let s = Duration::from_secs;
        assert_eq!(idle_cutoff(s(20), s(1)), s(60), "at least a minute");
        assert_eq!(idle_cutoff(s(40), s(5)), s(85));
        assert_eq!(idle_cutoff(s(100), s(10)), s(210));
    }

    #[test]
    fn its_debug_shows_its_settings_not_its_key() {
        let inbox = Inbox::builder("postgres://h/db").build().unwrap();
        let client = GeminiClient::new("AIzaSecretKey").unwrap();
        let shown = format!("{:?}", Reconciler::new(&inbox, client).batch_size(7));
        assert!(shown.contains("batch_size: 7"), "{shown}");
        assert!(!shown.contains("AIzaSecretKey"), "{shown}");
    }

    fn reconciler() -> Reconciler {
        let inbox = Inbox::builder("postgres://h/db").build().unwrap();
        let client = GeminiClient::new("AIzaSecretKey").unwrap();
        Reconciler::new(&inbox, client)
            .poll_interval(Duration::from_secs(300))
            .retry_backoff(Duration::from_secs(5))
            .max_poll_interval(Duration::from_secs(3600))
    }

    fn job(polls: u32, failures: u32, past_horizon: bool) -> ClaimedTracking {
        ClaimedTracking {
            key: "batch:b1".to_owned(),
            resource: "batches/b1".to_owned(),
            user_metadata: Some(serde_json::json!({"order": 7})),
            polls,
            failures,
            past_horizon,
            last_error: None,
        }
    }

    fn event(ends: bool) -> Outcome {
        Outcome::Polled(Polled::Event {
            event_type: gemini_webhooks::event::EventType::BatchSucceeded,
            data: serde_json::json!({"id": "batches/b1"}),
            completion_key: "batch:b1".to_owned(),
            ends,
        })
    }

    #[test]
    fn an_ending_is_stored_and_closes_the_job_and_an_action_polls_it_again() {
        let reconciler = reconciler();
        let outcome = event(true);
        let Step::Store {
            id,
            signed_at,
            body,
            completion_key,
            event_type,
            next,
        } = reconciler.decide(&job(2, 0, false), &outcome, 1_700_000_000)
        else {
            panic!("not a store");
        };
        assert_eq!(id, "poll:batch:b1");
        assert_eq!(
            (signed_at, completion_key, event_type),
            (1_700_000_000, "batch:b1", "batch.succeeded")
        );
        assert_eq!(next, None, "an ending closes the job");
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["type"], "batch.succeeded");
        assert_eq!(body["user_metadata"]["order"], 7, "{body}");
        // Past the horizon too: an ending found is an ending stored.
        let outcome = event(false);
        let step = reconciler.decide(&job(2, 0, true), &outcome, 0);
        assert!(
            matches!(step, Step::Store { next: Some(next), .. } if next == Duration::from_secs(1200)),
            "{step:?}"
        );
    }

    #[test]
    fn a_running_job_is_polled_again_with_backoff_until_its_horizon() {
        let reconciler = reconciler();
        let running = Outcome::Polled(Polled::Running("BATCH_STATE_RUNNING".to_owned()));
        let step = reconciler.decide(&job(3, 0, false), &running, 0);
        assert_eq!(
            step,
            Step::Reschedule {
                state: "BATCH_STATE_RUNNING",
                next: Duration::from_secs(2400)
            }
        );
        let step = reconciler.decide(&job(30, 0, false), &running, 0);
        assert!(matches!(step, Step::Reschedule { next, .. } if next == Duration::from_secs(3600)));
        let step = reconciler.decide(&job(3, 0, true), &running, 0);
        assert_eq!(
            step,
            Step::Abandon {
                state: Some("BATCH_STATE_RUNNING"),
                error: None
            }
        );
    }

    #[test]
    fn a_failed_poll_is_retried_with_its_own_backoff_until_the_horizon() {
        let reconciler = reconciler();
        let failed = Outcome::Failed {
            error: "503".to_owned(),
            rate_limited: false,
        };
        let step = reconciler.decide(&job(9, 2, false), &failed, 0);
        assert_eq!(
            step,
            Step::Retry {
                error: "503",
                next: Duration::from_secs(20)
            }
        );
        let step = reconciler.decide(&job(9, 2, true), &failed, 0);
        assert_eq!(
            step,
            Step::Abandon {
                state: None,
                error: Some("503")
            }
        );
    }
}
