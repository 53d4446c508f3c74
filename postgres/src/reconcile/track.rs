//! [`TrackedJob`]: a job the application started, recorded so that its
//! completion is handled even if its webhook never comes.

use std::sync::Arc;
use std::time::Duration;

use crate::connection::millis;
use crate::inbox::{Inbox, InboxError};
use gemini_webhooks::event::UserMetadata;
use gemini_webhooks_api::JobName;

use super::JobKind;
use super::db::TrackingDb;
use super::{TrackedRecord, TrackedState};

/// The longest [`expect_within`](TrackedJob::expect_within) a job may be
/// tracked with: 100 years. No Gemini job is kept nearly so long, and a wait
/// beyond what the database's timestamps hold is refused before any
/// statement ([`InboxError::InvalidArgument`]).
pub const MAX_EXPECT_WITHIN: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A job for an [`Inbox`] to expect: its resource name, when its event is
/// due, and the `user_metadata` to hand its handler if the event has to be
/// polled for ([`Tracking::track`]).
///
/// ```
/// use std::time::Duration;
/// use gemini_webhooks_api::JobName;
/// use gemini_webhooks_postgres::reconcile::TrackedJob;
///
/// let job = TrackedJob::new(JobName::parse("batches/b1")?)
///     .expect_within(Duration::from_secs(2 * 3600))
///     .user_metadata(serde_json::json!({"order": 42}).as_object().unwrap().clone());
/// assert_eq!(job.expected_within(), Duration::from_secs(7200));
/// # Ok::<(), gemini_webhooks_api::ApiError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedJob {
    name: JobName,
    expect_within: Option<Duration>,
    user_metadata: Option<UserMetadata>,
}

impl TrackedJob {
    /// The job `name`, expected within its kind's default
    /// ([`default_expect_within`](super::default_expect_within)).
    pub fn new(name: JobName) -> Self {
        Self {
            name,
            expect_within: None,
            user_metadata: None,
        }
    }

    /// How long after tracking its event may take before the reconciler
    /// polls for it.
    pub fn expect_within(mut self, within: Duration) -> Self {
        self.expect_within = Some(within);
        self
    }

    /// The job's `user_metadata`: a polled event carries it as the webhook
    /// would have (the API does not give it back on a poll).
    pub fn user_metadata(mut self, metadata: UserMetadata) -> Self {
        self.user_metadata = Some(metadata);
        self
    }

    /// The job.
    pub fn name(&self) -> &JobName {
        &self.name
    }

    /// Its kind.
    pub fn kind(&self) -> JobKind {
        self.name.kind()
    }

    /// How long its event may take: as set, or its kind's default.
    pub fn expected_within(&self) -> Duration {
        self.expect_within
            .unwrap_or_else(|| super::default_expect_within(self.kind()))
    }
}

/// The jobs an inbox tracks: record them ([`track`](Self::track),
/// [`track_in`](Self::track_in)), count them, reopen an abandoned one.
/// Cheap to make and to clone.
///
/// ```no_run
/// # async fn run(inbox: gemini_webhooks_postgres::inbox::Inbox) -> Result<(), Box<dyn std::error::Error>> {
/// use gemini_webhooks_api::JobName;
/// use gemini_webhooks_postgres::reconcile::{TrackedJob, Tracking};
///
/// let tracking = Tracking::new(&inbox);
/// tracking.track(&TrackedJob::new(JobName::parse("batches/b1")?)).await?;
/// println!("{} open", tracking.counts().await?.open);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Tracking {
    inbox: Inbox,
    db: Arc<TrackingDb>,
}

impl Tracking {
    /// The tracked jobs beside `inbox`'s table (`<table>_tracked`).
    pub fn new(inbox: &Inbox) -> Self {
        Self {
            db: Arc::new(TrackingDb::new(inbox.table())),
            inbox: inbox.clone(),
        }
    }

    /// Records `job`, so its completion is handled exactly once: by its
    /// webhook when that comes, by the [`Reconciler`](super::Reconciler)'s
    /// poll when it has not come within the job's
    /// [`expect_within`](TrackedJob::expect_within). `false` if the job
    /// was tracked already (its first record stands). A job whose ending
    /// was stored from its webhook within the last 72 hours (the longest
    /// horizon) is found done, tracked or not, and never polled. A wait
    /// over [`MAX_EXPECT_WITHIN`] is an [`InboxError::InvalidArgument`].
    ///
    pub async fn track(&self, job: &TrackedJob) -> Result<bool, InboxError> {
        check_expect_within(job.expected_within())?;
        // The inbox's own connection: its tables are created on it.
        let connection = self.inbox.connection().await?;
        self.track_on(&**connection, job).await
    }

    /// [`track`](Self::track) on `client`: inside the application's own
    /// transaction, so the job is recorded exactly when the application's
    /// row for it commits (pass a `tokio_postgres::Transaction`, a
    /// deadpool one as `&*transaction`, or a
    /// [`Job::client`](crate::inbox::Job::client)). The client must reach
    /// the inbox's database; the inbox's tables are created first, on the
    /// inbox's own connection, unless migrations own them.
    pub async fn track_in<C>(&self, client: &C, job: &TrackedJob) -> Result<bool, InboxError>
    where
        C: tokio_postgres::GenericClient + Sync,
    {
        check_expect_within(job.expected_within())?;
        // The inbox's tables first (unless migrations own them).
        drop(self.inbox.connection().await?);
        self.track_on(client, job).await
    }

