//! A [`JobFilter`] as the jobs page's query string and back: the same
//! fields in the filter form, the pages' links, the bulk requeue's
//! confirmation and its POST — so what is listed is what is requeued.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;
use time::macros::format_description;

use super::error::DashboardError;
use crate::inbox::{JobCursor, JobFilter, JobState};

/// The filter's fields as a form sends them (empty: not set). Times are
/// UTC, as `datetime-local` inputs give them (`2026-12-07T12:00`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub(super) struct FilterQuery {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) state: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub(super) event_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) since: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) until: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) q: String,
}

/// The jobs page's query: a filter and where the page starts.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PageQuery {
    #[serde(flatten)]
    pub(super) filter: FilterQuery,
    /// The cursor: the last job's reception, in Unix microseconds.
    pub(super) after_at: Option<String>,
    /// The cursor: the last job's key.
    pub(super) after_key: Option<String>,
    /// What the last action did ([`super::layout::notice`]).
    pub(super) notice: Option<String>,
    /// How many it did it to.
    pub(super) n: Option<String>,
}

impl FilterQuery {
    /// The filter it describes.
    pub(super) fn to_filter(&self) -> Result<JobFilter, DashboardError> {
        let mut filter = match self.state.as_str() {
            "" => JobFilter::every_state(),
            name => JobFilter::new(state(name)?),
        };
        if !self.event_type.is_empty() {
            filter = filter.event_type(self.event_type.trim());
        }
        if !self.since.is_empty() {
            filter = filter.since(utc(&self.since)?);
        }
        if !self.until.is_empty() {
            filter = filter.until(utc(&self.until)?);
        }
        if !self.q.trim().is_empty() {
            filter = filter.text(self.q.trim());
        }
        Ok(filter)
    }

    /// As a query string (without `?`), for links.
    pub(super) fn query_string(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

impl PageQuery {
    /// Where the page starts.
    pub(super) fn cursor(&self) -> Result<Option<JobCursor>, DashboardError> {
        let (Some(at), Some(key)) = (&self.after_at, &self.after_key) else {
            return Ok(None);
        };
        let micros: u64 = at
            .parse()
            .map_err(|_| DashboardError::BadRequest("after_at is not a time".to_owned()))?;
        Ok(Some(JobCursor {
            received_at: UNIX_EPOCH + Duration::from_micros(micros),
            key: key.clone(),
        }))
    }
}

/// `cursor` as the next page link's query parameters.
pub(super) fn cursor_query(cursor: &JobCursor) -> String {
    let micros = cursor
        .received_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros());
    serde_urlencoded::to_string([
        ("after_at", micros.to_string()),
        ("after_key", cursor.key.clone()),
    ])
    .unwrap_or_default()
}

fn state(name: &str) -> Result<JobState, DashboardError> {
    [
        JobState::Pending,
        JobState::Running,
        JobState::Done,
        JobState::Dead,
    ]
    .into_iter()
    .find(|state| state.as_str() == name)
    .ok_or_else(|| DashboardError::BadRequest(format!("no job state is called {name:?}")))
}

/// A `datetime-local` value (to the minute or the second) read as UTC.
fn utc(value: &str) -> Result<SystemTime, DashboardError> {
    let value = value.trim();
    PrimitiveDateTime::parse(
        value,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .or_else(|_| {
        PrimitiveDateTime::parse(
            value,
            format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        )
    })
    .map(|at| at.assume_utc().into())
    .map_err(|_| {
        DashboardError::BadRequest(format!("not a time (YYYY-MM-DDTHH:MM, UTC): {value:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_the_filter_it_shows_and_round_trips() {
        let query: FilterQuery = serde_urlencoded::from_str(
            "state=dead&type=batch.failed&since=2026-12-07T10:00&until=&q=+quota+",
        )
        .unwrap();
        let since = UNIX_EPOCH + Duration::from_secs(1_796_637_600);
        let expected = JobFilter::new(JobState::Dead)
            .event_type("batch.failed")
            .since(since)
            .text("quota");
        assert_eq!(query.to_filter().unwrap(), expected);
        assert_eq!(
            query.query_string(),
            "state=dead&type=batch.failed&since=2026-12-07T10%3A00&q=+quota+"
        );
        let back: FilterQuery = serde_urlencoded::from_str(&query.query_string()).unwrap();
        assert_eq!(back, query);
        assert_eq!(
            FilterQuery::default().to_filter().unwrap(),
            JobFilter::every_state()
        );
        let seconds: FilterQuery = serde_urlencoded::from_str("until=2026-12-07T10:00:30").unwrap();
        let until = UNIX_EPOCH + Duration::from_secs(1_796_637_630);
        assert_eq!(
            seconds.to_filter().unwrap(),
            JobFilter::every_state().until(until)
        );
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        for (query, needle) in [
            ("state=lost", "\"lost\""),
            ("since=yesterday", "\"yesterday\""),
        ] {
            let query: FilterQuery = serde_urlencoded::from_str(query).unwrap();
            let err = query.to_filter().unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        let page = PageQuery {
            after_at: Some("x".into()),
            after_key: Some("k".into()),
            ..PageQuery::default()
        };
        assert!(page.cursor().is_err());
    }

    #[test]
    fn a_cursor_survives_its_link() {
        let cursor = JobCursor {
            received_at: UNIX_EPOCH + Duration::from_micros(1_796_646_935_805_455),
            key: "msg a&b".into(),
        };
        let page: PageQuery = serde_urlencoded::from_str(&cursor_query(&cursor)).unwrap();
        assert_eq!(page.cursor().unwrap(), Some(cursor));
    }
}
