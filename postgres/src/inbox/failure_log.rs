//! [`FailureLog`]: how a worker logs a failure that repeats every poll
//! interval (a database that is down, a wrong `DATABASE_URL`): once when
//! it starts or its cause changes, then once a minute with a count, and
//! once when it ends. One WARN a second tells an on-call engineer nothing
//! the first did, and buries everything else.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use gemini_webhooks::ErrorChain;

/// How often a failure that goes on is logged again.
const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// The log of one repeated operation (claiming jobs, renewing leases).
#[derive(Debug)]
pub(crate) struct FailureLog {
    what: &'static str,
    streak: Mutex<Option<Streak>>,
}

/// A run of failures not yet ended by a success.
#[derive(Debug)]
struct Streak {
    since: Instant,
    logged_at: Instant,
    cause: String,
    /// Failures since the last line logged.
    unlogged: u64,
    total: u64,
}

/// What to log for one failure, if anything.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// The first failure, or one with another cause.
    Failed,
    /// The same cause, a minute (or more) after the last line.
    StillFailing { repeats: u64, for_secs: u64 },
}

impl FailureLog {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            streak: Mutex::new(None),
        }
    }

    /// Records a failure, logging it (WARN) if it starts a streak, has a
    /// new cause, or a minute has passed since the last line.
    pub(crate) fn failed(&self, error: &(dyn std::error::Error + 'static)) {
        self.failed_with(ErrorChain(error).to_string());
    }

    /// [`failed`](Self::failed), the cause already written out.
    pub(crate) fn failed_with(&self, cause: String) {
        let what = self.what;
        match self.record(Instant::now(), cause) {
            Some((Line::Failed, cause)) => {
                tracing::warn!(error = %cause, "gemini webhook inbox: {what} failed");
            }
            Some((Line::StillFailing { repeats, for_secs }, cause)) => {
                tracing::warn!(error = %cause, repeats, for_secs, "gemini webhook inbox: {what} still failing");
            }
            None => {}
        }
    }

    /// Records a success, logging (INFO) the end of a streak.
    pub(crate) fn succeeded(&self) {
        if let Some((failures, for_secs)) = self.end(Instant::now()) {
            let what = self.what;
            tracing::info!(
                failures,
                for_secs,
                "gemini webhook inbox: {what} works again"
            );
        }
    }

    fn record(&self, now: Instant, cause: String) -> Option<(Line, String)> {
        let mut streak = self
            .streak
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match streak.as_mut() {
            Some(current) if current.cause == cause => {
                current.total += 1;
                current.unlogged += 1;
                if now.duration_since(current.logged_at) < REPEAT_EVERY {
                    return None;
                }
                let line = Line::StillFailing {
                    repeats: current.unlogged,
                    for_secs: now.duration_since(current.since).as_secs(),
                };
                current.logged_at = now;
                current.unlogged = 0;
                Some((line, cause))
            }
            _ => {
                let (since, total) = streak
                    .as_ref()
                    .map_or((now, 1), |old| (old.since, old.total + 1));
                *streak = Some(Streak {
                    since,
                    logged_at: now,
                    cause: cause.clone(),
                    unlogged: 0,
                    total,
                });
                Some((Line::Failed, cause))
            }
        }
    }

    /// Ends the streak, if any: its failures and how long it lasted.
    fn end(&self, now: Instant) -> Option<(u64, u64)> {
        let mut streak = self
            .streak
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        streak
            .take()
            .map(|ended| (ended.total, now.duration_since(ended.since).as_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_logged_when_it_starts_then_once_a_minute_with_a_count() {
        let log = FailureLog::new("claiming jobs");
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let down = || "connection refused".to_owned();
        assert_eq!(log.record(at(0), down()), Some((Line::Failed, down())));
        for second in 1..60 {
            assert_eq!(log.record(at(second), down()), None, "at {second} s");
        }
        assert_eq!(
            log.record(at(60), down()),
            Some((
                Line::StillFailing {
                    repeats: 60,
                    for_secs: 60
                },
                down()
            ))
        );
        for second in 61..120 {
            assert_eq!(log.record(at(second), down()), None, "at {second} s");
        }
        assert_eq!(
            log.record(at(120), down()),
            Some((
                Line::StillFailing {
                    repeats: 60,
                    for_secs: 120
                },
                down()
            ))
        );
        // A new cause is news at once; the streak goes on.
        let gone = || "database \"x\" does not exist".to_owned();
        assert_eq!(log.record(at(121), gone()), Some((Line::Failed, gone())));
        assert_eq!(log.record(at(122), gone()), None);
        assert_eq!(log.end(at(130)), Some((123, 130)));
        assert_eq!(log.end(at(131)), None, "a success ends the streak once");
        // After a success the next failure starts a streak of its own.
        assert_eq!(log.record(at(200), down()), Some((Line::Failed, down())));
        assert_eq!(log.end(at(203)), Some((1, 3)));
    }
}
