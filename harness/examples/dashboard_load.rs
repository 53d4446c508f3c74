//! How long the dashboard's pages take over a large inbox: fills a table
//! with `ROWS` jobs (default 1,000,000) received over the last 30 days —
//! 97 % done, 1 % pending, 2 % dead with an error, one in 50 a
//! `batch.failed` — then loads each page `LOADS` times (default 30)
//! through the router, in process (the database round trips and the
//! rendering; no network), and prints the median and the slowest.
//!
//! `DATABASE_URL` (default the local server) · `TABLE` (default
//! `gw_dashboard_bench`, kept between runs: filled only when its row count
//! differs).
//!
//! `cargo run --release -p gemini-webhooks-harness --example dashboard_load`

use std::time::{Duration, Instant};

use gemini_webhooks_postgres::dashboard::Dashboard;
use gemini_webhooks_postgres::inbox::Inbox;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

const TOKEN: &str = "bench";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Fills `table` with `rows` jobs unless it holds that many already.
async fn fill(
    client: &tokio_postgres::Client,
    table: &str,
    rows: i64,
) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(&Inbox::schema_sql(table)).await?;
    let held: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await?
        .get(0);
    if held == rows {
        return Ok(());
    }
    eprintln!("filling {table} with {rows} rows…");
    let started = Instant::now();
    client
        .batch_execute(&format!(
            "TRUNCATE {table};
             INSERT INTO {table} (id, webhook_id, signed_at, verified_by, body, state, attempts,
               run_at, received_at, failed_at, finished_at, last_error, event_type, job_key)
             SELECT 'msg_' || g, 'msg_' || g, 0, 'secret:0',
               convert_to('{{\"type\":\"batch.succeeded\",\"timestamp\":\"2026-12-01T00:00:00Z\",\"data\":{{\"id\":\"batches/' || g || '\"}}}}', 'UTF8'),
               CASE g % 100 WHEN 0 THEN 'dead' WHEN 50 THEN 'dead' WHEN 1 THEN 'pending' ELSE 'done' END,
               1, now(), now() - g * interval '2.592 seconds',
               CASE WHEN g % 50 = 0 THEN now() - g * interval '2.592 seconds' END,
               CASE WHEN g % 50 <> 0 AND g % 100 <> 1 THEN now() - g * interval '2.592 seconds' END,
               CASE WHEN g % 50 = 0 THEN 'upstream answered 500 for batches/' || g END,
               CASE WHEN g % 50 = 0 THEN 'batch.failed' ELSE 'batch.succeeded' END,
               'batch:' || g
             FROM generate_series(1, {rows}) AS g;"
        ))
        .await?;
    // Its own statement: VACUUM refuses to run in a multi-statement batch.
    client
        .batch_execute(&format!("VACUUM ANALYZE {table}"))
        .await?;
    eprintln!("filled in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Loads `path` `loads` times: the median and the slowest.
async fn time(app: &axum::Router, path: &str, loads: usize) -> (Duration, Duration, usize) {
    let mut took = Vec::with_capacity(loads);
    let mut size = 0;
    for _ in 0..loads + 3 {
        let request = http::Request::get(path)
            .header(http::header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let started = Instant::now();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::OK, "{path}");
        size = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .len();
        took.push(started.elapsed());
    }
    let mut took = took.split_off(3); // warm-up loads dropped
    took.sort();
    (took[took.len() / 2], took[took.len() - 1], size)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let table = std::env::var("TABLE").unwrap_or_else(|_| "gw_dashboard_bench".to_owned());
    let rows: i64 = env_or("ROWS", 1_000_000);
    let loads: usize = env_or("LOADS", 30);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    fill(&client, &table, rows).await?;
    let inbox = Inbox::builder(&url).table(&table).build()?;
    let app =
        axum::Router::new().nest_service("/inbox", Dashboard::new(&inbox).token(TOKEN).router());
    // A cursor in the middle of the table: a deep page.
    let middle = rows / 2;
    let at: i64 = client
        .query_one(&format!("SELECT (extract(epoch FROM received_at) * 1000000)::bigint FROM {table} WHERE id = 'msg_{middle}'"), &[])
        .await?
        .get(0);
    let pages = [
        ("overview", "/inbox/".to_owned()),
        ("jobs, newest", "/inbox/jobs".to_owned()),
        (
            "jobs, page at row 500,000",
            format!("/inbox/jobs?after_at={at}&after_key=msg_{middle}"),
        ),
        ("jobs, dead", "/inbox/jobs?state=dead".to_owned()),
        (
            "jobs, batch.failed, one day",
            "/inbox/jobs?type=batch.failed&since=2026-11-20T00:00&until=2026-11-21T00:00"
                .to_owned(),
        ),
        (
            "jobs, text in the newest (common)",
            "/inbox/jobs?q=upstream".to_owned(),
        ),
        (
            "jobs, text in one hour",
            "/inbox/jobs?state=dead&q=batches/77&since=2026-11-20T00:00&until=2026-11-20T01:00"
                .to_owned(),
        ),
        (
            "jobs, text matching nothing",
            "/inbox/jobs?q=no-such-text".to_owned(),
        ),
        ("one job", format!("/inbox/job?key=msg_{middle}")),
        (
            "bulk requeue count, dead",
            "/inbox/requeue?state=dead".to_owned(),
        ),
        ("tracked", "/inbox/tracked".to_owned()),
    ];
    println!("{rows} rows, {loads} loads each (median / slowest):");
    for (name, path) in pages {
        let (median, slowest, size) = time(&app, &path, loads).await;
        println!(
            "{name:<36} {:>7.1} ms {:>7.1} ms  {:>6} bytes",
            median.as_secs_f64() * 1e3,
            slowest.as_secs_f64() * 1e3,
            size
        );
    }
    Ok(())
}
