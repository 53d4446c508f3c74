//! Test support: whether a statement's cached plan still finds its rows by
//! index once the table it was planned on has grown.
//!
//! After five runs of a prepared statement PostgreSQL may keep one generic
//! plan, and replans only when the table's statistics change. A pooled
//! connection of a new inbox or store plans its statements while the table
//! is nearly empty, and a burst can grow the table by a million rows before
//! autovacuum's first look. A plan that was cheap on a few hundred rows
//! then costs every claim, job or cleanup a read of the whole table: seen
//! were a sort of every due row, a full scan of a partial index whose
//! predicate the query repeats, and a sequential scan for expired rows.

use serde_json::Value;
use tokio_postgres::{Client, SimpleQueryMessage};

/// Table sizes at which statements are first planned: empty, a few
/// rows, and sizes at which PostgreSQL's estimates (no statistics yet)
/// have been seen to pick plans that read every due row.
const SIZES: [u32; 4] = [0, 20, 500, 5_000];

/// Rows in the table when the plans are checked.
const GROWN: u32 = 50_000;

/// A connection to the [`test_database_url`].
pub(crate) async fn client() -> Client {
    let url = test_database_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| {
            panic!(
                "the tests' PostgreSQL: {}",
                gemini_webhooks::ErrorChain(&err)
            )
        });
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

/// The PostgreSQL the library's own tests use: `DATABASE_URL`, or a
/// throwaway server of the test process's own.
pub(crate) fn test_database_url() -> String {
    testdb::postgres_url()
}
