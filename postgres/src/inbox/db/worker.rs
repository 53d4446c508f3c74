//! [`WorkerDb`]: a worker's statements. Its jobs' transactions run on one
//! pool; its bookkeeping (claims, renewals, attempt counts, failures,
//! releases, cleanup) on another, where the server abandons each statement
//! when the client would.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use deadpool_postgres::Pool;
use futures_util::future::try_join;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Cleaned, InboxDb};
use crate::inbox::InboxError;
use gemini_webhooks::DeliveryRecord;

use crate::connection::millis;
use crate::inbox::job::JobConnection;
use crate::inbox::sql::JobSql;

/// The statements of one worker, on its two pools.
pub(crate) struct WorkerDb {
    db: Arc<InboxDb>,
    /// The jobs' transactions, one connection each.
    jobs: Pool,
    bookkeeping: Pool,
    /// `None`: the bookkeeping connections are the worker's own and their
    /// session sets the cutoff (`statement_timeout`,
    /// `synchronous_commit=off`) and the planner setting. `Some`: they are
    /// the application's pool, whose sessions are not ours to change, so
    /// each statement runs in a transaction that sets them for itself with
    /// these `SET LOCAL`s (made once).
    set_local: Option<String>,
    /// `Some(max_attempts)` for a worker that completes in batches: its
    /// claims count the attempt (it has no `start`), up to that many.
    in_batches: Option<u32>,
    sql: JobSql,
    /// Whether the gate had a rate when last read, and when.
    rated: std::sync::Mutex<Option<(Instant, bool)>>,
}

/// The planner setting of the worker's bookkeeping statements: no bitmap
/// scans. A claim for many slots on a table without statistics yet (a
/// burst into a new inbox, before autovacuum's first analyze) is estimated
/// to match fewer due rows than its `LIMIT`, and PostgreSQL then reads
/// every due row by bitmap and sorts them, for every claim until the
/// analyze (measured: 100,000 jobs worked at 5,100 jobs/s, 13,200 with the
/// due index read in order). The other statements find rows by key.
pub(crate) const NO_BITMAP_SCANS: (&str, &str) = ("enable_bitmapscan", "off");

/// How long a worker trusts what it read of the gate's rate: a rate set
/// or lifted takes effect within this (a pause at the next claim).
const RATE_READ_EVERY: Duration = Duration::from_secs(1);

/// How a bookkeeping statement is sent.
#[derive(Clone, Copy)]
enum Plan {
    /// Prepared once per connection and kept.
    Cached,
    /// Planned afresh each time (for statements whose kept generic plan
    /// goes bad as the table grows).
    Fresh,
}

/// A due job as a claim returned it.
pub(crate) struct ClaimedRow {
    pub(crate) key: String,
    pub(crate) stored: DeliveryRecord,
    pub(crate) body: Bytes,
    /// Attempts started before this claim.
    pub(crate) attempts: u32,
    pub(crate) received_at: SystemTime,
    /// An earlier worker's lease was still on the row (it died or lost
    /// its connection mid-attempt).
    pub(crate) abandoned: bool,
    /// The trace context stored with it.
    pub(crate) trace_context: Option<String>,
}

/// How a failed attempt is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fail {
    /// Due again after `pause`, unless this was attempt `max_attempts`.
    Retry { max_attempts: u32, pause: Duration },
    /// A dead letter now, whatever the attempts.
    Dead,
}

/// What recording a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailRecorded {
    /// Pending again.
    Retrying,
    /// A dead letter.
    Dead,
    /// The lease was no longer ours: nothing changed.
    NotHeld,
}

impl WorkerDb {
    /// `bookkeeping` commits its statements with the server's cutoff
    /// `cutoff_ms` (set by its sessions when `None`); `in_batches` is
    /// `Some(max_attempts)` for a worker that completes in batches.
    pub(crate) fn new(
        db: Arc<InboxDb>,
        jobs: Pool,
        bookkeeping: Pool,
        cutoff_ms: Option<u128>,
        in_batches: Option<u32>,
    ) -> Self {
        let sql = JobSql::new(&db.settings.table, db.settings.in_job_order);
        Self {
            db,
            jobs,
            bookkeeping,
            set_local: cutoff_ms.map(|cutoff_ms| {
                let (planner, value) = NO_BITMAP_SCANS;
                format!(
                    "SET LOCAL statement_timeout = {cutoff_ms}; SET LOCAL synchronous_commit = off; \
                     SET LOCAL {planner} = {value}"
                )
            }),
            in_batches,
            sql,
            rated: std::sync::Mutex::new(None),
        }
    }

    /// The inbox table.
    pub(crate) fn table(&self) -> &str {
        &self.db.settings.table
    }

