//! The door's statements of an operator's view: a page of jobs, the last
//! day by minute, the oldest pending job.

use std::time::SystemTime;

use super::redrive::filter_params;
use super::{InboxDb, count, inbox_counts, job_record};
use crate::inbox::browse::{JobCursor, MinuteActivity};
use crate::inbox::sql::browse::{self, STORED};
use crate::inbox::{InboxCounts, InboxError, JobFilter, JobRecord, JobState};

impl InboxDb {
    /// Up to `limit` jobs `filter` matches, newest first, from before
    /// `before`; with a text, searched among the newest `window` jobs the
    /// rest of the filter matches, and the window's oldest job when it was
    /// full (where a further search resumes).
    pub(in crate::inbox) async fn page(
        &self,
        filter: &JobFilter,
        before: Option<&JobCursor>,
        limit: u32,
        window: u32,
    ) -> Result<(Vec<JobRecord>, Option<JobCursor>), InboxError> {
        let arms: &[&str] = match filter.state() {
            None => &STORED,
            Some(JobState::Pending | JobState::Running) => &STORED[..1],
            Some(JobState::Done) => &STORED[1..2],
            Some(JobState::Dead) => &STORED[2..],
        };
        let values = filter.params();
        let searching = values.pattern.is_some();
        let table = &self.settings.table;
        let sql = match searching {
            true => browse::search(table, arms),
            false => browse::page(table, arms),
        };
        let (before_at, before_key) = before
            .map(|cursor| (cursor.received_at, cursor.key.as_str()))
            .unzip();
        let (limit, window) = (i64::from(limit), i64::from(window));
        let rows = self
            .run("list jobs", |client| async move {
                let [a, b, c, d, e] = filter_params(&values);
                let mut params = vec![a, b, c, d, e, &before_at, &before_key, &limit];
                if searching {
                    params.push(&window);
                }
                client.query(&sql, &params).await
            })
            .await?;
        let (ends, jobs): (Vec<_>, Vec<_>) = rows
            .iter()
            .partition(|row| searching && row.get::<_, bool>("window_end"));
        let window_end = ends.first().map(|row| JobCursor {
            received_at: row.get("received_at"),
            key: row.get("id"),
        });
        // A search read the bodies to look in them; a page shows none.
        let records = jobs.into_iter().map(job_record).map(|mut job| {
            job.body = bytes::Bytes::new();
            job
        });
        Ok((records.collect(), window_end))
    }

    /// Jobs by state, each count stopping at `cap`.
    pub(in crate::inbox) async fn counts_up_to(&self, cap: u64) -> Result<InboxCounts, InboxError> {
        let sql = browse::counts_up_to(&self.settings.table);
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        let row = self
            .run("count", |client| async move {
                client.query_one(&sql, &[&cap]).await
            })
            .await?;
        Ok(inbox_counts(&row))
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

#[cfg(test)]
mod tests {
    use crate::connection::plan_check;
    use crate::inbox::sql::browse::{self, STORED};

    /// A page reads its rows by index whatever the table's size when the
    /// plan was made: a deep cursor, a state, a time range.
    #[tokio::test]
    async fn pages_are_read_by_index_on_a_grown_table() {
        let client = plan_check::client().await;
        let table = format!("plan_check_browse_{}", std::process::id());
        let fill = |from: u32, to: u32| {
            format!(
                "INSERT INTO {table} (id, webhook_id, signed_at, verified_by, body, state, received_at) \
                 SELECT 'k' || i, 'msg_' || i, 0, 'secret:0', convert_to(repeat('x', 300), 'UTF8'), \
                   CASE i % 50 WHEN 0 THEN 'dead' WHEN 1 THEN 'pending' ELSE 'done' END, \
                   now() - i * interval '1 second' \
                 FROM generate_series({from} + 1, {to}) AS i"
            )
        };
        let schema = crate::inbox::Inbox::schema_sql(&table);
        let every_state = browse::page(&table, &STORED);
        let dead = browse::page(&table, &STORED[2..]);
        let deep = "NULL, NULL, NULL, NULL, NULL, now() - interval '1 hour', 'k3600', 51";
        let ranged = "NULL, NULL, now() - interval '2 hours', now() - interval '1 hour', NULL, NULL, NULL, 51";
        let scans = plan_check::table_scans_after_growth(
            &client,
            "force_generic_plan",
            &schema,
            &fill,
            &[(&every_state, deep), (&every_state, ranged), (&dead, deep)],
        )
        .await;
        assert!(scans.is_empty(), "{scans:#?}");
    }
}
