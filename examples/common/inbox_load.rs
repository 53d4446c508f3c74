//! The inbox run of `loadgen` : two receivers storing
//! into one PostgreSQL inbox, two workers, one of them killed halfway.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use gemini_webhooks::Verifier;
use gemini_webhooks_postgres::inbox::{Inbox, Job};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::{drive, drive_over, jobs, percentile, serve_inbox};

/// Fails the worker's first attempt; the retry succeeds.
const FAIL_ONCE: &str = r#"{"type":"batch.succeeded","timestamp":"2026-11-26T10:00:00Z","data":{"id":"batches/1"},"fail_handler_times": 1}"#;

/// What the workers measured: per first attempt, the delay since storage.
#[derive(Clone, Default)]
struct Delays(Arc<Mutex<Vec<u64>>>);

async fn handle(job: Job, handled_table: Arc<str>, delays: Delays) -> Result<(), String> {
    if job.attempt() == 1 {
        let waited = SystemTime::now()
            .duration_since(job.received_at())
            .unwrap_or_default();
        delays
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(waited.as_micros() as u64);
    }
    let body: Value = job.json().map_err(|err| err.to_string())?;
    if body.get("poison") == Some(&Value::Bool(true)) {
        return Err("poison".to_owned());
    }
    let fail_times = body.get("fail_handler_times").and_then(Value::as_u64);
    if fail_times.is_some_and(|n| u64::from(job.attempt()) <= n) {
        return Err("failing on purpose".to_owned());
    }
    job.client()
        .execute(
            &format!("INSERT INTO {handled_table} (webhook_id) VALUES ($1)"),
            &[&job.delivery().id()],
        )
        .await
        .map_err(|err| err.to_string())?;
    Ok(())
}

fn start_worker(inbox: Inbox, handled_table: Arc<str>, delays: Delays) -> JoinHandle<()> {
    let worker = inbox
        .worker(move |job: Job| handle(job, Arc::clone(&handled_table), delays.clone()))
        .concurrency(8)
        .max_attempts(3)
        .lease(Duration::from_secs(2))
        .backoff(Duration::from_millis(10), Duration::from_secs(1))
        .poll_interval(Duration::from_millis(100));
    tokio::spawn(worker.run())
}

