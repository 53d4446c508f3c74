//! Looking into an inbox, for the people who run it: its jobs by state and
//! one job in full (what `gemini-webhooks inbox list|show` print).

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;

use super::{Inbox, InboxError};

/// A job's state, as [`Inbox::jobs`] filters and shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobState {
    /// Waiting to run: new, or due again after a failure.
    Pending,
    /// Claimed by a worker whose lease is running.
    Running,
    /// Handled.
    Done,
    /// Out of attempts, or failed for good: waits for [`Inbox::requeue`].
    Dead,
}

impl JobState {
    /// Its name: `pending`, `running`, `done`, `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    /// The state a shown row's `state` names (`pending` when unknown).
    pub(super) fn parse(state: &str) -> Self {
        match state {
            "running" => Self::Running,
            "done" => Self::Done,
            "dead" => Self::Dead,
            _ => Self::Pending,
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One job, as the inbox holds it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JobRecord {
    /// The replay key (the `webhook-id` for `v1`/`v1a`).
    pub key: String,
    /// The `webhook-id`.
    pub webhook_id: String,
    /// Its state.
    pub state: JobState,
    /// Attempts started.
    pub attempts: u32,
    /// The last failure, as the handler's error displayed.
    pub last_error: Option<String>,
    /// When ingest stored it.
    pub received_at: SystemTime,
    /// When it is due (pending), or its lease ends (running).
    pub run_at: SystemTime,
    /// When the last attempt failed.
    pub failed_at: Option<SystemTime>,
    /// When it was handled.
    pub finished_at: Option<SystemTime>,
    /// The event's type (`batch.succeeded`); `None` for jobs stored
    /// before the inbox kept it (0.1), or a body that is not an event.
    pub event_type: Option<String>,
    /// The Gemini job the event is about, `{kind}:{id}` (`batch:b1`).
    pub job_key: Option<String>,
    /// Whether a webhook brought it or the reconciler's poll.
    pub origin: super::Origin,
    /// The raw body: from [`Inbox::job`] only (empty from [`Inbox::jobs`]).
    pub body: Bytes,
}

impl Inbox {
    /// Up to `limit` jobs in `state` (all states with `None`), newest
    /// first, without their bodies.
    pub async fn jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, InboxError> {
        self.shared.db.jobs(state, limit).await
    }

    /// The job with replay key `key`, body included; `None` if there is
    /// none.
    pub async fn job(&self, key: &str) -> Result<Option<JobRecord>, InboxError> {
        self.shared.db.job(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_as_itself_and_displays_its_name() {
        for state in [
            JobState::Pending,
            JobState::Running,
            JobState::Done,
            JobState::Dead,
        ] {
            assert_eq!(JobState::parse(state.as_str()), state);
            assert_eq!(state.to_string(), state.as_str());
        }
        assert_eq!(JobState::Running.to_string(), "running");
    }

    #[test]
    fn counts_are_read_by_state() {
        let counts = crate::inbox::InboxCounts {
            pending: 1,
            running: 2,
            done: 3,
            dead: 4,
        };
        let states = [
            JobState::Pending,
            JobState::Running,
            JobState::Done,
            JobState::Dead,
        ];
        assert_eq!(states.map(|state| counts.of(state)), [1, 2, 3, 4]);
    }
}
