//! The door's statements of redrive: jobs a [`JobFilter`] matches, counted
//! or requeued in batches.

use std::time::SystemTime;

use tokio_postgres::types::ToSql;

use super::{InboxDb, count};
use crate::inbox::filter::FilterParams;
use crate::inbox::{InboxError, JobFilter, sql};

/// The filter's values as the parameters `$1`–`$5` of its clause.
pub(super) fn filter_params<'a>(params: &'a FilterParams<'a>) -> [&'a (dyn ToSql + Sync); 5] {
    [
        &params.state,
        &params.event_type,
        &params.since,
        &params.until,
        &params.pattern,
    ]
}

impl InboxDb {
    /// How many jobs `filter` matches.
    pub(in crate::inbox) async fn count_matching(
        &self,
        filter: &JobFilter,
    ) -> Result<u64, InboxError> {
        let sql = sql::redrive::count(&self.settings.table);
        let values = filter.params();
        let row = self
            .run("count matching jobs", |client| async move {
                client.query_one(&sql, &filter_params(&values)).await
            })
            .await?;
        Ok(count(&row, "matching"))
    }

    /// Requeues up to `limit` jobs `filter` matches past position `after`
    /// (`received_at`, key); the positions of those requeued.
    pub(in crate::inbox) async fn requeue_batch(
        &self,
        filter: &JobFilter,
        after: Option<(SystemTime, String)>,
        limit: u32,
    ) -> Result<Vec<(SystemTime, String)>, InboxError> {
        let settings = &self.settings;
        let sql = sql::redrive::requeue(&settings.table, &settings.channel);
        let values = filter.params();
        let (after_at, after_key) = after.unzip();
        let limit = i64::from(limit);
        let rows = self
            .run("requeue matching jobs", |client| async move {
                let [a, b, c, d, e] = filter_params(&values);
                client
                    .query(&sql, &[a, b, c, d, e, &after_at, &after_key, &limit])
                    .await
            })
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get("received_at"), row.get("id")))
            .collect())
    }
}
