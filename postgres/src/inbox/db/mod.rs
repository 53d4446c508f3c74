//! The inbox's one door to the database. Every statement of ingest, of
//! the workers and of administration is a typed method here: each owns its
//! SQL (written in [`sql`](super::sql)), its parameters, its timeout, the
//! label its errors carry, and the decoding of its rows into named structs,
//! read by column name. The rest of the inbox (the ingest batcher, the
//! worker's loop, an attempt) decides; this module only talks to
//! PostgreSQL. The worker's statements are in [`worker`].

mod browse;
#[cfg(test)]
pub(crate) mod contract;
mod redrive;
mod worker;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use deadpool_postgres::{Object, Pool};
use tokio_postgres::Row;

pub(super) use worker::{ClaimedRow, Fail, FailRecorded, NO_BITMAP_SCANS, WorkerDb};

use super::completion::EventKeys;
use super::inspect::{JobRecord, JobState};
use super::job::StoredDelivery;
use super::{Gate, Origin};
use super::{InboxCounts, InboxError, sql};
use crate::connection::{RunError, Schema, millis};
use gemini_webhooks::ConfigError;

/// An inbox's table, pool and settings, and every statement run on them.
pub(crate) struct InboxDb {
    pub(crate) pool: Pool,
    pub(super) schema: Schema,
    /// How the inbox makes its own connections, and the workers theirs;
    /// `None` on the application's pool.
    pub(super) own: Option<OwnConnections>,
    pub(crate) settings: InboxSettings,
    insert_sql: String,
}

/// What the inbox's own connections are made from.
pub(super) struct OwnConnections {
    pub(super) config: tokio_postgres::Config,
    pub(super) connector: crate::connection::Connector,
}

/// The inbox's settings, as its builder left them.
#[derive(Debug, Clone)]
pub(crate) struct InboxSettings {
    pub(crate) table: String,
    pub(super) channel: String,
    pub(crate) timeout: Duration,
    pub(super) keep_done: Duration,
    /// A job's events run one at a time, in order.
    pub(super) in_job_order: bool,
}

/// One delivery as ingest stores it: its row's columns.
pub(super) struct NewRow<'a> {
    pub(super) key: &'a str,
    pub(super) row: &'a StoredDelivery,
    pub(super) body: &'a [u8],
}

/// What one batched `INSERT` did.
pub(super) struct Inserted {
    /// The replay keys written (not those already stored).
    pub(super) keys: Vec<String>,
    /// How many of the batch's completions a poll had stored first.
    pub(super) late_completions: u64,
}

/// What one cleanup deleted.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cleaned {
    pub(super) done: u64,
    pub(super) tracked: u64,
}

impl InboxDb {
    pub(super) fn new(
        pool: Pool,
        own: Option<OwnConnections>,
        settings: InboxSettings,
        create_schema: bool,
    ) -> Self {
        Self {
            pool,
            schema: Schema::new(&settings.table, sql::schema(&settings.table), create_schema),
            own,
            insert_sql: sql::insert(&settings.table),
            settings,
        }
    }

