//! Redrive: finished jobs chosen by a [`JobFilter`] run again — dead
//! letters after the bug that killed them is fixed, or done jobs whose
//! handler reported success but lost the event. Counted first (a dry
//! run), then requeued in batches.

use super::{Inbox, InboxError, JobFilter, JobState};

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
        let state = filter.requeueable()?;
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
        self.log_requeued(state, requeued, "jobs matching a filter");
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
