//! Load: `RECONCILE_LOAD_JOBS` tracked jobs (default 10,000), a third of
//! them with no webhook ever, two `inbox_receiver` processes each running
//! workers and a reconciler against a mock of the Gemini API, one killed
//! (SIGKILL) midway through the webhooks. Every job must be handled
//! exactly once, by webhook or by poll; the test prints the API calls per
//! job and the delay from a polled job's deadline to its handler
//! (BENCHMARKS.md). Nothing here bets on speed: waits are bounded state
//! polls.

#![cfg(feature = "axum")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::gemini_mock::{self, GeminiMock};
use common::inbox_process::Receiver;
use common::pg::{admin, database_url, drop_table, unique_table};
use gemini_webhooks::testing::{Signer, generate_secret, sample_event_for};
use gemini_webhooks_api::JobName;
use gemini_webhooks_postgres::inbox::Inbox;
use gemini_webhooks_postgres::reconcile::{TrackedJob, Tracking};

/// How long the handling of every job may take before the test fails.
const BOUND: Duration = Duration::from_secs(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tracked_jobs_two_receivers_one_killed_each_handled_once() {
    let jobs: usize = std::env::var("RECONCILE_LOAD_JOBS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    admin().await;
    let (table, secret) = (unique_table(), generate_secret());
    let mock = GeminiMock::start().await;
    let names: Arc<Vec<String>> = Arc::new((0..jobs).map(|i| format!("batches/load{i}")).collect());
    for name in names.iter() {
        mock.set(name, gemini_mock::batch(name, "SUCCEEDED"));
    }
    // Every third job's webhook never comes: it is due 2 s after tracking.
    // The others' deadline is an hour away: they must come by webhook.
    let silent = |i: usize| i.is_multiple_of(3);
    let inbox = Inbox::builder(database_url())
        .table(&table)
        .pool_size(8)
        .build()
        .unwrap();
    let mut trackers = tokio::task::JoinSet::new();
    for part in 0..8 {
        let (inbox, names) = (inbox.clone(), Arc::clone(&names));
        trackers.spawn(async move {
            for i in (part..names.len()).step_by(8) {
                let within = if silent(i) { 2 } else { 3600 };
                let job = TrackedJob::new(JobName::parse(&names[i]).unwrap())
                    .expect_within(Duration::from_secs(within));
                assert!(Tracking::new(&inbox).track(&job).await.unwrap());
            }
        });
    }
    trackers.join_all().await;

    let env = [
        ("GEMINI_API_KEY", "AIzaMockKey"),
        ("GEMINI_API_BASE", mock.host.as_str()),
        ("INBOX_RECONCILE_POLL", "1"),
        ("INBOX_WORKERS", "4"),
        ("INBOX_LEASE_MS", "3000"),
    ];
    let mut first = Receiver::spawn_with(&table, &secret, &env);
    let second = Receiver::spawn_with(&table, &secret, &env);
    let urls = [first.url.clone(), second.url.clone()];

    // The webhooks, from 16 senders; each retried on the other receiver
    // until acknowledged, as Gemini retries.
    let sent = Arc::new(AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for part in 0..16 {
        let (names, urls, secret, sent) = (
            Arc::clone(&names),
            urls.clone(),
            secret.clone(),
            Arc::clone(&sent),
        );
        senders.spawn(async move {
            for i in (part..names.len()).step_by(16).filter(|&i| !silent(i)) {
                let body = sample_event_for("batch.succeeded", &names[i]);
                let headers = Signer::hmac(&secret)
                    .unwrap()
                    .id(format!("msg_load_{i}"))
                    .sign(&body);
                let mut target = i % 2;
                let mut tries = 0;
                loop {
                    let answer =
                        common::client::post(&urls[target], headers.clone(), body.clone()).await;
                    if answer.is_ok_and(|answer| answer.status.is_success()) {
                        break;
                    }
                    tries += 1;
                    assert!(tries < 1_000, "msg_load_{i} never acknowledged");
                    target = 1 - target;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let webhooks = jobs - (0..jobs).filter(|&i| silent(i)).count();
    // Midway through the webhooks, the first receiver dies.
    common::eventually("half the webhooks sent", || async {
        sent.load(Ordering::Relaxed) >= webhooks / 2
    })
    .await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    senders.join_all().await;

    let handled_table = format!("{table}_handled");
    let started = std::time::Instant::now();
    loop {
        let handled: i64 = admin()
            .await
            .query_one(
                &format!("SELECT count(DISTINCT resource) FROM {handled_table}"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if handled as usize == jobs {
            break;
        }
        assert!(
            started.elapsed() < BOUND,
            "{handled} of {jobs} jobs handled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let db = admin().await;
    let row = db
        .query_one(
            &format!(
                "SELECT count(*), count(DISTINCT resource), \
                   count(*) FILTER (WHERE origin = 'poll'), \
                   count(*) FILTER (WHERE origin = 'webhook') FROM {handled_table}"
            ),
            &[],
        )
        .await
        .unwrap();
    let (rows, distinct, polled, by_webhook): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(rows, distinct, "a job handled twice");
    assert_eq!(distinct as usize, jobs);
    assert_eq!(
        polled as usize,
        jobs - webhooks,
        "every silent job, by poll"
    );
    assert_eq!(by_webhook as usize, webhooks, "every other, by its webhook");
    // No silent job was handled from a webhook, and none of the others polled.
    let misplaced: i64 = db
        .query_one(
            &format!(
                "SELECT count(*) FROM {handled_table} h JOIN {table}_tracked t \
                 ON t.resource = h.resource \
                 WHERE (t.expect_within_ms < 10000) <> (h.origin = 'poll')"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(misplaced, 0);
    let delays = db
        .query_one(
            &format!(
                "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY d), max(d) \
                 FROM (SELECT extract(epoch FROM h.handled_at - t.deadline)::float8 AS d \
                       FROM {handled_table} h JOIN {table}_tracked t ON t.resource = h.resource \
                       WHERE h.origin = 'poll') AS polled"
            ),
            &[],
        )
        .await
        .unwrap();
    let percentiles: Vec<f64> = delays.get(0);
    let max: f64 = delays.get(1);
    let calls = mock.all_calls();
    eprintln!(
        "reconcile load: {jobs} jobs ({polled} polled), {calls} API calls: \
         {:.3} per job, {:.3} per polled job; deadline to handler p50 {:.2} s, \
         p99 {:.2} s, max {max:.2} s",
        calls as f64 / jobs as f64,
        calls as f64 / polled as f64,
        percentiles[0],
        percentiles[1],
    );
    drop(second);
    drop_table(&table).await;
    drop_table(&handled_table).await;
}