    /// Runs `statement` on a pooled connection within the timeout, creating
    /// the schema first if this inbox has not yet.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        what: &'static str,
        statement: F,
    ) -> Result<T, InboxError>
    where
        F: FnOnce(Object) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        self.run_on(&self.pool, what, statement).await
    }

    /// [`run`](Self::run) on another pool (a worker's own).
    pub(crate) async fn run_on<T, F, Fut>(
        &self,
        pool: &Pool,
        what: &'static str,
        statement: F,
    ) -> Result<T, InboxError>
    where
        F: FnOnce(Object) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        self.schema
            .run(pool, self.settings.timeout, statement)
            .await
            .map_err(|err| run_error(what, err))
    }

    /// A connection from `pool`, the schema created, within the timeout;
    /// `what` names the failure.
    #[cfg(feature = "reconcile")]
    pub(crate) async fn connection(
        &self,
        pool: &Pool,
        what: &'static str,
    ) -> Result<Object, InboxError> {
        self.timed(what, self.schema.connection(pool), run_error)
            .await
    }

    /// `operation` within the inbox's timeout: its error as `error` maps
    /// it, or [`InboxError::TimedOut`], either naming `what`. The one
    /// place a statement's time is bounded.
    pub(crate) async fn timed<T, E>(
        &self,
        what: &'static str,
        operation: impl Future<Output = Result<T, E>>,
        error: impl FnOnce(&'static str, E) -> InboxError,
    ) -> Result<T, InboxError> {
        tokio::time::timeout(self.settings.timeout, operation)
            .await
            .map_err(|_| InboxError::TimedOut { what })?
            .map_err(|err| error(what, err))
    }

    /// Connects, creates the table unless migrations own it, and reads it.
    pub(super) async fn check(&self) -> Result<(), InboxError> {
        self.schema
            .check(&self.pool, self.settings.timeout)
            .await
            .map_err(|err| run_error("check the inbox table", err))
    }

    /// A pool of `size` connections of the inbox's own (the application's
    /// pool for an inbox built on it), each with the server options
    /// `extra` and asking the server to probe it every few seconds: a
    /// transaction cut off by the network is rolled back in seconds, not
    /// hours.
    pub(crate) fn own_pool(&self, size: usize, extra: &str) -> Result<Pool, ConfigError> {
        let Some(own) = &self.own else {
            return Ok(self.pool.clone());
        };
        let mut config = own.config.clone();
        let options = format!(
            "{} -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 {extra}",
            config.get_options().unwrap_or_default()
        );
        config.options(options.trim());
        crate::connection::pool(config, &own.connector, size, self.settings.timeout)
    }

    /// Stores a batch of deliveries in one `INSERT` (rows in the order
    /// given), marking the tracked jobs their events name: closed by a
    /// completion, their deadline pushed out by any other event.
    pub(super) async fn insert(&self, rows: &[NewRow<'_>]) -> Result<Inserted, InboxError> {
        let sql = &self.insert_sql;
        let columns = InsertColumns::of(rows);
        let row = self
            .run("ingest", |client| async move {
                // Planned afresh each time (one more round trip per batch):
                // a kept generic plan, made while the tracked table was
                // empty, scans it whole for every batch once endings fill
                // it (measured: 513,826 sequential scans reading 2.5
                // billion rows in a 30,000-job run, each batch slower than
                // the last, until ingest timed out).
                client.query_one(sql.as_str(), &columns.params()).await
            })
            .await?;
        Ok(Inserted {
            keys: row.get("inserted"),
            late_completions: count(&row, "late"),
        })
    }

    /// Wakes the workers `LISTEN`ing on the inbox's channel.
    pub(super) async fn notify(&self) -> Result<(), InboxError> {
        let sql = sql::notify(&self.settings.channel);
        self.run("notify", |client| async move {
            client.batch_execute(&sql).await
        })
        .await
    }

    /// Up to `limit` dead letters, oldest failure first, bodies included.
    pub(super) async fn dead_letters(&self, limit: u32) -> Result<Vec<JobRecord>, InboxError> {
        let sql = sql::dead_letters(&self.settings.table);
        let limit = i64::from(limit);
        let rows = self
            .run("list dead letters", |client| async move {
                client.query(&sql, &[&limit]).await
            })
            .await?;
        Ok(rows.iter().map(job_record).collect())
    }

    /// Makes the job in finished `state` with replay key `key` (every one
    /// with `None`) pending again from attempt 1 and wakes the workers; how
    /// many.
    pub(super) async fn requeue(
        &self,
        key: Option<&str>,
        state: JobState,
    ) -> Result<u64, InboxError> {
        let settings = &self.settings;
        let sql = sql::requeue(&settings.table, &settings.channel);
        let state = state.as_str();
        let row = self
            .run("requeue", |client| async move {
                client.query_one(&sql, &[&key, &state]).await
            })
            .await?;
        Ok(count(&row, "requeued"))
    }

    /// Sets the workers' gate and wakes them.
    pub(super) async fn set_gate(&self, gate: Gate) -> Result<(), InboxError> {
        let settings = &self.settings;
        let sql = sql::gate::set(&settings.table, &settings.channel);
        let rate = gate
            .rate
            .map(|rate| i32::try_from(rate.get()).unwrap_or(i32::MAX));
        let paused = gate.paused;
        self.run("set the gate", |client| async move {
            client.query(&sql, &[&paused, &rate]).await
        })
        .await
        .map(drop)
    }

    /// The workers' gate as it is (open if its row is gone).
    pub(super) async fn gate(&self) -> Result<Gate, InboxError> {
        let sql = sql::gate::read(&self.settings.table);
        let row = self
            .run("read the gate", |client| async move {
                client.query_one(&sql, &[]).await
            })
            .await?;
        let rate: Option<i32> = row.get("rate");
        Ok(Gate {
            paused: row.get::<_, Option<bool>>("paused").unwrap_or(false),
            rate: rate
                .and_then(|rate| u32::try_from(rate).ok())
                .and_then(std::num::NonZeroU32::new),
        })
    }

    /// How many jobs the inbox holds, by state.
    pub(super) async fn counts(&self) -> Result<InboxCounts, InboxError> {
        let sql = sql::counts(&self.settings.table);
        let row = self
            .run("count", |client| async move {
                client.query_one(&sql, &[]).await
            })
            .await?;
        Ok(inbox_counts(&row))
    }

    /// Up to `limit` jobs in `state` (all with `None`), newest first,
    /// without their bodies.
    pub(super) async fn jobs(
        &self,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, InboxError> {
        let sql = sql::jobs(&self.settings.table);
        let (state, limit) = (state.map(JobState::as_str), i64::from(limit));
        let rows = self
            .run("list jobs", |client| async move {
                client.query(&sql, &[&state, &limit]).await
            })
            .await?;
        Ok(rows.iter().map(job_record).collect())
    }

    /// The job with replay key `key`, body included.
    pub(super) async fn job(&self, key: &str) -> Result<Option<JobRecord>, InboxError> {
        let sql = sql::job(&self.settings.table);
        let row = self
            .run("show a job", |client| async move {
                client.query_opt(&sql, &[&key]).await
            })
            .await?;
        Ok(row.as_ref().map(job_record))
    }

    /// Deletes one batch of done rows older than the dedup TTL and one of
    /// tracked jobs closed long past their horizon, on `pool`.
    pub(super) async fn cleanup(&self, pool: &Pool) -> Result<Cleaned, InboxError> {
        let sql = sql::cleanup(&self.settings.table);
        let tracked_sql = sql::tracked::cleanup(&self.settings.table);
        let keep = millis(self.settings.keep_done);
        let (done, tracked) = self
            .run_on(pool, "cleanup", |client| async move {
                let done = client.execute(&sql, &[&keep]).await?;
                let tracked = client.execute(&tracked_sql, &[]).await?;
                Ok((done, tracked))
            })
            .await?;
        Ok(Cleaned { done, tracked })
    }
}

/// A batch of new rows as the arrays of ingest's `INSERT` (`$1`…`$13`, see
/// [`sql::insert`]): one array per column, and the tracked jobs the batch
/// closes (`$8`) and defers (`$9`).
struct InsertColumns<'a> {
    keys: Vec<&'a str>,
    webhook_ids: Vec<&'a str>,
    signed_at: Vec<i64>,
    verified_by: Vec<&'a str>,
    jwt_claims: Vec<Option<&'a str>>,
    bodies: Vec<&'a [u8]>,
    completions: Vec<Option<&'a str>>,
    closing: Vec<&'a str>,
    deferring: Vec<&'a str>,
    event_types: Vec<Option<&'a str>>,
    job_keys: Vec<Option<&'a str>>,
    event_at: Vec<Option<SystemTime>>,
    traces: Vec<Option<&'a str>>,
}

impl<'a> InsertColumns<'a> {
    fn of(rows: &'a [NewRow<'a>]) -> Self {
        let column = |get: fn(&'a NewRow<'a>) -> Option<&'a str>| rows.iter().map(get).collect();
        let events = || rows.iter().filter_map(|r| r.row.keys.as_ref());
        let jobs_that = |ends: bool| {
            events()
                .filter(|k| k.ends == ends)
                .map(|k| k.job.as_str())
                .collect()
        };
        Self {
            keys: rows.iter().map(|r| r.key).collect(),
            webhook_ids: rows
                .iter()
                .map(|r| r.row.record.webhook_id.as_str())
                .collect(),
            signed_at: rows.iter().map(|r| r.row.record.signed_at).collect(),
            verified_by: rows
                .iter()
                .map(|r| r.row.record.verified_by.as_str())
                .collect(),
            jwt_claims: column(|r| r.row.record.jwt_claims.as_deref()),
            bodies: rows.iter().map(|r| r.body).collect(),
            completions: column(|r| r.row.keys.as_ref().and_then(EventKeys::completion)),
            closing: jobs_that(true),
            deferring: jobs_that(false),
            event_types: column(|r| r.row.event_type.as_deref()),
            job_keys: column(|r| r.row.keys.as_ref().map(|k| k.job.as_str())),
            event_at: rows.iter().map(|r| r.row.event_at).collect(),
            traces: column(|r| r.row.trace_context.as_deref()),
        }
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 13] {
        [
            &self.keys,
            &self.webhook_ids,
            &self.signed_at,
            &self.verified_by,
            &self.jwt_claims,
            &self.bodies,
            &self.completions,
            &self.closing,
            &self.deferring,
            &self.event_types,
            &self.job_keys,
            &self.event_at,
            &self.traces,
        ]
    }
}

