//! Reconciliation's door to the database: each statement of tracking and
//! of a reconciler's round (written in [`sql::tracked`](crate::inbox::sql::tracked)) as a typed
//! method, its rows read by column name. The reconciler decides what a
//! poll comes to ([`Step`]); [`TrackingDb::apply`] only writes it.

use std::time::Duration;

use serde_json::Value;
use tokio_postgres::Error as PgError;
use tokio_postgres::GenericClient;

use super::{TrackedRecord, TrackedState, TrackingCounts, WatchedWebhook};
use crate::connection::millis;
use crate::inbox::InboxError;
use crate::inbox::db::{InboxDb, count};
use crate::inbox::sql::tracked as sql;

/// The statements of tracking, for one inbox table: built once, with the
/// table's names spliced in.
pub(super) struct TrackingDb {
    track: String,
    reopen: String,
    counts: String,
    list: String,
    untrack: String,
    due_now: String,
    override_default: String,
    claim: String,
    store: String,
    close: String,
    failed: String,
    abandon: String,
    reschedule: String,
    record_webhook: String,
    webhooks: String,
}

/// A due tracked job, as a round claimed it (locked until it commits).
pub(super) struct ClaimedTracking {
    pub(super) key: String,
    pub(super) resource: String,
    pub(super) user_metadata: Option<Value>,
    /// Polls so far.
    pub(super) polls: u32,
    /// Failed polls in a row.
    pub(super) failures: u32,
    pub(super) past_horizon: bool,
    /// Why its last poll failed, if it did.
    pub(super) last_error: Option<String>,
}

