//! What the PostgreSQL replay store and the inbox share: the connection
//! pool, how its connections are made ([`connector`]: plain text, or TLS
//! with feature `tls`), the check of table names spliced into
//! SQL, and running a statement on a pooled connection within a timeout,
//! the table created once under an advisory lock first ([`Schema`]).

#[cfg(feature = "tls")]
mod ca_only;
mod connector;
mod options;
#[cfg(test)]
pub(crate) mod plan_check;
mod schema;
mod table_name;

pub(crate) use connector::{Connector, parse_url};
pub(crate) use options::{Options, postgres_options_methods};
pub(crate) use schema::{RunError, Schema};
pub(crate) use table_name::check_table;

use std::time::Duration;

use deadpool_postgres::{Pool, Runtime};
use tokio_postgres::Config;

use gemini_webhooks::ConfigError;

/// A pool of at most `size` connections to `config`, made by `connector`,
/// each wait, connect and recycle bounded by `timeout`.
pub(crate) fn pool(
    config: Config,
    connector: &Connector,
    size: usize,
    timeout: Duration,
) -> Result<Pool, ConfigError> {
    Pool::builder(connector.manager(config))
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|err| ConfigError::Pool(Box::new(err)))
}

/// Where a builder's connections come from.
pub(crate) enum Source {
    /// Pools of its own, to this URL.
    Url(String),
    /// The application's pool, used as it is.
    Pool(Pool),
}

/// What a builder opens: its pool, and how its own connections are made
/// (`None` on the application's pool).
pub(crate) type Opened = (Pool, Option<(Config, Connector)>);

/// The URL parsed (libpq's `sslmode`s included) and the table name checked
/// with the `suffixes` of the names derived from it: what each builder
/// checks before anything connects.
pub(crate) fn configure(
    url: &str,
    tls_roots: &[Vec<u8>],
    table: &str,
    suffixes: &[&str],
) -> Result<(Config, Connector), ConfigError> {
    check_table(table, suffixes).map_err(|reason| ConfigError::InvalidTable { reason })?;
    parse_url(url, tls_roots).map_err(|reason| ConfigError::InvalidUrl {
        service: "PostgreSQL",
        reason,
    })
}

/// Runs `schema` (idempotent DDL) under a transaction-scoped advisory lock
/// named after `table`: concurrent `CREATE TABLE IF NOT EXISTS` from
/// replicas starting together can otherwise collide. Nothing runs if the
/// table exists: even a `CREATE INDEX IF NOT EXISTS` that does nothing
/// takes a lock that stops the table's writers while it waits.
pub(crate) async fn create_schema(
    client: &tokio_postgres::Client,
    table: &str,
    schema: String,
) -> Result<(), tokio_postgres::Error> {
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await?;
    if exists.get::<_, bool>(0) {
        return Ok(());
    }
    let sql = format!(
        "BEGIN; SELECT pg_advisory_xact_lock(hashtext('gemini-webhooks:{table}')); {schema} COMMIT;"
    );
    let created = client.batch_execute(&sql).await;
    if created.is_err() {
        // Leave no aborted transaction on a pooled connection.
        let _ = client.batch_execute("ROLLBACK").await;
    }
    created
}

/// An identifier derived from `table` for an index or a channel: `.`
/// becomes `_`, so `app.inbox` gives `app_inbox_{suffix}`.
pub(crate) fn derived_name(table: &str, suffix: &str) -> String {
    format!("{}_{suffix}", table.replace('.', "_"))
}

/// Milliseconds as the `float8` the statements multiply an interval by.
pub(crate) fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
