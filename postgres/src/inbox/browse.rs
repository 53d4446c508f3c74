//! What an operator looks at: the jobs a [`JobFilter`] matches, a page at
//! a time (newest first, continued by a [`JobCursor`], never an offset),
//! and the last day's [`Activity`]. The dashboard's data, and a library
//! call for any tool of your own.

use std::time::SystemTime;

use super::{Inbox, InboxCounts, InboxError, JobFilter, JobRecord};

/// Where a page of jobs ended: the next page starts after it. Keyset
/// pagination — a page costs the same however deep it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCursor {
    /// The last job's reception time.
    pub received_at: SystemTime,
    /// The last job's replay key.
    pub key: String,
}

/// How many of the newest jobs the rest of a filter matches a text is
/// looked for in, per [`Inbox::browse`] call: an `ILIKE` reads rows one by
/// one, so a search of a large inbox goes back a window at a time.
pub const TEXT_WINDOW: u32 = 10_000;

/// One page of [`Inbox::browse`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobPage {
    /// The jobs, newest first, without their bodies.
    pub jobs: Vec<JobRecord>,
    /// Where the next page starts; `None` on the last page. A text search
    /// may end a page short of its limit (even empty) with a `next`: the
    /// end of the window it searched, not of the inbox.
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
    /// id)`: a page is as fast on the thousandth page as on the first. A
    /// [`text`](JobFilter::text) is looked for in the next
    /// [`TEXT_WINDOW`] jobs the rest of the filter matches, so one call
    /// stays fast on any table; keep following `next` to search further.
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
        self.browse_in_windows(filter, after, limit, TEXT_WINDOW)
            .await
    }

    /// [`browse`](Self::browse) with a text searched `window` jobs at a time.
    pub(super) async fn browse_in_windows(
        &self,
        filter: &JobFilter,
        after: Option<&JobCursor>,
        limit: u32,
        window: u32,
    ) -> Result<JobPage, InboxError> {
        let limit = limit.max(1);
        let (mut jobs, window_end) = self
            .shared
            .db
            .page(filter, after, limit + 1, window)
            .await?;
        let more = jobs.len() > limit as usize;
        jobs.truncate(limit as usize);
        let next = match more {
            true => jobs.last().map(|last| JobCursor {
                received_at: last.received_at,
                key: last.key.clone(),
            }),
            false => window_end,
        };
        Ok(JobPage { jobs, next })
    }

    /// How many jobs the inbox holds by state, each count stopping at
    /// `cap` (a count of `cap` means "at least"): what a page shows where
    /// [`counts`](Self::counts), which reads every row, would take a tenth
    /// of a second per million.
    pub async fn counts_up_to(&self, cap: u64) -> Result<InboxCounts, InboxError> {
        self.shared.db.counts_up_to(cap).await
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
