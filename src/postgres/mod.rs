//! What the PostgreSQL replay store and the inbox share: the connection
//! pool, how its connections are made ([`connector`]: plain text, or TLS
//! with feature `postgres-tls`), the check of table names spliced into
//! SQL, and running a statement on a pooled connection within a timeout,
//! the table created once under an advisory lock first ([`Schema`])
//! (feature `postgres`).

#[cfg(feature = "postgres-tls")]
mod ca_only;
mod connector;
mod schema;

pub(crate) use connector::{Connector, parse_url};
pub(crate) use schema::{RunError, Schema};

use std::time::Duration;

use deadpool_postgres::{Pool, Runtime};
use tokio_postgres::Config;

use crate::config_error::ConfigError;

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

/// The settings a builder opens its connections with.
pub(crate) struct Opening<'a> {
    pub(crate) table: &'a str,
    /// The suffixes of the names derived from the table.
    pub(crate) suffixes: &'a [&'a str],
    /// The own pool's size, if one was given.
    pub(crate) pool_size: Option<usize>,
    pub(crate) default_pool_size: usize,
    pub(crate) tls_roots: &'a [Vec<u8>],
    pub(crate) timeout: Duration,
}

/// Checks a builder's settings and makes its pool: from the URL, or the
/// application's pool as it is (then the own pool's settings are refused,
/// not ignored). Nothing connects yet.
pub(crate) fn open(source: Source, opening: &Opening<'_>) -> Result<Opened, ConfigError> {
    match source {
        Source::Url(url) => {
            let (config, connector) =
                configure(&url, opening.tls_roots, opening.table, opening.suffixes)?;
            let size = opening.pool_size.unwrap_or(opening.default_pool_size);
            let pool = self::pool(config.clone(), &connector, size, opening.timeout)?;
            Ok((pool, Some((config, connector))))
        }
        Source::Pool(pool) => {
            check_table(opening.table, opening.suffixes)
                .map_err(|reason| ConfigError::InvalidTable { reason })?;
            if opening.pool_size.is_some() {
                return Err(ConfigError::NotForPool {
                    setting: "pool_size",
                });
            }
            if !opening.tls_roots.is_empty() {
                return Err(ConfigError::NotForPool {
                    setting: "tls_root_certificates",
                });
            }
            Ok((pool, None))
        }
    }
}

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

/// Checks a table name spliced into SQL against PostgreSQL's own rules,
/// with the `suffixes` of the identifiers derived from it (indexes, a
/// channel): each part a plain lower-case identifier (`name` or
/// `schema.name`), none a reserved word (which every statement would then
/// fail on), and every derived identifier within PostgreSQL's 63 bytes
/// (past them it truncates silently, and two indexes' names could meet).
pub(crate) fn check_table(table: &str, suffixes: &[&str]) -> Result<(), String> {
    let plain = |p: &str| {
        !p.is_empty()
            && p.len() <= MAX_IDENTIFIER
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|part| plain(part)) {
        return Err(TABLE_RULE.to_owned());
    }
    if let Some(word) = parts.iter().find(|part| RESERVED.contains(part)) {
        return Err(format!(
            "the table name `{table}` uses `{word}`, a reserved word in PostgreSQL: choose another"
        ));
    }
    let longest = suffixes.iter().map(|s| s.len()).max().unwrap_or(0);
    if let Some(derived) = suffixes
        .iter()
        .map(|suffix| derived_name(table, suffix))
        .find(|name| name.len() > MAX_IDENTIFIER)
    {
        return Err(format!(
            "the table name `{table}` is too long: `{derived}`, named after it, would pass \
             PostgreSQL's {MAX_IDENTIFIER} bytes and be cut short; use at most {} bytes",
            MAX_IDENTIFIER - 1 - longest
        ));
    }
    Ok(())
}

/// PostgreSQL's longest identifier (`NAMEDATALEN` - 1), in bytes.
const MAX_IDENTIFIER: usize = 63;

