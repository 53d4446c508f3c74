//! [`PostgresReplayStore`]: the replay record in a PostgreSQL table, shared
//! by every replica of a receiver.

mod sql;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_postgres::types::ToSql;

use gemini_webhooks::__private as background;
use gemini_webhooks::ConfigError;
use gemini_webhooks::replay::{
    Claim, ClaimToken, DEFAULT_DEDUP_TTL, DEFAULT_IN_FLIGHT_TTL, Extension, ReplayError,
    ReplayStore,
};

use crate::connection::{Options, RunError, Schema, Source, millis, postgres_options_methods};
use sql::StoreSql;

/// The table a store uses unless told otherwise.
pub const DEFAULT_TABLE: &str = "gemini_webhook_replay";

/// How many expired rows one cleanup deletes at most.
const CLEANUP_BATCH: i64 = 1_000;

/// A cleanup runs after every this many claims.
const CLEANUP_EVERY: u64 = 1_024;

/// A [`ReplayStore`] on PostgreSQL, for receivers that run on many machines
/// and already have a database.
///
/// One row per webhook id: a claim inserts it with the claim's token and an
/// expiry of the in-flight TTL; a commit marks it done until the dedup TTL;
/// a release deletes it. Every statement is a single atomic `INSERT … ON
/// CONFLICT` or token-checked `UPDATE`/`DELETE`, so of concurrent claims on
/// any number of replicas exactly one wins, and a replica whose claim
/// lapsed cannot commit over the one that took over. Times come from the
/// database's clock (`now()`), so replicas' clocks need not agree. Rows past
/// their expiry count as absent and are deleted in bounded batches
/// ([`cleanup_expired`](Self::cleanup_expired), run every 1,024 claims).
///
/// The table is created on first use (`CREATE TABLE IF NOT EXISTS`, under
/// an advisory lock so replicas starting together do not collide); teams
/// that manage migrations themselves run [`schema_sql`](Self::schema_sql)
/// and set [`create_schema(false)`](PostgresReplayStoreBuilder::create_schema).
///
/// When the database does not answer within the timeout (default 1 s) the
/// receiver answers 503 and Gemini retries; with
/// [`fail_open`](PostgresReplayStoreBuilder::fail_open) the delivery goes
/// through unprotected instead.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use gemini_webhooks_postgres::replay::PostgresReplayStore;
/// use gemini_webhooks::{Verifier, tower::WebhookLayer};
///
/// let store = PostgresReplayStore::builder("postgres://app@db.internal/app").build()?;
/// let verifier = Verifier::builder().secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?.build()?;
/// let layer = WebhookLayer::new(verifier).replay_store(store);
/// # Ok(())
/// # }
/// ```
pub struct PostgresReplayStore {
    pool: Pool,
    schema: Schema,
    settings: Arc<StoreSettings>,
    sql: Arc<StoreSql>,
    claims: AtomicU64,
}

struct StoreSettings {
    table: String,
    in_flight_ttl: Duration,
    dedup_ttl: Duration,
    timeout: Duration,
    fail_open: bool,
}

impl PostgresReplayStore {
    /// A builder for the database at `url` (`postgres://user:password@host/db`
    /// or the key-value form). Nothing connects until the first delivery.
    /// With `sslmode=require` in it, connections use TLS and verify the
    /// server's certificate (feature `tls`; see
    /// `PostgresReplayStoreBuilder::tls_root_certificates`).
    pub fn builder(url: impl Into<String>) -> PostgresReplayStoreBuilder {
        PostgresReplayStoreBuilder::new(Source::Url(url.into()))
    }

    /// A builder for a store on the application's own pool (deadpool-postgres
    /// 0.14), as it is: its size, timeouts and TLS are the application's.
    /// The store's statements still run within its
    /// [`timeout`](PostgresReplayStoreBuilder::timeout).
    ///
    /// ```no_run
    /// # fn run(pool: deadpool_postgres::Pool) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks_postgres::replay::PostgresReplayStore;
    /// let store = PostgresReplayStore::from_pool(pool).table("app.webhook_replay").build()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_pool(pool: Pool) -> PostgresReplayStoreBuilder {
        PostgresReplayStoreBuilder::new(Source::Pool(pool))
    }
}

