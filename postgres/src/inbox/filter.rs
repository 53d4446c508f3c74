//! [`JobFilter`]: which jobs an operator means — by state, event type,
//! reception time and free text. One type for the redrive
//! ([`Inbox::requeue_matching`](super::Inbox::requeue_matching)), the
//! listing ([`Inbox::browse`](super::Inbox::browse)), the CLI and the
//! dashboard, so what is shown is what is requeued.

use std::time::SystemTime;

use super::{InboxError, JobState};

/// Which jobs: a state (or every state), and optionally an event type, a
/// range of reception times and a text found in the job's key, webhook id,
/// Gemini job, last error or envelope.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use gemini_webhooks_postgres::inbox::{JobFilter, JobState};
///
/// let yesterday = SystemTime::now() - Duration::from_secs(86_400);
/// let filter = JobFilter::new(JobState::Dead)
///     .event_type("batch.failed")
///     .since(yesterday)
///     .text("quota");
/// assert_eq!(filter.state(), Some(JobState::Dead));
/// assert_eq!(JobFilter::every_state().state(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobFilter {
    state: Option<JobState>,
    event_type: Option<String>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    text: Option<String>,
}

impl JobFilter {
    /// Every job in `state`.
    pub fn new(state: JobState) -> Self {
        Self {
            state: Some(state),
            ..Self::default()
        }
    }

    /// Jobs in any state (a listing; a redrive needs a state).
    pub fn every_state() -> Self {
        Self::default()
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

    /// Only jobs whose replay key, webhook id, Gemini job (`batch:b1`),
    /// last error or envelope (the resource `batches/b1`, any field)
    /// contains `text`, ignoring case. Searched row by row, not
    /// through an index: [`Inbox::browse`](super::Inbox::browse) searches
    /// a window of jobs at a time, and a redrive reads every job of its
    /// state and time range — narrow a search of a large inbox by both.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// The state it takes (`None`: every state).
    pub fn state(&self) -> Option<JobState> {
        self.state
    }

    /// The SQL parameters `$1`–`$5` of the filter's clause
    /// (`sql::filter::MATCHES`): state, event type, since, until, and the
    /// text as an `ILIKE` pattern.
    pub(super) fn params(&self) -> FilterParams<'_> {
        FilterParams {
            state: self.state.map(JobState::as_str),
            event_type: self.event_type.as_deref(),
            since: self.since,
            until: self.until,
            pattern: self.text.as_deref().map(like_pattern),
        }
    }

    /// Only finished jobs run again: a pending or running one is on its way.
    pub(super) fn requeueable(&self) -> Result<JobState, InboxError> {
        match self.state {
            Some(state @ (JobState::Dead | JobState::Done)) => Ok(state),
            Some(other) => Err(InboxError::InvalidArgument(format!(
                "only dead or done jobs are requeued, not {other} ones"
            ))),
            None => Err(InboxError::InvalidArgument(
                "a requeue needs a state: dead or done".to_owned(),
            )),
        }
    }
}

/// A [`JobFilter`] as the values of its SQL clause.
pub(super) struct FilterParams<'a> {
    pub(super) state: Option<&'static str>,
    pub(super) event_type: Option<&'a str>,
    pub(super) since: Option<SystemTime>,
    pub(super) until: Option<SystemTime>,
    pub(super) pattern: Option<String>,
}

/// `text` anywhere in a value, its own `%`, `_` and `\` taken literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finished_jobs_are_requeueable() {
        assert_eq!(
            JobFilter::new(JobState::Dead).requeueable().unwrap(),
            JobState::Dead
        );
        assert_eq!(
            JobFilter::new(JobState::Done).requeueable().unwrap(),
            JobState::Done
        );
        for state in [JobState::Pending, JobState::Running] {
            let err = JobFilter::new(state).requeueable().unwrap_err();
            assert!(err.to_string().contains(state.as_str()), "{err}");
        }
        let err = JobFilter::every_state().requeueable().unwrap_err();
        assert!(err.to_string().contains("needs a state"), "{err}");
    }

    #[test]
    fn the_text_is_searched_literally() {
        assert_eq!(like_pattern("quota"), "%quota%");
        assert_eq!(like_pattern(r"50%_a\b"), r"%50\%\_a\\b%");
        let filter = JobFilter::every_state().text("msg_1");
        assert_eq!(filter.params().pattern.as_deref(), Some(r"%msg\_1%"));
        assert_eq!(JobFilter::every_state().params().pattern, None);
    }
}