/// The key words PostgreSQL reserves outright or for functions and types
/// (`pg_get_keywords()` categories `R` and `T`): neither is a table name
/// unless quoted. A test checks the list against the server.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// What a builder says about a table name it refuses.
pub(crate) const TABLE_RULE: &str =
    "the table name must be lower-case letters, digits and `_`, optionally `schema.table`";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_table_names_are_accepted() {
        let check = |table: &str| check_table(table, &["due", "finished"]);
        for good in [
            "gemini_webhook_replay",
            "app.replay",
            "_t1",
            "orders",
            "time",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Replay",
            "a-b",
            "x; DROP TABLE y",
            "a.b.c",
            "1abc",
            "a.",
            ".a",
        ] {
            assert_eq!(check(bad), Err(TABLE_RULE.to_owned()), "{bad}");
        }
        for reserved in ["order", "user", "app.table", "select.inbox"] {
            assert!(
                check(reserved).is_err_and(|err| err.contains("reserved word")),
                "{reserved}"
            );
        }
        // `<table>_finished` must fit in 63 bytes: 54 bytes of table do.
        assert_eq!(check(&"a".repeat(54)), Ok(()));
        for long in [55, 62, 63] {
            let refused = check(&"a".repeat(long)).unwrap_err();
            assert!(
                refused.contains("use at most 54 bytes"),
                "{long}: {refused}"
            );
        }
        // A schema's name counts: `app.x` gives `app_x_finished`.
        assert_eq!(check(&format!("app.{}", "a".repeat(50))), Ok(()));
        assert!(check(&format!("app.{}", "a".repeat(51))).is_err());
        assert_eq!(
            derived_name("app.replay", "expires_at"),
            "app_replay_expires_at"
        );
    }

    /// Against the PostgreSQL at `DATABASE_URL`, or a throwaway one.
    #[tokio::test]
    async fn the_reserved_words_are_the_servers() {
        let client = super::plan_check::client().await;
        let rows = client
            .query(
                "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T') ORDER BY word",
                &[],
            )
            .await
            .unwrap();
        let server: Vec<String> = rows.into_iter().map(|row| row.get(0)).collect();
        let mut ours: Vec<&str> = RESERVED.to_vec();
        ours.sort_unstable();
        // Ours may hold words of a newer server (`system_user`, PostgreSQL 16).
        for word in &server {
            assert!(ours.contains(&word.as_str()), "`{word}` is missing");
        }
        for word in &server {
            let created = client
                .batch_execute(&format!("BEGIN; CREATE TABLE {word} (x int); ROLLBACK"))
                .await;
            let _ = client.batch_execute("ROLLBACK").await;
            assert!(created.is_err(), "`{word}` works as a table name");
        }
        // The unreserved words users pick do work.
        for word in ["orders", "time", "inbox"] {
            assert!(check_table(word, &[]).is_ok(), "{word}");
        }
    }
}

/// The throwaway servers the integration tests start, shared with the
/// library's own tests.
#[cfg(test)]
#[path = "../../tests/common/throwaway.rs"]
mod throwaway;

/// The PostgreSQL the library's own tests use: `DATABASE_URL`, or a
/// throwaway server of the test process's own.
#[cfg(test)]
pub(crate) fn test_database_url() -> String {
    throwaway::postgres_url()
}

/// Test support: whether a statement's cached plan still finds its rows by
/// index once the table it was planned on has grown.
///
/// After five runs of a prepared statement PostgreSQL may keep one generic
/// plan, and replans only when the table's statistics change. A pooled
/// connection of a new inbox or store plans its statements while the table
/// is nearly empty, and a burst can grow the table by a million rows before
/// autovacuum's first look. A plan that was cheap on a few hundred rows
/// then costs every claim, job or cleanup a read of the whole table: seen
/// were a sort of every due row, a full scan of a partial index whose
/// predicate the query repeats, and a sequential scan for expired rows.
#[cfg(test)]
pub(crate) mod plan_check {
    use serde_json::Value;
    use tokio_postgres::{Client, SimpleQueryMessage};

    /// Table sizes at which statements are first planned: empty, a few
    /// rows, and sizes at which PostgreSQL's estimates (no statistics yet)
    /// have been seen to pick plans that read every due row.
    const SIZES: [u32; 4] = [0, 20, 500, 5_000];

    /// Rows in the table when the plans are checked.
    const GROWN: u32 = 50_000;