impl PostgresReplayStoreBuilder {
    fn new(source: Source) -> Self {
        PostgresReplayStoreBuilder {
            options: Options::new(source, DEFAULT_TABLE),
            in_flight_ttl: DEFAULT_IN_FLIGHT_TTL,
            dedup_ttl: DEFAULT_DEDUP_TTL,
            fail_open: false,
        }
    }
}

impl PostgresReplayStore {
    /// The SQL that creates the store's table and its index, for teams that
    /// run migrations themselves (idempotent).
    ///
    /// ```
    /// use gemini_webhooks_postgres::replay::PostgresReplayStore;
    /// let sql = PostgresReplayStore::schema_sql("gemini_webhook_replay");
    /// assert!(sql.contains("CREATE TABLE IF NOT EXISTS gemini_webhook_replay"));
    /// ```
    pub fn schema_sql(table: &str) -> String {
        sql::schema(table)
    }

    /// Checks that the store can do its work: connects, creates its table
    /// (unless migrations own it) and reads it, within the timeout. Call it
    /// at start-up to fail fast on what would otherwise be a 503 for every
    /// delivery: a wrong URL or password, a database that does not exist, a
    /// missing table. The error shows its cause with
    /// [`ErrorChain`](gemini_webhooks::ErrorChain).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks_postgres::replay::PostgresReplayStore;
    ///
    /// let store = PostgresReplayStore::builder(std::env::var("DATABASE_URL")?).build()?;
    /// if let Err(err) = store.check().await {
    ///     eprintln!("replay store unusable: {}", gemini_webhooks::ErrorChain(&err));
    ///     std::process::exit(1);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check(&self) -> Result<(), ReplayError> {
        self.schema
            .check(&self.pool, self.settings.timeout)
            .await
            .map_err(|err| self.run_error("check the replay table", err))
    }

    /// Deletes up to 1,000 rows past their expiry; returns how many. Runs by
    /// itself every 1,024 claims; call it from a scheduled job if you like.
    pub async fn cleanup_expired(&self) -> Result<u64, ReplayError> {
        let sql = self.sql.cleanup.as_str();
        // Planned afresh each time, like every background statement (see
        // `execute_detached`).
        self.run(
            "cleanup",
            |client| async move { client.execute(sql, &[]).await },
        )
        .await
    }

    /// Runs `statement` on a pooled connection within the timeout, creating
    /// the schema first if this store has not yet. Statements are prepared
    /// once per connection (`prepare_cached`): one round trip per operation.
    async fn run<T, F, Fut>(&self, what: &'static str, statement: F) -> Result<T, ReplayError>
    where
        F: FnOnce(deadpool_postgres::Object) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        self.schema
            .run(&self.pool, self.settings.timeout, statement)
            .await
            .map_err(|err| self.run_error(what, err))
    }

    fn run_error(&self, what: &'static str, err: RunError) -> ReplayError {
        match err {
            RunError::Connect(err) => {
                ReplayError::with_source("could not connect to PostgreSQL", err)
            }
            RunError::Schema(err) => {
                ReplayError::with_source("could not create the replay table", err)
            }
            RunError::Statement(err) => ReplayError::with_source(what, err),
            RunError::TimedOut => ReplayError::new(format!("{what}: PostgreSQL timed out")),
        }
    }

    async fn claim_in_database(&self, id: &str, token: &ClaimToken) -> Result<Claim, ReplayError> {
        let sql = &self.sql.claim;
        let value = background::token_hex(token);
        let ttl = millis(self.settings.in_flight_ttl);
        let row = self
            .run("claim", |client| async move {
                let statement = client.prepare_cached(sql).await?;
                client.query_one(&statement, &[&id, &value, &ttl]).await
            })
            .await?;
        let (new, done): (bool, Option<bool>) = (row.get(0), row.get(1));
        Ok(match (new, done) {
            (true, _) => Claim::New(token.clone()),
            (false, Some(true)) => Claim::Done,
            (false, _) => Claim::InFlight,
        })
    }

    /// Releases a claim that may still land after its answer timed out,
    /// retrying until the database answers or the in-flight TTL passes.
    fn release_in_background(&self, id: &str, token: &ClaimToken) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (pool, settings) = (self.pool.clone(), Arc::clone(&self.settings));
        let sql = Arc::clone(&self.sql);
        let (id, value) = (id.to_owned(), background::token_hex(token));
        runtime.spawn(async move {
            // Given up after the in-flight TTL: the claim has lapsed by itself.
            background::retry_until(settings.in_flight_ttl, settings.timeout, || async {
                let params: [&(dyn ToSql + Sync); 2] = [&id, &value];
                execute_detached(&pool, settings.timeout, &sql.release, &params)
                    .await
                    .is_some()
            })
            .await;
        });
    }

    /// Every 1,024th claim deletes a batch of expired rows, in the background.
    fn maybe_cleanup(&self) {
        if self.claims.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY != CLEANUP_EVERY - 1 {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (pool, sql, timeout) = (
            self.pool.clone(),
            Arc::clone(&self.sql),
            self.settings.timeout,
        );
        runtime.spawn(async move {
            if let Some(deleted) = execute_detached(&pool, timeout, &sql.cleanup, &[]).await {
                tracing::debug!(deleted, "deleted expired replay rows");
            }
        });
    }
}