    /// Claims up to `limit` due jobs under `lease` for `lease_for`.
    pub(crate) async fn claim(
        &self,
        limit: usize,
        lease: &str,
        lease_for: Duration,
    ) -> Result<Vec<ClaimedRow>, InboxError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let lease_ms = millis(lease_for);
        // Planned afresh each time (one more round trip per batch): the plan
        // PostgreSQL keeps once a prepared statement has run five times is
        // made for the table as it was, and one made while a new inbox was
        // small can sort every due row for each claim after a burst has
        // filled it.
        let rated = self.rated().await?;
        let rows = match self.in_batches {
            None => {
                let params: [&(dyn ToSql + Sync); 3] = [&limit, &lease, &lease_ms];
                let sql = if rated {
                    &self.sql.claim_rated
                } else {
                    &self.sql.claim
                };
                self.bookkeep("claim", sql, &params, Plan::Fresh).await?
            }
            Some(max_attempts) => {
                let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
                let params: [&(dyn ToSql + Sync); 4] = [&limit, &lease, &lease_ms, &max];
                let sql = if rated {
                    &self.sql.claim_counted_rated
                } else {
                    &self.sql.claim_counted
                };
                self.bookkeep("claim", sql, &params, Plan::Fresh).await?
            }
        };
        Ok(rows.iter().map(claimed_row).collect())
    }

    /// Whether the gate has a rate: read at most once per
    /// [`RATE_READ_EVERY`].
    async fn rated(&self) -> Result<bool, InboxError> {
        let known = *self
            .rated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((read_at, rated)) = known
            && read_at.elapsed() < RATE_READ_EVERY
        {
            return Ok(rated);
        }
        let rows = self
            .bookkeep("read the gate", &self.sql.rated, &[], Plan::Cached)
            .await?;
        let rated = rows.first().is_some_and(|row| row.get::<_, bool>("rated"));
        *self
            .rated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), rated));
        Ok(rated)
    }

    /// Pushes out the lease of each job in `keys` still held under the
    /// matching one of `leases`; the keys renewed.
    pub(crate) async fn renew(
        &self,
        keys: &[String],
        leases: &[String],
        lease_for: Duration,
    ) -> Result<Vec<String>, InboxError> {
        let lease_ms = millis(lease_for);
        // Planned afresh, as the claim is: a kept generic plan of `= ANY`
        // scans the table (and this runs a few times a lease, not per job).
        let rows = self
            .bookkeep(
                "renew leases",
                &self.sql.renew,
                &[&keys, &leases, &lease_ms],
                Plan::Fresh,
            )
            .await?;
        Ok(rows.iter().map(|row| row.get("id")).collect())
    }

    /// Opens the job's transaction (idle for at most `idle_limit_ms`) and
    /// locks its row, if the lease is still ours; `None` if it is not.
    pub(crate) async fn begin(
        &self,
        key: &str,
        lease: &str,
        idle_limit_ms: u128,
    ) -> Result<Option<Arc<JobConnection>>, InboxError> {
        // Not SKIP LOCKED: another worker's claim may hold the row for a
        // moment while it re-checks it against its own snapshot (and lets it
        // go). If our lease lapsed and another worker runs the job, the
        // wait ends with its commit, and the lease no longer matches.
        let sql = &self.sql.begin;
        let begin =
            format!("BEGIN; SET LOCAL idle_in_transaction_session_timeout = {idle_limit_ms}");
        self.db
            .run_on(&self.jobs, "begin a job", |object| async move {
                let connection = Arc::new(JobConnection::new(object));
                let client = connection.client();
                let statement = client.prepare_cached(sql).await?;
                // Sent together, answered in order: one round trip.
                let (_, row) = try_join(
                    client.batch_execute(&begin),
                    client.query_opt(&statement, &[&key, &lease]),
                )
                .await?;
                match row {
                    Some(row) if row.get::<_, &str>("state") == "pending" => {
                        if row.get::<_, bool>("free") {
                            return Ok(Some(connection));
                        }
                        // In job order: another event of its job is running.
                        tracing::debug!(
                            key,
                            "gemini webhook job waits for another event of its job"
                        );
                    }
                    _ => {}
                }
                client.batch_execute("ROLLBACK").await?;
                connection.mark_closed();
                Ok(None)
            })
            .await
    }

    /// Counts an attempt, committed before the handler runs; its number,
    /// or `None` if the lease is no longer ours.
    pub(crate) async fn start(&self, key: &str, lease: &str) -> Result<Option<u32>, InboxError> {
        let rows = self
            .bookkeep(
                "start a job",
                &self.sql.start,
                &[&key, &lease],
                Plan::Cached,
            )
            .await?;
        Ok(rows
            .first()
            .map(|row| u32::try_from(row.get::<_, i32>("attempts")).unwrap_or(u32::MAX)))
    }

    /// Marks the job done in its transaction and commits.
    pub(crate) async fn complete(
        &self,
        connection: &JobConnection,
        key: &str,
        lease: &str,
    ) -> Result<(), InboxError> {
        let sql = &self.sql.complete;
        let client = connection.client();
        let commit = async {
            let statement = client.prepare_cached(sql).await?;
            // One round trip. Should the mark fail, the server turns the
            // `COMMIT` behind it into a rollback, and the error is the mark's.
            // The row is ours: our `FOR KEY SHARE` lock keeps every claim off.
            try_join(
                client.execute(&statement, &[&key, &lease]),
                client.batch_execute("COMMIT"),
            )
            .await
            .map(|_| ())
        };
        self.within_timeout("complete a job", commit).await?;
        connection.mark_closed();
        Ok(())
    }

    /// Marks done each job in `keys` still held under the matching one of
    /// `leases`, outside any job's transaction (a worker that completes in
    /// batches); the keys marked.
    pub(crate) async fn complete_batch(
        &self,
        keys: &[&str],
        leases: &[&str],
    ) -> Result<Vec<String>, InboxError> {
        // Planned afresh, as `renew` is: arrays of any length.
        let rows = self
            .bookkeep(
                "complete jobs",
                &self.sql.complete_batch,
                &[&keys, &leases],
                Plan::Fresh,
            )
            .await?;
        Ok(rows.iter().map(|row| row.get("id")).collect())
    }

    /// Rolls the job's transaction back (the handler's writes with it).
    pub(crate) async fn roll_back(&self, connection: &JobConnection) {
        let rolled_back = self
            .within_timeout(
                "roll back a job",
                connection.client().batch_execute("ROLLBACK"),
            )
            .await;
        if rolled_back.is_ok() {
            connection.mark_closed();
        }
    }

    /// Records a failed attempt with its `error`, as `fail` says.
    pub(crate) async fn fail(
        &self,
        key: &str,
        lease: &str,
        fail: Fail,
        error: &str,
    ) -> Result<FailRecorded, InboxError> {
        let (dead_at, pause) = match fail {
            Fail::Retry {
                max_attempts,
                pause,
            } => (i32::try_from(max_attempts).unwrap_or(i32::MAX), pause),
            // Every attempt count reaches 0.
            Fail::Dead => (0, Duration::ZERO),
        };
        let pause = millis(pause);
        let rows = self
            .bookkeep(
                "record a failure",
                &self.sql.fail,
                &[&key, &lease, &dead_at, &pause, &error],
                Plan::Cached,
            )
            .await?;
        Ok(match rows.first().map(|row| row.get::<_, &str>("state")) {
            Some("dead") => FailRecorded::Dead,
            Some(_) => FailRecorded::Retrying,
            None => FailRecorded::NotHeld,
        })
    }

    /// Gives a job back: due again at once, its attempt (if it started)
    /// still counted.
    pub(crate) async fn release(&self, key: &str, lease: &str) -> Result<(), InboxError> {
        self.bookkeep(
            "release a job",
            &self.sql.release,
            &[&key, &lease],
            Plan::Fresh,
        )
        .await
        .map(drop)
    }

    /// One batch of cleanup, on the bookkeeping pool.
    pub(crate) async fn cleanup(&self) -> Result<Cleaned, InboxError> {
        self.db.cleanup(&self.bookkeeping).await
    }

    /// Runs one bookkeeping statement within the inbox's timeout; its rows.
    async fn bookkeep(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        plan: Plan,
    ) -> Result<Vec<Row>, InboxError> {
        let Some(set_local) = &self.set_local else {
            return self
                .db
                .run_on(&self.bookkeeping, what, |client| async move {
                    match plan {
                        Plan::Cached => {
                            let statement = client.prepare_cached(sql).await?;
                            client.query(&statement, params).await
                        }
                        Plan::Fresh => client.query(sql, params).await,
                    }
                })
                .await;
        };
        self.db
            .run_on(&self.bookkeeping, what, |mut client| async move {
                // Dropped before its commit (the client timed out), the
                // transaction queues its ROLLBACK ahead of the connection's
                // next use: the application never gets it back
                // mid-transaction.
                let transaction = client.transaction().await?;
                let statement = async {
                    match plan {
                        Plan::Cached => {
                            let statement = transaction.prepare_cached(sql).await?;
                            transaction.query(&statement, params).await
                        }
                        Plan::Fresh => transaction.query(sql, params).await,
                    }
                };
                let (_, rows) = try_join(transaction.batch_execute(set_local), statement).await?;
                transaction.commit().await?;
                Ok(rows)
            })
            .await
    }

    async fn within_timeout<T>(
        &self,
        what: &'static str,
        statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, InboxError> {
        self.db.timed(what, statement, InboxError::database).await
    }
}

