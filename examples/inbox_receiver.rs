//! A Gemini webhook receiver with a durable PostgreSQL inbox: the HTTP side
//! verifies, stores and answers 202 in one round trip; workers (in this
//! process, and in any other running it on the same database) run the
//! handler, retry failures with backoff and dead-letter what keeps failing.
//!
//! Environment:
//! - `DATABASE_URL`: default `postgres://postgres@127.0.0.1:5432/postgres`;
//! - `GEMINI_WEBHOOK_SECRET`: one or more `whsec_` secrets, comma-separated;
//! - `BIND_ADDR`: where to listen; default `0.0.0.0:$PORT` when `PORT` is
//!   set (Cloud Run), else `127.0.0.1:3000`;
//! - `INBOX_WORKERS`: jobs run at once in this process (default 4; 0 runs
//!   no worker: ingest only);
//! - `INBOX_MAX_ATTEMPTS`: attempts before a dead letter (default 5);
//! - `INBOX_TABLE`: the inbox table (default `gemini_webhook_inbox`);
//! - `INBOX_POOL_SIZE`: most connections ingest opens (the crate's default);
//! - `INBOX_LEASE_MS`, `INBOX_BACKOFF_MS`, `INBOX_POLL_MS`: the worker's
//!   lease (default 15000, renewed while a job runs), first backoff
//!   (default 1000) and poll interval (default 1000);
//! - `INBOX_JOB_TIMEOUT_MS`: how long one attempt's handler may run before
//!   it is cancelled and counted as failed (default 600000);
//! - `GEMINI_API_KEY`: when set, a reconciler runs beside the workers: jobs
//!   tracked with `gemini-webhooks inbox track` whose webhook has not come
//!   in time are polled for, and handled as their webhook would have been;
//! - `GEMINI_API_BASE`: the API's host (default
//!   `https://generativelanguage.googleapis.com`);
//! - `INBOX_RECONCILE_AFTER`: seconds a tracked job may stay unseen before
//!   it is polled, for jobs tracked without a wait of their own (default:
//!   the kind's, `reconcile::JobKind`);
//! - `INBOX_RECONCILE_POLL`: seconds between polls of a job still running
//!   (default 300);
//! - `INBOX_DASHBOARD_TOKEN`: when set, the operator's dashboard is served
//!   at `/inbox/` to whoever shows this token (bearer or login form);
//!   unset, there is no dashboard;
//! - `GEMINI_WEBHOOK_ID`: the static webhook whose state the reconciler
//!   watches (optional); `GEMINI_WEBHOOK_REENABLE=1` turns it back on when
//!   Gemini disabled it after failed deliveries.
//!
//! For every event handled it prints one JSON line
//! `{"id","type","resource","origin"}` on stdout (`origin`: `webhook` or
//! `poll`), and records it in `<INBOX_TABLE>_handled` in the job's own
//! transaction: that table is the exactly-once record (a line on stdout is
//! an effect outside the database, at least once). Test flags,
//! anywhere in the body: `"fail_handler_times": n` fails the first n
//! attempts, `"poison": true` fails every attempt, `"hang_attempts": n`
//! never finishes the first n attempts (to kill a worker mid-job). Each
//! attempt's start is logged on stderr as `{"started","attempt"}`.
//!
//! `GEMINI_WEBHOOK_SECRET=whsec_... cargo run --example inbox_receiver`

#[path = "common/mod.rs"]
mod common;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use gemini_webhooks_api::{GEMINI_API_HOST, GeminiClient};
use gemini_webhooks_postgres::inbox::{DEFAULT_TABLE, Inbox, Job};
use gemini_webhooks_postgres::reconcile::Reconciler;
use serde_json::Value;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("{name} is not valid: {value}")),
        Err(_) => Ok(default),
    }
}

/// The handler: behaves as the body's test flags say, else records and
/// prints the event.
async fn handle(job: Job, handled_table: &str) -> Result<(), String> {
    let delivery = job.delivery();
    let body: Value = job.json().map_err(|err| err.to_string())?;
    let attempt = u64::from(job.attempt());
    eprintln!(
        "{}",
        serde_json::json!({"started": delivery.id(), "attempt": attempt})
    );
    let flag = |name| common::find_field(&body, name).and_then(Value::as_u64);
    if flag("hang_attempts").is_some_and(|n| attempt <= n) {
        std::future::pending::<()>().await;
    }
    if common::find_field(&body, "poison") == Some(&Value::Bool(true)) {
        return Err("poison: this delivery always fails".to_owned());
    }
    if flag("fail_handler_times").is_some_and(|n| attempt <= n) {
        return Err(format!("failing on purpose (attempt {attempt})"));
    }
    let event = job.event().map_err(|err| err.to_string())?;
    let resource = event.resource_id().unwrap_or_default();
    let origin = job.origin().as_str();
    job.client()
        .execute(
            &format!(
                "INSERT INTO {handled_table} (webhook_id, resource, origin) VALUES ($1, $2, $3)"
            ),
            &[&delivery.id(), &resource, &origin],
        )
        .await
        .map_err(|err| err.to_string())?;
    let line = serde_json::json!({"id": delivery.id(), "type": event.event_type(),
                                  "resource": resource, "origin": origin});
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    Ok(())
}

