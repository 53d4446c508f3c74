//! What the PostgreSQL replay store and the inbox share: the connection
//! pool, the check of table names spliced into SQL, and creating a schema
//! once under an advisory lock (feature `postgres`).

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

/// A pool of at most `size` connections to `config`, each wait, connect and
/// recycle bounded by `timeout`.
pub(crate) fn pool(
    config: tokio_postgres::Config,
    size: usize,
    timeout: Duration,
) -> Result<Pool, deadpool_postgres::BuildError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
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

/// Whether `table` is a plain identifier, optionally schema-qualified
/// (`name` or `schema.name`): it is spliced into SQL, so nothing else is.
pub(crate) fn valid_table(table: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match table.split_once('.') {
        Some((schema, name)) => part(schema) && part(name),
        None => part(table),
    }
}

/// What a builder says about a table name it refuses.
pub(crate) const TABLE_RULE: &str =
    "the table name must be lower-case letters, digits and `_`, optionally `schema.table`";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_table_names_are_accepted() {
        for good in ["gemini_webhook_replay", "app.replay", "_t1"] {
            assert!(valid_table(good), "{good}");
        }
        for bad in [
            "",
            "Replay",
            "a-b",
            "x; DROP TABLE y",
            "a.b.c",
            "1abc",
            "a.",
            &"a".repeat(64),
        ] {
            assert!(!valid_table(bad), "{bad}");
        }
        assert_eq!(
            derived_name("app.replay", "expires_at"),
            "app_replay_expires_at"
        );
    }
}