    /// The tracking statement on `client`, within the inbox timeout.
    async fn track_on<C>(&self, client: &C, job: &TrackedJob) -> Result<bool, InboxError>
    where
        C: tokio_postgres::GenericClient + Sync,
    {
        let values = TrackValues::of(job);
        let tracked = tokio::time::timeout(
            self.inbox.shared.db.settings.timeout,
            self.db.track(client, &values.params()),
        )
        .await
        .map_err(|_| InboxError::TimedOut {
            what: "track a job",
        })?
        .map_err(|err| InboxError::database("track a job", err))?;
        if tracked {
            crate::metrics::job_tracked(job.kind().as_str());
        }
        Ok(tracked)
    }

    /// Opens the abandoned job `name` again (e.g. after a revoked API key
    /// was replaced): polled at once, its horizon at least its kind's
    /// [`horizon`](super::horizon) from now. `false` if no abandoned job
    /// has that name (an open or ended one is left as it is).
    pub async fn reopen(&self, name: &JobName) -> Result<bool, InboxError> {
        let kind = name.kind();
        let key = kind.job_key(name.id());
        let reopened = self
            .db
            .reopen(&self.inbox.shared.db, &key, super::horizon(kind))
            .await?;
        if reopened {
            tracing::info!(job = %name, "gemini job reopened: polled again");
        }
        Ok(reopened)
    }

    /// Up to `limit` tracked jobs in `state` (all with `None`), the latest
    /// tracked first: deadline, polls, last state and error.
    pub async fn list(
        &self,
        state: Option<TrackedState>,
        limit: u32,
    ) -> Result<Vec<TrackedRecord>, InboxError> {
        self.db.list(&self.inbox.shared.db, state, limit).await
    }

    /// Stops tracking `name` (a job tracked by mistake): an open or
    /// abandoned job is removed, never polled again; a done one is kept
    /// only as a remembered ending. `false` if it was not tracked.
    pub async fn untrack(&self, name: &JobName) -> Result<bool, InboxError> {
        let key = name.kind().job_key(name.id());
        let untracked = self.db.untrack(&self.inbox.shared.db, &key).await?;
        if untracked {
            tracing::info!(job = %name, "gemini job no longer tracked");
        }
        Ok(untracked)
    }

    /// How many tracked jobs there are, by state.
    pub async fn counts(&self) -> Result<TrackingCounts, InboxError> {
        self.db.counts(&self.inbox.shared.db).await
    }

    /// The webhooks reconcilers of this inbox watch, each as its last
    /// check found it (kept in `<table>_webhooks`, so any replica or the
    /// dashboard can read it).
    pub async fn webhooks(&self) -> Result<Vec<super::WatchedWebhook>, InboxError> {
        self.db.webhooks(&self.inbox.shared.db).await
    }
}

impl std::fmt::Debug for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracking")
            .field("inbox", &self.inbox)
            .finish()
    }
}

/// How many tracked jobs an inbox holds, by state
/// ([`Tracking::counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackingCounts {
    /// Not ended yet (or not yet seen to).
    pub open: u64,
    /// Of the open ones, those past their deadline and not yet polled:
    /// the reconciler's backlog (a rising figure means none is running).
    pub overdue: u64,
    /// Ended, their completion stored from a webhook.
    pub by_webhook: u64,
    /// Ended, their completion stored by a poll.
    pub by_poll: u64,
    /// Given up at their horizon.
    pub abandoned: u64,
}

/// Refuses a wait longer than [`MAX_EXPECT_WITHIN`].
fn check_expect_within(within: Duration) -> Result<(), InboxError> {
    if within > MAX_EXPECT_WITHIN {
        return Err(InboxError::InvalidArgument(format!(
            "expect_within of {} s is longer than the {} s a job may be tracked with",
            within.as_secs(),
            MAX_EXPECT_WITHIN.as_secs()
        )));
    }
    Ok(())
}

/// A tracked job as its row's columns.
struct TrackValues {
    key: String,
    resource: String,
    metadata: Option<String>,
    within_ms: f64,
    horizon_ms: f64,
    default: bool,
}

impl TrackValues {
    fn of(job: &TrackedJob) -> Self {
        let kind = job.kind();
        let within = job.expected_within();
        Self {
            key: kind.job_key(job.name.id()),
            resource: job.name.to_string(),
            metadata: job
                .user_metadata
                .as_ref()
                .map(|metadata| serde_json::Value::Object(metadata.clone()).to_string()),
            within_ms: millis(within),
            // Never before the deadline: one poll at least.
            horizon_ms: millis(super::horizon(kind).max(within)),
            default: job.expect_within.is_none(),
        }
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 6] {
        [
            &self.key,
            &self.resource,
            &self.metadata,
            &self.within_ms,
            &self.horizon_ms,
            &self.default,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_up_to_a_hundred_years_are_taken_and_longer_ones_refused() {
        assert_eq!(MAX_EXPECT_WITHIN, Duration::from_secs(3_153_600_000));
        assert!(check_expect_within(Duration::ZERO).is_ok());
        assert!(check_expect_within(MAX_EXPECT_WITHIN).is_ok());
        let err = check_expect_within(MAX_EXPECT_WITHIN + Duration::from_secs(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expect_within of 3153600001 s is longer than the 3153600000 s a job may be tracked with"
        );
    }
}
