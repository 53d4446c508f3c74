//! What an operator looks at: the jobs a [`JobFilter`] matches, a page at
//! a time (newest first, continued by a [`JobCursor`], never an offset),
//! and the last day's [`Activity`]. The dashboard's data, and a library
//! call for any tool of your own.

use std::time::SystemTime;

use super::{Inbox, InboxError, JobFilter, JobRecord};

/// Where a page of jobs ended: the next page starts after it. Keyset
/// pagination — a page costs the same however deep it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCursor {
    /// The last job's reception time.
    pub received_at: SystemTime,
    /// The last job's replay key.
    pub key: String,
}

/// One page of [`Inbox::browse`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobPage {
    /// The jobs, newest first, without their bodies.
    pub jobs: Vec<JobRecord>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<JobCursor>,
}

/// One minute of the last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MinuteActivity {
    /// The minute's start.
    pub minute: SystemTime,
    /// Deliveries received (stored) in it.
    pub received: u64,
    /// Jobs whose latest failed attempt fell in it.
    pub failed: u64,
    /// Of those, jobs that went dead.
    pub dead: u64,
}

/// The last 24 hours of an inbox, by minute.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Activity {
    /// The minutes with anything in them, oldest first.
    pub minutes: Vec<MinuteActivity>,
    /// When the oldest pending job was received; `None` if none is.
    pub oldest_pending: Option<SystemTime>,
}

impl Inbox {
    /// Up to `limit` jobs `filter` matches, newest first, after `after`
    /// (`None`: from the newest). Reads an index on `(state, received_at,
    /// id)`: a page is as fast on the thousandth page as on the first;
    /// only a [`text`](JobFilter::text) search reads rows one by one.
    ///
    /// ```no_run
    /// # async fn run(inbox: gemini_webhooks_postgres::inbox::Inbox) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks_postgres::inbox::{JobFilter, JobState};
    ///
    /// let dead = JobFilter::new(JobState::Dead);
    /// let mut page = inbox.browse(&dead, None, 50).await?;
    /// loop {
    ///     for job in &page.jobs {
    ///         println!("{} {:?}", job.key, job.last_error);
    ///     }
    ///     let Some(next) = page.next else { break };
    ///     page = inbox.browse(&dead, Some(&next), 50).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn browse(
        &self,
        filter: &JobFilter,
        after: Option<&JobCursor>,
        limit: u32,
    ) -> Result<JobPage, InboxError> {
        let limit = limit.max(1);
        let mut jobs = self.shared.db.page(filter, after, limit + 1).await?;
        let more = jobs.len() > limit as usize;
        jobs.truncate(limit as usize);
        let next = more.then(|| jobs.last()).flatten().map(|last| JobCursor {
            received_at: last.received_at,
            key: last.key.clone(),
        });
        Ok(JobPage { jobs, next })
    }

    /// The last 24 hours by minute (deliveries, failures, dead letters)
    /// and the age of the backlog.
    pub async fn activity(&self) -> Result<Activity, InboxError> {
        let (minutes, oldest_pending) = self.shared.db.activity().await?;
        Ok(Activity {
            minutes,
            oldest_pending,
        })
    }
}