/// Runs the inbox load; returns the number of violations.
pub async fn run(secret: &str, verifier: &Verifier, total: usize) -> usize {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    // The token's upper half is random (its lower half counts).
    let table = format!(
        "gw_loadgen_{:016x}",
        (gemini_webhooks::replay::ClaimToken::new().as_u128() >> 64) as u64
    );
    let handled_table: Arc<str> = format!("{table}_handled").into();
    let (admin, connection) = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok(connected) => connected,
        Err(err) => {
            println!("inbox run skipped: no PostgreSQL at {url} ({err})");
            return 1;
        }
    };
    tokio::spawn(connection);
    admin
        .batch_execute(&format!(
            "CREATE TABLE {handled_table} (webhook_id TEXT NOT NULL)"
        ))
        .await
        .expect("create the handled table");
    let inbox = || {
        Inbox::builder(&url)
            .table(&table)
            .pool_size(32)
            .build()
            .expect("inbox")
    };
    let a = serve_inbox(inbox().service(verifier.clone())).await;
    let b = serve_inbox(inbox().service(verifier.clone())).await;

    let delays = Delays::default();
    // `LOADGEN_INBOX_DEFER_WORKERS=1`: workers start once ingest is done,
    // to measure ingest alone.
    let defer = std::env::var_os("LOADGEN_INBOX_DEFER_WORKERS").is_some();
    let (start_workers, workers_may_start) = tokio::sync::oneshot::channel::<()>();
    let mut start_workers = Some(start_workers);
    if !defer {
        start_workers.take().map(|start| start.send(()));
    }
    let workers = {
        let (inbox_a, inbox_b) = (inbox(), inbox());
        let (handled_table, delays) = (Arc::clone(&handled_table), delays.clone());
        tokio::spawn(async move {
            let _ = workers_may_start.await;
            (
                start_worker(inbox_a, Arc::clone(&handled_table), delays.clone()),
                start_worker(inbox_b, handled_table, delays),
            )
        })
    };
    // Halfway through the valid deliveries, kill one worker and start another.
    let (valid, fail_once, invalid) = (
        total * 80 / 100,
        total / 20,
        total - total * 80 / 100 - total / 10 - total / 20,
    );
    let poison = total / 100;
    let killer = {
        let (inbox, handled_table, delays) = (inbox(), Arc::clone(&handled_table), delays.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if inbox
                    .counts()
                    .await
                    .is_ok_and(|c| c.done as usize >= valid / 2)
                {
                    break;
                }
            }
            let (steady, doomed) = workers.await.expect("workers started");
            doomed.abort();
            let _ = doomed.await;
            (steady, start_worker(inbox, handled_table, delays))
        })
    };

    let started = Instant::now();
    let (mut tally, rate) = drive(
        &[a, b],
        jobs(secret, total, "inbox", FAIL_ONCE, poison),
        secret,
    )
    .await;
    let ingested = started.elapsed();
    start_workers.take().map(|start| start.send(()));
    let checker = inbox();
    loop {
        let counts = checker.counts().await.expect("count the inbox");
        if counts.pending == 0 && counts.running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = started.elapsed();
    let mut burst_delays = std::mem::take(&mut *delays.0.lock().unwrap_or_else(|e| e.into_inner()));

    // Wake-up latency on an idle inbox: one delivery at a time.
    let quiet: std::collections::VecDeque<_> = jobs(secret, 1_000, "quiet", FAIL_ONCE, 0)
        .into_iter()
        .filter(|job| job.kind == crate::Kind::Valid)
        .collect();
    let quiet_count = quiet.len() as u64;
    let (mut quiet_tally, _) = drive_over(1, &[a], quiet, secret).await;
    loop {
        if checker
            .counts()
            .await
            .is_ok_and(|c| c.pending == 0 && c.running == 0)
            && delays.0.lock().unwrap_or_else(|e| e.into_inner()).len() as u64 >= quiet_count
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut quiet_delays = std::mem::take(&mut *delays.0.lock().unwrap_or_else(|e| e.into_inner()));

    let (steady, replacement) = killer.await.expect("the killer ran");
    replacement.abort();
    steady.abort();

    let rows = admin
        .query(
            &format!("SELECT webhook_id, count(*) FROM {handled_table} GROUP BY 1"),
            &[],
        )
        .await
        .expect("read the handled table");
    let handled: HashMap<String, i64> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let once = |prefix: &str, n: usize| {
        (0..n)
            .filter(|i| handled.get(&format!("inbox-{prefix}{i}")) == Some(&1))
            .count()
    };
    let (valid_once, fail_once_once) = (once("v", valid), once("f", fail_once));
    let twice = handled.values().filter(|&&n| n > 1).count();
    let dead: HashSet<String> = checker
        .dead_letters(u32::MAX)
        .await
        .expect("list dead letters")
        .into_iter()
        .map(|letter| letter.key)
        .collect();
    let poison_ids: HashSet<String> = (0..poison).map(|i| format!("inbox-p{i}")).collect();
    let stored_invalid: i64 = admin
        .query_one(
            &format!("SELECT count(*) FROM {table} WHERE id LIKE 'inbox-x%'"),
            &[],
        )
        .await
        .expect("count invalid rows")
        .get(0);
    let reruns: i64 = admin
        .query_one(
            &format!(
                "SELECT count(*) FROM {table} WHERE state = 'done' AND attempts > 1 \
                 AND id NOT LIKE 'inbox-f%'"
            ),
            &[],
        )
        .await
        .expect("count re-runs")
        .get(0);
    let violations = (valid - valid_once)
        + (fail_once - fail_once_once)
        + twice
        + dead.symmetric_difference(&poison_ids).count()
        + stored_invalid as usize
        + (invalid - tally.invalid_rejected)
        + tally.unexpected.len();
    let latency = tally.latency();
    println!(
        "{:<28} {:>7} requests {rate:>8.0} req/s ({}) | valid handled once {valid_once}/{valid} | \
         fail-once retried {fail_once_once}/{fail_once} | handled twice {twice} | dead letters {} \
         (poison {poison}) | invalid rejected {}/{invalid}, stored {stored_invalid} | \
         re-run after the kill {reruns} | 503 retried {} | storage to handler start p50 {} µs, \
         p99 {} µs | ingest {:.1} s, drained {:.1} s | {}",
        "inbox (2 receivers, PG)",
        tally.requests,
        latency,
        dead.len(),
        tally.invalid_rejected,
        tally.retried_503,
        percentile(&mut burst_delays, 0.50),
        percentile(&mut burst_delays, 0.99),
        ingested.as_secs_f64(),
        drained.as_secs_f64(),
        if violations == 0 { "OK" } else { "VIOLATIONS" }
    );
    println!(
        "{:<28} {:>7} deliveries one at a time: acknowledged {}; storage to handler start \
         p50 {} µs, p99 {} µs",
        "inbox (idle, 1 connection)",
        quiet_count,
        quiet_tally.latency(),
        percentile(&mut quiet_delays, 0.50),
        percentile(&mut quiet_delays, 0.99),
    );
    for line in tally.unexpected.iter().take(5) {
        println!("    {line}");
    }
    let _ = admin
        .batch_execute(&format!(
            "DROP TABLE {table}, {table}_tracked, {table}_gate; DROP TABLE {handled_table}"
        ))
        .await;
    violations
}