/// What a round writes for one polled job: the reconciler's decision.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step<'a> {
    /// Store the polled event (a no-op when a copy is there first), then
    /// close the job (`next` is `None`) or poll it again after `next`.
    Store {
        id: String,
        signed_at: i64,
        body: Vec<u8>,
        completion_key: &'a str,
        event_type: &'a str,
        next: Option<Duration>,
    },
    /// Still running in `state`: polled again after `next`.
    Reschedule { state: &'a str, next: Duration },
    /// The poll failed with `error`: tried again after `next`.
    Retry { error: &'a str, next: Duration },
    /// Given up at its horizon, not ended.
    Abandon {
        state: Option<&'a str>,
        error: Option<&'a str>,
    },
}

impl TrackingDb {
    /// The tracked jobs of inbox `table`.
    pub(super) fn new(table: &str) -> Self {
        let tracked = sql::tracked_table(table);
        Self {
            track: sql::track(&tracked),
            reopen: sql::reopen(&tracked),
            counts: sql::counts(&tracked),
            list: sql::list(&tracked),
            untrack: sql::untrack(&tracked),
            record_webhook: sql::record_webhook(table),
            webhooks: sql::webhooks(table),
            due_now: sql::due_now(&tracked),
            override_default: sql::override_default(&tracked),
            claim: sql::claim(&tracked),
            store: sql::store(table),
            close: sql::close(&tracked),
            failed: sql::failed(&tracked),
            abandon: sql::abandon(&tracked),
            reschedule: sql::reschedule(&tracked),
        }
    }

    /// Records a job to track (`params` as [`sql::track`] takes them) on
    /// `client`; whether a row was written.
    pub(super) async fn track<C: GenericClient + Sync>(
        &self,
        client: &C,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync); 6],
    ) -> Result<bool, PgError> {
        let statement = &self.track;
        Ok(client.execute(statement, params).await? == 1)
    }

    /// Opens abandoned job `key` again, its horizon `horizon` from now at
    /// the earliest; whether it was abandoned.
    pub(super) async fn reopen(
        &self,
        db: &InboxDb,
        key: &str,
        horizon: Duration,
    ) -> Result<bool, InboxError> {
        let statement = &self.reopen;
        let horizon = millis(horizon);
        let changed = db
            .run("reopen a tracked job", |client| async move {
                client.execute(statement, &[&key, &horizon]).await
            })
            .await?;
        Ok(changed == 1)
    }

    /// Up to `limit` tracked jobs in `state` (all with `None`), the latest
    /// tracked first.
    pub(super) async fn list(
        &self,
        db: &InboxDb,
        state: Option<TrackedState>,
        limit: u32,
    ) -> Result<Vec<TrackedRecord>, InboxError> {
        let statement = &self.list;
        let (state, limit) = (state.map(TrackedState::as_str), i64::from(limit));
        let rows = db
            .run("list tracked jobs", |client| async move {
                client.query(statement, &[&state, &limit]).await
            })
            .await?;
        Ok(rows.iter().map(tracked_record).collect())
    }

    /// Job `key` no longer tracked; whether it was.
    pub(super) async fn untrack(&self, db: &InboxDb, key: &str) -> Result<bool, InboxError> {
        let statement = &self.untrack;
        let row = db
            .run("untrack a job", |client| async move {
                client.query_one(statement, &[&key]).await
            })
            .await?;
        Ok(count(&row, "untracked") == 1)
    }

    /// How many tracked jobs there are, by state.
    /// Records watched webhook `webhook`'s `state`, checked now.
    pub(super) async fn record_webhook(
        &self,
        db: &InboxDb,
        webhook: &str,
        state: &str,
    ) -> Result<(), InboxError> {
        let statement = &self.record_webhook;
        db.run("record a webhook's state", |client| async move {
            client.execute(statement, &[&webhook, &state]).await
        })
        .await?;
        Ok(())
    }

    /// Every watched webhook's last seen state.
    pub(super) async fn webhooks(&self, db: &InboxDb) -> Result<Vec<WatchedWebhook>, InboxError> {
        let statement = &self.webhooks;
        let rows = db
            .run("read the watched webhooks", |client| async move {
                client.query(statement, &[]).await
            })
            .await?;
        Ok(rows
            .iter()
            .map(|row| WatchedWebhook {
                webhook: row.get("webhook"),
                state: row.get("state"),
                checked_at: row.get("checked_at"),
            })
            .collect())
    }

    pub(super) async fn counts(&self, db: &InboxDb) -> Result<TrackingCounts, InboxError> {
        let statement = &self.counts;
        let row = db
            .run("count tracked jobs", |client| async move {
                client.query_one(statement, &[]).await
            })
            .await?;
        Ok(TrackingCounts {
            open: count(&row, "open"),
            overdue: count(&row, "overdue"),
            by_webhook: count(&row, "by_webhook"),
            by_poll: count(&row, "by_poll"),
            abandoned: count(&row, "abandoned"),
        })
    }

    /// Makes every open job due now; how many.
    pub(super) async fn due_now(&self, db: &InboxDb) -> Result<u64, InboxError> {
        let statement = &self.due_now;
        db.run("reconcile every tracked job", |client| async move {
            client.execute(statement, &[]).await
        })
        .await
    }

    /// Jobs tracked with their kind's default wait get `after` instead.
    pub(super) async fn override_default<C: GenericClient>(
        &self,
        client: &C,
        after: Duration,
    ) -> Result<u64, PgError> {
        client
            .execute(&self.override_default, &[&millis(after)])
            .await
    }

    /// Claims up to `limit` due open jobs in the round's transaction.
    pub(super) async fn claim<C: GenericClient>(
        &self,
        transaction: &C,
        limit: usize,
    ) -> Result<Vec<ClaimedTracking>, PgError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = transaction.query(&self.claim, &[&limit]).await?;
        Ok(rows
            .iter()
            .map(|row| ClaimedTracking {
                key: row.get("job_key"),
                resource: row.get("resource"),
                user_metadata: row
                    .get::<_, Option<&str>>("user_metadata")
                    .and_then(|text| serde_json::from_str(text).ok()),
                polls: u32::try_from(row.get::<_, i32>("polls")).unwrap_or(0),
                failures: u32::try_from(row.get::<_, i32>("failures")).unwrap_or(0),
                past_horizon: row.get("past_horizon"),
                last_error: row.get("last_error"),
            })
            .collect())
    }

    /// Writes `step` for job `key` in the round's transaction; for a
    /// [`Step::Store`], whether the event was stored (no copy was there
    /// first), else `false`.
    pub(super) async fn apply<C: GenericClient>(
        &self,
        transaction: &C,
        key: &str,
        step: &Step<'_>,
    ) -> Result<bool, PgError> {
        match step {
            Step::Store {
                next, event_type, ..
            } => {
                let stored = self.store_polled(transaction, key, step).await?;
                match next {
                    None => {
                        let close = &self.close;
                        transaction
                            .execute(close, &[&key, event_type, &stored])
                            .await?;
                    }
                    Some(next) => self.reschedule(transaction, key, event_type, *next).await?,
                }
                Ok(stored)
            }
            Step::Reschedule { state, next } => {
                self.reschedule(transaction, key, state, *next).await?;
                Ok(false)
            }
            Step::Retry { error, next } => {
                let failed = &self.failed;
                transaction
                    .execute(failed, &[&key, error, &millis(*next)])
                    .await?;
                Ok(false)
            }
            Step::Abandon { state, error } => {
                let abandon = &self.abandon;
                transaction.execute(abandon, &[&key, state, error]).await?;
                Ok(false)
            }
        }
    }

    /// Stores the polled event of a [`Step::Store`] for job `key`, with the
    /// trace context of the span the round polls it in (its attempt
    /// continues it); whether it was stored (no copy was there first).
    async fn store_polled<C: GenericClient>(
        &self,
        transaction: &C,
        key: &str,
        step: &Step<'_>,
    ) -> Result<bool, PgError> {
        let Step::Store {
            id,
            signed_at,
            body,
            completion_key,
            event_type,
            ..
        } = step
        else {
            return Ok(false);
        };
        let trace = crate::inbox::trace::current();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            id,
            signed_at,
            body,
            completion_key,
            event_type,
            &key,
            &trace,
        ];
        Ok(!transaction.query(&self.store, &params).await?.is_empty())
    }

    async fn reschedule<C: GenericClient>(
        &self,
        transaction: &C,
        key: &str,
        state: &str,
        next: Duration,
    ) -> Result<(), PgError> {
        let reschedule = &self.reschedule;
        transaction
            .execute(reschedule, &[&key, &state, &millis(next)])
            .await
            .map(drop)
    }
}

/// A row of [`sql::list`] as a [`TrackedRecord`].
fn tracked_record(row: &tokio_postgres::Row) -> TrackedRecord {
    let number = |column: &str| u32::try_from(row.get::<_, i32>(column)).unwrap_or(0);
    TrackedRecord {
        key: row.get("job_key"),
        resource: row.get("resource"),
        state: TrackedState::parse(row.get("state")),
        origin: row.get("origin"),
        deadline: row.get("deadline"),
        horizon: row.get("horizon"),
        next_poll_at: row.get("next_poll_at"),
        polls: number("polls"),
        failures: number("failures"),
        last_status: row.get("last_status"),
        last_error: row.get("last_error"),
        tracked_at: row.get("tracked_at"),
        closed_at: row.get("closed_at"),
    }
}