    /// A connection to the [`test_database_url`](super::test_database_url).
    pub(crate) async fn client() -> Client {
        let url = super::test_database_url();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|err| panic!("the tests' PostgreSQL: {}", crate::ErrorChain(&err)));
        tokio::spawn(connection);
        client
    }

    /// For each size in [`SIZES`], in a transaction rolled back at the end:
    /// `schema`; `fill(0, size)`; each statement prepared and run once with
    /// its arguments under `plan_cache_mode` (`force_generic_plan` is what
    /// PostgreSQL's default may settle on after five runs, and keeps);
    /// `fill(size, GROWN)`; each statement again under `EXPLAIN ANALYZE`.
    /// Returns one line per scan that reads the table rather than finding
    /// rows by index (a sequential scan, or any scan that returns or
    /// discards more than 100 rows), naming the statement and the size it
    /// was first run at. Fill rows must not collide with what the
    /// statements insert.
    pub(crate) async fn table_scans_after_growth(
        client: &Client,
        plan_cache_mode: &str,
        schema: &str,
        fill: impl Fn(u32, u32) -> String,
        statements: &[(&str, &str)],
    ) -> Vec<String> {
        let mut scans = Vec::new();
        for size in SIZES {
            let setup = format!(
                "BEGIN; SET LOCAL plan_cache_mode = {plan_cache_mode}; {schema}; {}",
                fill(0, size)
            );
            client.batch_execute(&setup).await.expect("schema and rows");
            for (n, (sql, args)) in statements.iter().enumerate() {
                let prepared = format!("PREPARE plan_check_{n} AS {sql}; {}", execute(n, args));
                client.batch_execute(&prepared).await.expect(sql);
            }
            client
                .batch_execute(&fill(size, GROWN))
                .await
                .expect("more rows");
            for (n, (sql, args)) in statements.iter().enumerate() {
                let label = format!("first run at {size} rows: {sql}");
                explain(client, &execute(n, args), &label, &mut scans).await;
            }
            client
                .batch_execute("ROLLBACK; DEALLOCATE ALL")
                .await
                .expect("rollback");
        }
        scans
    }

    /// Like [`table_scans_after_growth`], for a statement planned afresh
    /// each time it runs: prepared, planned and checked once the table
    /// holds its rows, before any statistics exist.
    pub(crate) async fn table_scans_when_grown(
        client: &Client,
        schema: &str,
        fill: impl Fn(u32, u32) -> String,
        (sql, args): (&str, &str),
    ) -> Vec<String> {
        let setup = format!(
            "BEGIN; {schema}; {}; PREPARE plan_check_0 AS {sql}",
            fill(0, GROWN)
        );
        client.batch_execute(&setup).await.expect("schema and rows");
        let mut scans = Vec::new();
        explain(client, &execute(0, args), sql, &mut scans).await;
        client
            .batch_execute("ROLLBACK; DEALLOCATE ALL")
            .await
            .expect("rollback");
        scans
    }

    /// `EXECUTE` of prepared statement `n` with `args` (SQL literals).
    fn execute(n: usize, args: &str) -> String {
        match args {
            "" => format!("EXECUTE plan_check_{n}"),
            args => format!("EXECUTE plan_check_{n}({args})"),
        }
    }

    /// Runs `sql` under `EXPLAIN ANALYZE` and adds its table scans to `scans`.
    async fn explain(client: &Client, sql: &str, label: &str, scans: &mut Vec<String>) {
        let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}");
        let messages = client.simple_query(&explain).await.expect(label);
        let text = messages
            .iter()
            .find_map(|message| match message {
                SimpleQueryMessage::Row(row) => row.get(0),
                _ => None,
            })
            .expect("a plan");
        let plan: Value = serde_json::from_str(text).expect("EXPLAIN's JSON");
        collect_scans(&plan[0]["Plan"], label, scans);
    }

    /// Walks a plan tree, noting every scan that reads the table.
    fn collect_scans(node: &Value, statement: &str, scans: &mut Vec<String>) {
        let kind = node["Node Type"].as_str().unwrap_or_default();
        let read = node["Actual Rows"].as_u64().unwrap_or(0)
            + node["Rows Removed by Filter"].as_u64().unwrap_or(0);
        if kind == "Seq Scan" || (kind.ends_with("Scan") && read > 100) {
            scans.push(format!(
                "{kind} on {} reading {read} rows, {statement}",
                node["Index Name"]
                    .as_str()
                    .or(node["Relation Name"].as_str())
                    .unwrap_or("?")
            ));
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            collect_scans(child, statement, scans);
        }
    }
}