fn main() -> std::process::ExitCode {
    common::run_main(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let table: String = env_or("INBOX_TABLE", DEFAULT_TABLE.to_owned())?;
    // The library's default (4): with ingest's 2, the worker's 2 for
    // bookkeeping and 1 for `LISTEN`, 9 connections at most (10 with a
    // reconciler), as the README counts them.
    let workers: usize = env_or("INBOX_WORKERS", 4)?;
    let max_attempts: u32 = env_or("INBOX_MAX_ATTEMPTS", 5)?;
    let lease = Duration::from_millis(env_or("INBOX_LEASE_MS", 15_000)?);
    let job_timeout = Duration::from_millis(env_or("INBOX_JOB_TIMEOUT_MS", 600_000)?);
    let backoff = Duration::from_millis(env_or("INBOX_BACKOFF_MS", 1_000)?);
    let poll = Duration::from_millis(env_or("INBOX_POLL_MS", 1_000)?);

    let mut inbox = Inbox::builder(&url).table(&table);
    if let Ok(size) = std::env::var("INBOX_POOL_SIZE") {
        inbox = inbox.pool_size(size.parse()?);
    }
    let inbox = inbox.build()?;
    // Fail fast, with the cause, on a wrong URL, password or database.
    if let Err(err) = inbox.check().await {
        eprintln!(
            "the inbox is unusable: {}",
            gemini_webhooks::ErrorChain(&err)
        );
        std::process::exit(1);
    }
    let handled_table = format!("{}_handled", table);
    // The inbox's own connection: TLS when the URL says `sslmode=require`.
    let client = inbox.connection().await?;
    // Under an advisory lock: replicas starting together would otherwise race
    // in `CREATE TABLE IF NOT EXISTS` (a duplicate key in `pg_type`).
    client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('{handled_table}')); \
             CREATE TABLE IF NOT EXISTS {handled_table} (webhook_id TEXT NOT NULL, \
               resource TEXT, origin TEXT, handled_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
             COMMIT;"
        ))
        .await?;
    drop(client);

    let worker = (workers > 0).then(|| {
        let handled_table: Arc<str> = handled_table.into();
        let worker = inbox
            .worker(move |job: Job| {
                let handled_table = Arc::clone(&handled_table);
                async move { handle(job, &handled_table).await }
            })
            .concurrency(workers)
            .max_attempts(max_attempts)
            .lease(lease)
            .job_timeout(job_timeout)
            .backoff(backoff, Duration::from_secs(3600))
            .poll_interval(poll);
        tokio::spawn(worker.run_until(common::shutdown_signal()))
    });
    let reconciler = match std::env::var("GEMINI_API_KEY") {
        Ok(key) if !key.trim().is_empty() => Some(reconciler(&inbox, key)?),
        _ => None,
    };
    let tasks = worker.into_iter().chain(reconciler).collect();
    common::inbox_server::serve(&inbox, tasks).await
}

/// The reconciler, as the environment configures it, started.
fn reconciler(
    inbox: &Inbox,
    key: String,
) -> Result<tokio::task::JoinHandle<()>, Box<dyn std::error::Error>> {
    let host: String = env_or("GEMINI_API_BASE", GEMINI_API_HOST.to_owned())?;
    let poll = Duration::from_secs(env_or("INBOX_RECONCILE_POLL", 300)?);
    let client = GeminiClient::builder(key).host(host).build()?;
    let mut reconciler = Reconciler::new(inbox, client)
        .poll_interval(poll)
        .max_poll_interval(poll)
        .retry_backoff(poll.min(Duration::from_secs(5)));
    if let Ok(after) = std::env::var("INBOX_RECONCILE_AFTER") {
        let after: u64 = after
            .parse()
            .map_err(|_| format!("INBOX_RECONCILE_AFTER is not valid: {after}"))?;
        reconciler = reconciler.reconcile_after(Duration::from_secs(after));
    }
    if let Ok(webhook) = std::env::var("GEMINI_WEBHOOK_ID") {
        reconciler = reconciler
            .watch_webhook(webhook)
            .reenable(std::env::var("GEMINI_WEBHOOK_REENABLE").is_ok_and(|v| v == "1"));
    }
    Ok(tokio::spawn(
        reconciler.run_until(common::shutdown_signal()),
    ))
}
