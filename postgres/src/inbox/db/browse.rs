//! The door's statements of an operator's view: a page of jobs, the last
//! day by minute, the oldest pending job.

use std::time::SystemTime;

use super::redrive::filter_params;
use super::{InboxDb, count, job_record};
use crate::inbox::browse::{JobCursor, MinuteActivity};
use crate::inbox::sql::browse::{self, STORED};
use crate::inbox::{InboxError, JobFilter, JobRecord, JobState};

impl InboxDb {
    /// Up to `limit` jobs `filter` matches, newest first, from before
    /// `before`.
    pub(in crate::inbox) async fn page(
        &self,
        filter: &JobFilter,
        before: Option<&JobCursor>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, InboxError> {
        let arms: &[&str] = match filter.state() {
            None => &STORED,
            Some(JobState::Pending | JobState::Running) => &STORED[..1],
            Some(JobState::Done) => &STORED[1..2],
            Some(JobState::Dead) => &STORED[2..],
        };
        let sql = browse::page(&self.settings.table, arms);
        let values = filter.params();
        let (before_at, before_key) = before
            .map(|cursor| (cursor.received_at, cursor.key.as_str()))
            .unzip();
        let limit = i64::from(limit);
        let rows = self
            .run("list jobs", |client| async move {
                let [a, b, c, d, e] = filter_params(&values);
                client
                    .query(&sql, &[a, b, c, d, e, &before_at, &before_key, &limit])
                    .await
            })
            .await?;
        Ok(rows.iter().map(job_record).collect())
    }

    /// The last 24 hours by minute, and when the oldest pending job came.
    pub(in crate::inbox) async fn activity(
        &self,
    ) -> Result<(Vec<MinuteActivity>, Option<SystemTime>), InboxError> {
        let table = &self.settings.table;
        let (minutes_sql, oldest_sql) = (browse::activity(table), browse::oldest_pending(table));
        let (minutes, oldest) = self
            .run("read the activity", |client| async move {
                let minutes = client.query(&minutes_sql, &[]).await?;
                let oldest = client.query_one(&oldest_sql, &[]).await?;
                Ok((minutes, oldest))
            })
            .await?;
        let minutes = minutes
            .iter()
            .map(|row| MinuteActivity {
                minute: row.get("minute"),
                received: count(row, "received"),
                failed: count(row, "failed"),
                dead: count(row, "dead"),
            })
            .collect();
        Ok((minutes, oldest.get("oldest")))
    }
}