impl ReplayStore for PostgresReplayStore {
    async fn claim(&self, id: &str) -> Result<Claim, ReplayError> {
        let token = ClaimToken::new();
        let outcome = match self.claim_in_database(id, &token).await {
            Err(err) if self.settings.fail_open => {
                Ok(background::fail_open_claim("postgres", id, &err, token))
            }
            Err(err) => {
                self.release_in_background(id, &token);
                Err(err)
            }
            outcome => outcome,
        };
        self.maybe_cleanup();
        outcome
    }

    async fn commit(&self, id: &str, token: &ClaimToken, ttl: Duration) -> Result<(), ReplayError> {
        let sql = &self.sql.commit;
        let (value, ttl) = (background::token_hex(token), millis(ttl));
        let changed = self
            .run("commit", |client| async move {
                let statement = client.prepare_cached(sql).await?;
                client.execute(&statement, &[&id, &value, &ttl]).await
            })
            .await?;
        (changed == 1)
            .then_some(())
            .ok_or_else(|| ReplayError::new("another claim took over before commit"))
    }

    async fn release(&self, id: &str, token: &ClaimToken) -> Result<(), ReplayError> {
        // Releasing a claim that already lapsed is not an error.
        let sql = &self.sql.release;
        let value = background::token_hex(token);
        self.run("release", |client| async move {
            let statement = client.prepare_cached(sql).await?;
            client.execute(&statement, &[&id, &value]).await
        })
        .await
        .map(drop)
    }

    async fn extend(&self, id: &str, token: &ClaimToken) -> Result<Extension, ReplayError> {
        let sql = &self.sql.extend;
        let (value, ttl) = (
            background::token_hex(token),
            millis(self.settings.in_flight_ttl),
        );
        let changed = self
            .run("extend", |client| async move {
                let statement = client.prepare_cached(sql).await?;
                client.execute(&statement, &[&id, &value, &ttl]).await
            })
            .await;
        match changed {
            Ok(1) => Ok(Extension::Renewed),
            Ok(_) => Ok(Extension::Lost),
            Err(err) => background::fail_open_extension(self.settings.fail_open, id, err),
        }
    }

    fn in_flight_ttl(&self) -> Duration {
        self.settings.in_flight_ttl
    }

    fn dedup_ttl(&self) -> Duration {
        self.settings.dedup_ttl
    }
}

/// Runs one statement for a background task, within `timeout`; how many
/// rows it changed, or `None` on any failure (the caller decides whether
/// to try again). Not prepared once per connection: these run rarely, and a
/// statement without parameters would keep the plan made on its first run
/// for ever (a cleanup first planned on a small table reads every row).
async fn execute_detached(
    pool: &Pool,
    timeout: Duration,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Option<u64> {
    let attempt = async {
        let client = pool.get().await.ok()?;
        client.execute(sql, params).await.ok()
    };
    tokio::time::timeout(timeout, attempt).await.ok().flatten()
}

impl fmt::Debug for PostgresReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.settings;
        f.debug_struct("PostgresReplayStore")
            .field("table", &settings.table)
            .field("in_flight_ttl", &settings.in_flight_ttl)
            .field("dedup_ttl", &settings.dedup_ttl)
            .field("timeout", &settings.timeout)
            .field("fail_open", &settings.fail_open)
            .finish_non_exhaustive()
    }
}

