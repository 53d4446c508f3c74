//! Redrive: finished jobs chosen by a [`JobFilter`] run again — dead
//! letters after the bug that killed them is fixed, or done jobs whose
//! handler reported success but lost the event. Counted first (a dry
//! run), then requeued in batches.

use std::time::SystemTime;

use super::{Inbox, InboxError, JobState};

/// Which jobs: a state, and optionally an event type and a range of
/// reception times. The filter of [`Inbox::count_matching`] and
/// [`Inbox::requeue_matching`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use gemini_webhooks_postgres::inbox::{JobFilter, JobState};
///
/// let yesterday = SystemTime::now() - Duration::from_secs(86_400);
/// let filter = JobFilter::new(JobState::Dead)
///     .event_type("batch.failed")
///     .since(yesterday);
/// assert_eq!(filter.state(), JobState::Dead);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFilter {
    state: JobState,
    event_type: Option<String>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
}

impl JobFilter {
    /// Every job in `state`.
    pub fn new(state: JobState) -> Self {
        Self {
            state,
            event_type: None,
            since: None,
            until: None,
        }
    }

    /// Only jobs whose event is of this type (`batch.failed`). Jobs stored
    /// before the inbox kept event types (0.1) have none, and match no type.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only jobs received at or after `at`.
    pub fn since(mut self, at: SystemTime) -> Self {
        self.since = Some(at);
        self
    }

    /// Only jobs received before `at`.
    pub fn until(mut self, at: SystemTime) -> Self {
        self.until = Some(at);
        self
    }

    /// The state it takes.
    pub fn state(&self) -> JobState {
        self.state
    }

    pub(super) fn event_type_filter(&self) -> Option<&str> {
        self.event_type.as_deref()
    }

    pub(super) fn received(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        (self.since, self.until)
    }

    /// Only finished jobs run again: a pending or running one is on its way.
    fn requeueable(&self) -> Result<(), InboxError> {
        match self.state {
            JobState::Dead | JobState::Done => Ok(()),
            other => Err(InboxError::InvalidArgument(format!(
                "only dead or done jobs are requeued, not {other} ones"
            ))),
        }
    }
}

/// How many jobs one statement of [`Inbox::requeue_matching`] requeues.
const BATCH: u32 = 1_000;

impl Inbox {
    /// How many jobs `filter` matches: what
    /// [`requeue_matching`](Self::requeue_matching) would requeue now.
    pub async fn count_matching(&self, filter: &JobFilter) -> Result<u64, InboxError> {
        filter.requeueable()?;
        self.shared.db.count_matching(filter).await
    }

    /// Runs every job `filter` matches again, from attempt 1, in batches of
    /// 1,000 (`progress` is told the total so far after each); returns how
    /// many. Walks the table once, oldest first: a job requeued and
    /// finished again meanwhile is not taken twice. Logged at WARN for done
    /// jobs (their handler already ran).
    ///
    /// ```no_run
    /// # async fn run(inbox: gemini_webhooks_postgres::inbox::Inbox) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks_postgres::inbox::{JobFilter, JobState};
    ///
    /// let failed = JobFilter::new(JobState::Dead).event_type("batch.failed");
    /// println!("{} to requeue", inbox.count_matching(&failed).await?);
    /// let requeued = inbox.requeue_matching(&failed, |so_far| eprintln!("{so_far}…")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn requeue_matching(
        &self,
        filter: &JobFilter,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, InboxError> {
        filter.requeueable()?;
        let mut after = None;
        let mut requeued = 0;
        loop {
            let batch = self.shared.db.requeue_batch(filter, after, BATCH).await?;
            requeued += batch.len() as u64;
            if batch.is_empty() {
                break;
            }
            progress(requeued);
            let full = batch.len() == BATCH as usize;
            after = batch.into_iter().last();
            if !full {
                break;
            }
        }
        self.log_requeued(filter.state, requeued, "jobs matching a filter");
        Ok(requeued)
    }

    /// Runs the done job with this replay key again, from attempt 1: for a
    /// handler that reported success but lost the event. `false` if there
    /// is no such done job. Logged at WARN.
    pub async fn requeue_done(&self, key: &str) -> Result<bool, InboxError> {
        let requeued = self.shared.db.requeue(Some(key), JobState::Done).await?;
        self.log_requeued(JobState::Done, requeued, key);
        Ok(requeued == 1)
    }

    fn log_requeued(&self, state: JobState, requeued: u64, what: &str) {
        if state == JobState::Done && requeued > 0 {
            tracing::warn!(
                table = self.table(),
                requeued,
                what,
                "done jobs requeued: their handler runs again"
            );
        } else {
            tracing::info!(table = self.table(), requeued, what, %state, "jobs requeued");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finished_jobs_are_requeueable() {
        assert!(JobFilter::new(JobState::Dead).requeueable().is_ok());
        assert!(JobFilter::new(JobState::Done).requeueable().is_ok());
        for state in [JobState::Pending, JobState::Running] {
            let err = JobFilter::new(state).requeueable().unwrap_err();
            assert!(err.to_string().contains(state.as_str()), "{err}");
        }
    }
}
