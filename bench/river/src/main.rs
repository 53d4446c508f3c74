//! The inbox beside River's Rust client (`riverqueue`), on one PostgreSQL
//! in one run: `JOBS` no-op jobs (default 100,000), in two ways.
//!
//! - **backlog**: every job enqueued first, then worked to the end (the
//!   way `riverqueue bench -n` measures): jobs/s of the working alone.
//! - **flow**: the workers running while the jobs are enqueued as fast as
//!   the enqueuing side can: jobs/s from the first enqueue to the last
//!   completion, and enqueue→start latency p50/p99 (the handler's start on
//!   the wall clock minus the enqueue time the database stamped: River's
//!   `created_at`, the inbox's `received_at`).
//!
//! - **paced**: `PACED_JOBS` (default 5,000) enqueued one at a time,
//!   `PACED_RATE` a second (default 500, below both sides' capacity), the
//!   workers running: enqueue→start latency when nothing queues up.
//!
//! Enqueueing is each side's own: River's `insert_many` in batches of
//! 5,000 (its bench's), the inbox's `ingest` from 64 concurrent callers
//! (group commit batches them, as it does for HTTP deliveries). River
//! works with `RIVER_WORKERS` (default 2,000, its bench's default); the
//! inbox with one worker of `INBOX_CONCURRENCY` (default 16) jobs, each
//! in a transaction of its own ("inbox"), and with one worker of
//! `BATCHES_CONCURRENCY` (default 512: its slots hold no connection)
//! that completes in batches
//! ("batches": `complete_in_batches`, its enqueue time the client's clock
//! before `ingest`, as its handler has no `received_at`).
//!
//! `DATABASE_URL`, or a throwaway server of the run's own.
//! `scripts/bench-river` builds and runs it.

mod inbox;
mod latency;
mod river;

use std::time::Duration;

/// What one way of running came to.
pub struct Outcome {
    pub jobs: u64,
    pub elapsed: Duration,
    /// Enqueue→start of each job, in the flow run.
    pub latencies: Vec<Duration>,
}

impl Outcome {
    fn jobs_per_second(&self) -> f64 {
        self.jobs as f64 / self.elapsed.as_secs_f64()
    }
}

/// Ticks `rate` times a second; a late tick is not made up for.
fn pace(rate: u64) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// `ANALYZE_BACKLOG=1`: each side's table is analyzed between enqueuing a
/// backlog and working it (as autovacuum does within a minute), so no
/// claim is planned without statistics of the table it reads.
fn analyze_backlog() -> bool {
    std::env::var("ANALYZE_BACKLOG").is_ok_and(|value| value == "1")
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn report(name: &str, way: &str, outcome: &Outcome) {
    let mut line = format!(
        "{name:<6} {way:<8} {:>8} jobs in {:>7.2} s: {:>8.0} jobs/s",
        outcome.jobs,
        outcome.elapsed.as_secs_f64(),
        outcome.jobs_per_second()
    );
    if !outcome.latencies.is_empty() {
        let (p50, p99) = latency::percentiles(&outcome.latencies);
        line.push_str(&format!(
            "; enqueue→start p50 {:.1} ms, p99 {:.1} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        ));
    }
    println!("{line}");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let jobs = setting("JOBS", 100_000) as u64;
    let river_workers = setting("RIVER_WORKERS", 2_000);
    let inbox_concurrency = setting("INBOX_CONCURRENCY", 16);
    let batches_concurrency = setting("BATCHES_CONCURRENCY", 512);
    let paced = setting("PACED_JOBS", 5_000) as u64;
    let rate = setting("PACED_RATE", 500) as u64;
    let url = testdb::postgres_url();
    println!(
        "{jobs} no-op jobs; River {river_workers} workers, inbox concurrency {inbox_concurrency}"
    );
    // One side at a time, its connections closed before the other's run
    // (River's pool of 50 and the inbox's together pass a default
    // server's 100).
    let runs = std::env::var("RUNS").unwrap_or_else(|_| "river,inbox,batches".to_owned());
    let ways = std::env::var("WAYS").unwrap_or_else(|_| "backlog,flow,paced".to_owned());
    if runs.contains("river") {
        let river = river::Bench::new(&url, river_workers).await?;
        if ways.contains("backlog") {
            report("river", "backlog", &river.backlog(jobs).await?);
        }
        if ways.contains("flow") {
            report("river", "flow", &river.flow(jobs).await?);
        }
        if ways.contains("paced") {
            report("river", "paced", &river.paced(paced, rate).await?);
        }
        river.close().await;
    }
    for (side, wanted, concurrency, in_batches) in [
        ("inbox", runs.contains("inbox"), inbox_concurrency, false),
        (
            "batches",
            runs.contains("batches"),
            batches_concurrency,
            true,
        ),
    ] {
        if !wanted {
            continue;
        }
        let inbox = inbox::Bench::new(&url, concurrency, in_batches).await?;
        if ways.contains("backlog") {
            report(side, "backlog", &inbox.backlog(jobs).await?);
        }
        if ways.contains("flow") {
            report(side, "flow", &inbox.flow(jobs).await?);
        }
        if ways.contains("paced") {
            report(side, "paced", &inbox.paced(paced, rate).await?);
        }
    }
    Ok(())
}