/// Most connections a store's own pool opens, by default.
/// A delivery holds a connection for its claim and again for its commit,
/// a round trip each: four served 2,500–2,900 deliveries/s at concurrency
/// 64 here (16: 3,500–5,000; BENCHMARKS.md), and let twenty replicas share
/// a default server.
const DEFAULT_POOL_SIZE: usize = 4;

/// Configures a [`PostgresReplayStore`].
#[must_use]
pub struct PostgresReplayStoreBuilder {
    options: Options,
    in_flight_ttl: Duration,
    dedup_ttl: Duration,
    fail_open: bool,
}

impl PostgresReplayStoreBuilder {
    postgres_options_methods! {
        table: "One table per receiver endpoint whose ids must not mix.",
        schema_sql: "PostgresReplayStore::schema_sql",
        pool_size: "Most connections the store opens (default 4).",
    }

    /// How long a claim holds when neither committed nor released (default
    /// 10 minutes; the receiver renews it while a handler runs).
    pub fn in_flight_ttl(mut self, ttl: Duration) -> Self {
        self.in_flight_ttl = ttl;
        self
    }

    /// How long handled ids are remembered (default 25 h, longer than
    /// Gemini's 24 hours of retries): the TTL the receiver commits with.
    pub fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.dedup_ttl = ttl;
        self
    }

    /// Let deliveries through unprotected when the database is unreachable
    /// (default `false`: they get 503 and Gemini retries).
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// Builds the store; fails on a malformed URL or table name, never on
    /// an unreachable database (that is a 503 per delivery until it is back).
    pub fn build(self) -> Result<PostgresReplayStore, ConfigError> {
        let options = self.options;
        let (pool, _) = options.open(&sql::DERIVED, DEFAULT_POOL_SIZE)?;
        let table = &options.table;
        Ok(PostgresReplayStore {
            pool,
            schema: Schema::new(
                table,
                PostgresReplayStore::schema_sql(table),
                options.create_schema,
            ),
            sql: Arc::new(StoreSql::new(table)),
            settings: Arc::new(StoreSettings {
                table: options.table,
                in_flight_ttl: self.in_flight_ttl,
                dedup_ttl: self.dedup_ttl,
                timeout: options.timeout,
                fail_open: self.fail_open,
            }),
            claims: AtomicU64::new(0),
        })
    }
}

impl fmt::Debug for PostgresReplayStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresReplayStoreBuilder")
            .field("options", &self.options)
            .field("in_flight_ttl", &self.in_flight_ttl)
            .field("dedup_ttl", &self.dedup_ttl)
            .field("fail_open", &self.fail_open)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::plan_check;

    /// Against the PostgreSQL at `DATABASE_URL`, or a throwaway one.
    #[tokio::test]
    async fn statements_planned_on_a_small_table_still_find_rows_by_id() {
        let client = plan_check::client().await;
        let table = format!("plan_check_replay_{}", std::process::id());
        let sql = StoreSql::new(&table);
        // Live rows: a range scan of the expiry index would read them all.
        let fill = |from: u32, to: u32| {
            format!(
                "INSERT INTO {table} (id, token, done, expires_at) \
                 SELECT 'id' || i, NULL, true, now() + interval '1 hour' \
                 FROM generate_series({from} + 1, {to}) AS i"
            )
        };
        let args = "'probe', 'token', 1000";
        // The store leaves the plan cache to PostgreSQL, which may keep a
        // generic plan: the worst case is checked.
        let scans = plan_check::table_scans_after_growth(
            &client,
            "force_generic_plan",
            &PostgresReplayStore::schema_sql(&table),
            fill,
            &[
                (&sql.claim, args),
                (&sql.commit, args),
                (&sql.release, "'probe2', 'token'"),
                (&sql.extend, args),
            ],
        )
        .await;
        assert!(scans.is_empty(), "{scans:#?}");
        // Planned afresh on every run (see `maybe_cleanup`).
        let schema = PostgresReplayStore::schema_sql(&table);
        let scans =
            plan_check::table_scans_when_grown(&client, &schema, fill, (&sql.cleanup, "")).await;
        assert!(scans.is_empty(), "{scans:#?}");
    }
}