/// A job's row (the columns of [`sql::jobs`]) as a [`JobRecord`].
fn job_record(row: &Row) -> JobRecord {
    JobRecord {
        key: row.get("id"),
        webhook_id: row.get("webhook_id"),
        state: JobState::parse(row.get("shown_state")),
        attempts: u32::try_from(row.get::<_, i32>("attempts")).unwrap_or(0),
        last_error: row.get("last_error"),
        received_at: row.get("received_at"),
        run_at: row.get("run_at"),
        failed_at: row.get("failed_at"),
        finished_at: row.get("finished_at"),
        event_type: row.get("event_type"),
        job_key: row.get("job_key"),
        origin: match row.get::<_, &str>("verified_by") {
            "poll" => Origin::Poll,
            _ => Origin::Webhook,
        },
        body: row
            .get::<_, Option<Vec<u8>>>("body")
            .map(Bytes::from)
            .unwrap_or_default(),
    }
}

/// A row of counts named by state.
fn inbox_counts(row: &Row) -> InboxCounts {
    InboxCounts {
        pending: count(row, "pending"),
        running: count(row, "running"),
        done: count(row, "done"),
        dead: count(row, "dead"),
    }
}

/// A `count(*)` column (never negative) as a `u64`.
pub(crate) fn count(row: &Row, column: &str) -> u64 {
    u64::try_from(row.get::<_, i64>(column)).unwrap_or(0)
}

/// An inbox statement's failure, as an [`InboxError`].
pub(crate) fn run_error(what: &'static str, err: RunError) -> InboxError {
    match err {
        RunError::Connect(err) => InboxError::database(what, err),
        RunError::Schema(err) => InboxError::database("create the inbox table", err),
        RunError::Statement(err) => InboxError::database(what, err),
        RunError::TimedOut => InboxError::TimedOut { what },
    }
}
