//! A tracked job as an operator looks at it ([`TrackedRecord`], from
//! [`Tracking::list`](super::Tracking::list)), and its state.

use std::time::SystemTime;

/// Where a tracked job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrackedState {
    /// Not ended yet (or not yet seen to).
    Open,
    /// Ended: its completion is stored (by webhook or by poll).
    Done,
    /// Given up at its horizon, not ended.
    Abandoned,
}

impl TrackedState {
    /// `open`, `done` or `abandoned`: the name in the database and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Done => "done",
            Self::Abandoned => "abandoned",
        }
    }

    /// The state named `name`; an unknown name reads as open (the table's
    /// CHECK allows no other).
    pub(super) fn parse(name: &str) -> Self {
        match name {
            "done" => Self::Done,
            "abandoned" => Self::Abandoned,
            _ => Self::Open,
        }
    }
}

impl std::fmt::Display for TrackedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tracked job, as [`Tracking::list`](super::Tracking::list) shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackedRecord {
    /// The job's key, `{kind}:{id}` (`batch:b1`).
    pub key: String,
    /// The job's resource name (`batches/b1`).
    pub resource: String,
    /// Where it stands.
    pub state: TrackedState,
    /// How its completion was stored: `webhook` or `poll` (done jobs).
    pub origin: Option<String>,
    /// When it is polled if no webhook has come.
    pub deadline: SystemTime,
    /// When it is given up if it has not ended.
    pub horizon: SystemTime,
    /// Its next poll (open jobs).
    pub next_poll_at: SystemTime,
    /// Polls so far.
    pub polls: u32,
    /// Failed polls in a row.
    pub failures: u32,
    /// The job's state at its last poll (`JOB_STATE_RUNNING`, …).
    pub last_status: Option<String>,
    /// Why its last poll failed.
    pub last_error: Option<String>,
    /// When it was tracked.
    pub tracked_at: SystemTime,
    /// When it ended or was given up.
    pub closed_at: Option<SystemTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_as_itself() {
        for state in [
            TrackedState::Open,
            TrackedState::Done,
            TrackedState::Abandoned,
        ] {
            assert_eq!(TrackedState::parse(state.as_str()), state);
            assert_eq!(state.to_string(), state.as_str());
        }
    }
}

/// A webhook a [`Reconciler`](super::Reconciler) watches
/// ([`watch_webhook`](super::Reconciler::watch_webhook)), as it last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchedWebhook {
    /// The webhook's id.
    pub webhook: String,
    /// Its state at the last check (`enabled`,
    /// `disabled_due_to_failed_deliveries`, …).
    pub state: String,
    /// When it was checked.
    pub checked_at: SystemTime,
}