/// A claim's row (the columns `claim` returns) as a [`ClaimedRow`].
fn claimed_row(row: &Row) -> ClaimedRow {
    ClaimedRow {
        key: row.get("id"),
        stored: DeliveryRecord {
            webhook_id: row.get("webhook_id"),
            signed_at: row.get("signed_at"),
            verified_by: row.get("verified_by"),
            jwt_claims: row.get("jwt_claims"),
        },
        body: Bytes::from(row.get::<_, Vec<u8>>("body")),
        attempts: u32::try_from(row.get::<_, i32>("attempts")).unwrap_or(0),
        received_at: row.get("received_at"),
        abandoned: row.get("abandoned"),
        trace_context: row.get("trace_context"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows `from + 1..=to` of `table`, due now, with bodies of `body`
    /// bytes and `lease` (an SQL expression) on each.
    fn due_rows(table: &str, (from, to): (u32, u32), body: u32, lease: &str) -> String {
        format!(
            "INSERT INTO {table} (id, webhook_id, signed_at, verified_by, body, lease) \
             SELECT 'k' || i, 'msg_' || i, 0, 'secret:0', convert_to(repeat('x', {body}), 'UTF8'), \
               {lease} FROM generate_series({from} + 1, {to}) AS i"
        )
    }

    /// Against the PostgreSQL at `DATABASE_URL`, or a throwaway one.
    #[tokio::test]
    async fn statements_planned_on_a_small_table_still_find_rows_by_id() {
        use crate::connection::plan_check;
        let client = plan_check::client().await;
        let table = format!("plan_check_inbox_{}", std::process::id());
        let sql = JobSql::new(&table, false);
        // Due jobs: a scan of the due index would read them all.
        let fill = |from, to| due_rows(&table, (from, to), 1000, "'lease'");
        let job = "'k1', 'lease'";
        let schema = crate::inbox::Inbox::schema_sql(&table);
        // Prepared once per connection: the plan kept may be the generic one.
        let scans = plan_check::table_scans_after_growth(
            &client,
            "force_generic_plan",
            &schema,
            &fill,
            &[
                (&sql.begin, job),
                (&sql.start, job),
                (&sql.complete, job),
                (&sql.release, job),
                (&sql.fail, "'k1', 'lease', 5, 1000, 'error'"),
            ],
        )
        .await;
        assert!(scans.is_empty(), "{scans:#?}");
        // Planned afresh on every run.
        for fresh in [
            (sql.claim.as_str(), "8, 'lease', 300000"),
            (sql.claim_rated.as_str(), "8, 'lease', 300000"),
            (
                sql.renew.as_str(),
                "ARRAY['k1', 'k2'], ARRAY['lease'], 1000",
            ),
        ] {
            let mut scans =
                plan_check::table_scans_when_grown(&client, &schema, &fill, fresh).await;
            // The gate's table has one row, by its primary key.
            let gate = format!(
                "Seq Scan on {} reading",
                crate::inbox::sql::gate::gate_table(&table)
            );
            scans.retain(|scan| !scan.starts_with(&gate));
            assert!(scans.is_empty(), "{scans:#?}");
        }
    }

    /// A claim for many slots on a grown table without statistics reads
    /// the due index in order under the worker's planner setting; without
    /// it, PostgreSQL reads every due row by bitmap (so the check fails).
    #[tokio::test]
    async fn a_large_claim_reads_the_due_index_in_order_before_any_statistics() {
        use crate::connection::plan_check;
        let client = plan_check::client().await;
        let table = format!("plan_check_claim_{}", std::process::id());
        let sql = JobSql::new(&table, false);
        let fill = |from, to| due_rows(&table, (from, to), 300, "NULL");
        let schema = crate::inbox::Inbox::schema_sql(&table);
        let claim = (sql.claim_counted.as_str(), "512, 'lease', 300000, 10");
        let (planner, value) = NO_BITMAP_SCANS;
        let mut seen = Vec::new();
        for setting in [
            format!("SET {planner} = {value}"),
            format!("RESET {planner}"),
        ] {
            client.batch_execute(&setting).await.unwrap();
            seen.push(plan_check::table_scans_when_grown(&client, &schema, &fill, claim).await);
        }
        // Scans reading more than the claim's 512 rows, or by bitmap.
        let too_wide = |scans: &[String]| -> Vec<String> {
            let rows = |scan: &str| -> u64 {
                let read = scan.split(" reading ").nth(1).unwrap_or_default();
                read.split(' ')
                    .next()
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or(0)
            };
            let wide = |scan: &&String| scan.starts_with("Bitmap") || rows(scan) > 512;
            scans.iter().filter(wide).cloned().collect()
        };
        assert_eq!(too_wide(&seen[0]), Vec::<String>::new(), "{:#?}", seen[0]);
        assert!(
            seen[1].iter().any(|scan| scan.starts_with("Bitmap")),
            "the setting is what keeps the index order: {:#?}",
            seen[1]
        );
    }
}
