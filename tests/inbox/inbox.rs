//! The durable inbox against the PostgreSQL at `DATABASE_URL`, or a
//! throwaway server of the test run's own:
//! ingest through the layer and the actix middleware, workers, the job's
//! transaction, retries, dead letters, shutdown, wake-ups. Each test uses
//! tables of its own. Killed workers and a stopped database:
//! `tests/inbox_processes.rs`.
//!
//! Nothing here waits on the clock: each wait polls the database's state,
//! bounded only to fail instead of hang; backoff is checked as the
//! `run_at` the worker wrote, and "time passes" by moving `run_at`.

#![cfg(feature = "axum")]

use crate::common;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::eventually;
use common::pg::{admin, database_url, drop_table, unique_table};
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::{Delivery, GeminiEvent};
use gemini_webhooks_postgres::inbox::{Batch, Inbox, InboxCounts, InboxWorker, Job, Stored};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tower::ServiceExt;

const BODY: &str = common::NO_COMPLETION;

/// An inbox on a table of its own, a secret, and the route's handler count
/// (which must stay 0: with an inbox the layer answers by itself).
struct Fixture {
    table: String,
    secret: String,
    inbox: Inbox,
}

impl Fixture {
    async fn new() -> Self {
        admin().await;
        let table = unique_table();
        Self {
            inbox: inbox_on(&table),
            table,
            secret: generate_secret(),
        }
    }

    /// An axum app whose webhook route is the inbox's service.
    fn app(&self, inbox: Inbox) -> Router {
        Router::new().route_service(
            "/webhooks/gemini",
            inbox.service(common::verifier(&self.secret)),
        )
    }

    fn request(&self, id: &str, body: &str) -> Request<Body> {
        Signer::hmac(&self.secret)
            .unwrap()
            .id(id)
            .request("/webhooks/gemini", body.to_owned())
    }

    async fn send(&self, app: &Router, id: &str, body: &str) -> StatusCode {
        app.clone()
            .oneshot(self.request(id, body))
            .await
            .unwrap()
            .status()
    }

    /// `(state, attempts, seconds from failed_at to run_at, lease is set)`.
    async fn row(&self, id: &str) -> (String, i32, Option<f64>, bool) {
        let row = admin()
            .await
            .query_one(
                &format!(
                    "SELECT state, attempts, \
                       extract(epoch FROM run_at - failed_at)::float8, lease IS NOT NULL \
                     FROM {} WHERE id = $1",
                    self.table
                ),
                &[&id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2), row.get(3))
    }

    /// Makes the job due now, as if its backoff had passed.
    async fn fast_forward(&self, id: &str) {
        admin()
            .await
            .execute(
                &format!("UPDATE {} SET run_at = now() WHERE id = $1", self.table),
                &[&id],
            )
            .await
            .unwrap();
    }

    async fn counts(&self) -> InboxCounts {
        self.inbox.counts().await.unwrap()
    }

    /// A table for handlers' writes: `<table>_effects (webhook_id)`.
    async fn create_effects(&self) -> String {
        let effects = format!("{}_effects", self.table);
        admin()
            .await
            .batch_execute(&format!(
                "CREATE TABLE {effects} (webhook_id TEXT NOT NULL)"
            ))
            .await
            .unwrap();
        effects
    }

    /// How many writes the handlers' committed transactions left.
    async fn effects_written(&self) -> i64 {
        admin()
            .await
            .query_one(&format!("SELECT count(*) FROM {}_effects", self.table), &[])
            .await
            .unwrap()
            .get(0)
    }

    async fn finish(self) {
        drop_table(&self.table).await;
        drop_table(&format!("{}_effects", self.table)).await;
    }
}

/// `[pending, running, done, dead]`.
fn by_state(counts: InboxCounts) -> [u64; 4] {
    [counts.pending, counts.running, counts.done, counts.dead]
}

fn inbox_on(table: &str) -> Inbox {
    // A timeout no busy machine reaches: the database decides, not the clock.
    Inbox::builder(database_url())
        .table(table)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A handler's write, through the job's transaction.
async fn write_effect(job: &Job, effects: &str) -> Result<(), String> {
    let insert = format!("INSERT INTO {effects} VALUES ($1)");
    job.client()
        .execute(&insert, &[&job.delivery().id()])
        .await
        .map(drop)
        .map_err(|err| err.to_string())
}

/// The attempts the handler saw, per webhook id.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<HashMap<String, Vec<u32>>>>);

impl Seen {
    fn record(&self, job: &Job) {
        self.0
            .lock()
            .unwrap()
            .entry(job.delivery().id().to_owned())
            .or_default()
            .push(job.attempt());
    }

    fn attempts(&self, id: &str) -> Vec<u32> {
        self.0.lock().unwrap().get(id).cloned().unwrap_or_default()
    }
}

/// A worker whose handler records each attempt in `seen` and succeeds,
/// polling every 20 ms.
fn recording_worker(
    inbox: &Inbox,
    seen: &Seen,
) -> InboxWorker<impl Fn(Job) -> std::future::Ready<Result<(), String>> + Send + Sync + 'static, Job>
{
    let seen = seen.clone();
    inbox
        .worker(move |job: Job| {
            seen.record(&job);
            std::future::ready(Ok(()))
        })
        .poll_interval(Duration::from_millis(20))
}

/// A worker running in the background until [`stop`](Running::stop).
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    fn start<F: Future<Output = ()> + Send + 'static>(
        run_until: impl FnOnce(Box<dyn Future<Output = ()> + Send + Unpin>) -> F,
    ) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let signal = Box::new(Box::pin(async move {
            let _ = stopped.await;
        }));
        Self {
            stop,
            task: tokio::spawn(run_until(signal)),
        }
    }

    /// Signals shutdown and waits until the worker has returned.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_deliveries_are_stored_once_and_answered_at_once() {
    let fx = Fixture::new().await;
    assert_eq!(fx.inbox.table(), fx.table);
    assert!(format!("{:?}", fx.inbox).contains(&fx.table));
    let app = fx.app(fx.inbox.clone());
    for (status, text) in [(202, "accepted"), (200, "already received")] {
        let response = app
            .clone()
            .oneshot(fx.request("msg_1", BODY))
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(body, text);
    }
    // Unverified requests never reach the table.
    let mut forged = fx.request("msg_forged", BODY);
    *forged.body_mut() = Body::from(BODY.replace("interactions/1", "interactions/2"));
    let forged = app.clone().oneshot(forged).await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let unsigned = Request::post("/webhooks/gemini")
        .body(Body::from(BODY))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(unsigned).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    // A terminal service: another method is 405 and names POST, even signed.
    let mut get = fx.request("msg_get", BODY);
    *get.method_mut() = http::Method::GET;
    let get = app.clone().oneshot(get).await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.headers()["allow"], "POST");
    assert_eq!(by_state(fx.counts().await), [1, 0, 0, 0]);
    // The stored row is the delivery, byte for byte.
    let row = admin()
        .await
        .query_one(
            &format!("SELECT webhook_id, body, verified_by FROM {}", fx.table),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "msg_1");
    assert_eq!(row.get::<_, &[u8]>(1), BODY.as_bytes());
    assert_eq!(row.get::<_, &str>(2), "secret:0");
    // Called directly, ingest says the same.
    let delivery = common::verifier(&fx.secret)
        .verify(
            &Signer::hmac(&fx.secret)
                .unwrap()
                .id("msg_2")
                .sign(BODY.as_bytes()),
            bytes::Bytes::from_static(BODY.as_bytes()),
        )
        .unwrap();
    assert_eq!(fx.inbox.ingest(&delivery).await.unwrap(), Stored::New);
    assert_eq!(fx.inbox.ingest(&delivery).await.unwrap(), Stored::Duplicate);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_on_two_receivers_make_one_row_handled_once() {
    let fx = Fixture::new().await;
    let (a, b) = (fx.app(inbox_on(&fx.table)), fx.app(inbox_on(&fx.table)));
    let mut sends = Vec::new();
    for copy in 0..20 {
        let (app, request) = (
            if copy % 2 == 0 { &a } else { &b },
            fx.request("msg_same", BODY),
        );
        sends.push(tokio::spawn(app.clone().oneshot(request)));
    }
    for id in 0..30 {
        for app in [&a, &b] {
            let request = fx.request(&format!("msg_{id}"), BODY);
            sends.push(tokio::spawn(app.clone().oneshot(request)));
        }
    }
    let mut statuses = HashMap::<u16, usize>::new();
    for send in sends {
        *statuses
            .entry(send.await.unwrap().unwrap().status().as_u16())
            .or_default() += 1;
    }
    assert_eq!(statuses, HashMap::from([(202, 31), (200, 49)]));

    // Two workers, each on its own receiver's inbox, drain the table.
    let seen = Seen::default();
    let workers: Vec<Running> = [inbox_on(&fx.table), inbox_on(&fx.table)]
        .into_iter()
        .map(|inbox| {
            let worker = recording_worker(&inbox, &seen).concurrency(4);
            Running::start(move |stop| worker.run_until(stop))
        })
        .collect();
    eventually("every row done", || async { fx.counts().await.done == 31 }).await;
    for worker in workers {
        worker.stop().await;
    }
    assert_eq!(seen.attempts("msg_same"), [1]);
    for id in 0..30 {
        assert_eq!(seen.attempts(&format!("msg_{id}")), [1], "msg_{id}");
    }
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_on_the_applications_pool_stores_runs_and_commits_on_it() {
    let mut fx = Fixture::new().await;
    // Three connections: ingest and a job may hold two while a claim or
    // an attempt count takes the third.
    let pool = common::pg::application_pool(3);
    fx.inbox = Inbox::from_pool(pool.clone())
        .table(&fx.table)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert!(format!("{:?}", Inbox::from_pool(pool.clone())).contains("own_pool: false"));
    let effects: Arc<str> = fx.create_effects().await.into();
    let app = fx.app(fx.inbox.clone());
    for (id, status) in [
        ("msg_pool_1", 202),
        ("msg_pool_2", 202),
        ("msg_pool_1", 200),
    ] {
        assert_eq!(fx.send(&app, id, BODY).await, status, "{id}");
    }
    let seen = Seen::default();
    let worker = {
        let (seen, effects) = (seen.clone(), Arc::clone(&effects));
        fx.inbox
            .worker(move |job: Job| {
                seen.record(&job);
                let effects = Arc::clone(&effects);
                async move { write_effect(&job, &effects).await }
            })
            .concurrency(1)
            .poll_interval(Duration::from_millis(20))
    };
    // No LISTEN connection on the application's pool: the poll finds them.
    let running = Running::start(move |stop| worker.run_until(stop));
    eventually("both jobs done", || async { fx.counts().await.done == 2 }).await;
    running.stop().await;
    assert_eq!(seen.attempts("msg_pool_1"), [1]);
    assert_eq!(seen.attempts("msg_pool_2"), [1]);
    assert_eq!(fx.effects_written().await, 2);
    let status = pool.status();
    assert!(status.size <= 3, "{status:?}");
    // The own pool's settings are refused, not ignored.
    let err = Inbox::from_pool(pool.clone())
        .pool_size(8)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            gemini_webhooks::ConfigError::NotForPool {
                setting: "pool_size"
            }
        ),
        "{err:?}"
    );
    let err = Inbox::from_pool(pool).table("Bad").build().unwrap_err();
    assert!(
        matches!(err, gemini_webhooks::ConfigError::InvalidTable { .. }),
        "{err:?}"
    );
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_the_job_commit_with_it_and_roll_back_when_it_fails() {
    let fx = Fixture::new().await;
    let effects: Arc<str> = fx.create_effects().await.into();
    let app = fx.app(fx.inbox.clone());
    assert_eq!(fx.send(&app, "msg_tx", BODY).await, StatusCode::ACCEPTED);
    let seen = Seen::default();
    let received = Arc::new(Mutex::new(Vec::new()));
    let worker = {
        let (seen, effects, received) = (seen.clone(), Arc::clone(&effects), Arc::clone(&received));
        fx.inbox
            .worker(move |job: Job| {
                seen.record(&job);
                received
                    .lock()
                    .unwrap()
                    .push((job.received_at(), format!("{job:?}")));
                let effects = Arc::clone(&effects);
                async move {
                    write_effect(&job, &effects).await?;
                    // The first attempt fails after writing: its write must go.
                    if job.attempt() == 1 {
                        return Err("failing after the write".to_owned());
                    }
                    Ok(())
                }
            })
            .backoff(Duration::ZERO, Duration::ZERO)
    };
    // One step at a time: the failed attempt, then the one that commits.
    let failed = worker.run_once().await.unwrap();
    assert_eq!((failed.claimed, failed.retried, failed.handled), (1, 1, 0));
    let handled = worker.run_once().await.unwrap();
    assert_eq!((handled.claimed, handled.handled), (1, 1));
    assert_eq!(
        worker.run_once().await.unwrap(),
        Batch::default(),
        "nothing left"
    );
    assert_eq!(fx.counts().await.done, 1);
    assert_eq!(seen.attempts("msg_tx"), [1, 2]);
    let written = fx.effects_written().await;
    assert_eq!(written, 1, "exactly the successful attempt's write stays");
    let stored_at: std::time::SystemTime = admin()
        .await
        .query_one(&format!("SELECT received_at FROM {}", fx.table), &[])
        .await
        .unwrap()
        .get(0);
    let received = std::mem::take(&mut *received.lock().unwrap());
    assert_eq!(received.len(), 2);
    for (attempt, (at, shown)) in received.iter().enumerate() {
        assert_eq!(*at, stored_at);
        assert!(shown.contains("msg_tx"), "{shown}");
        assert!(
            shown.contains(&format!("attempt: {}", attempt + 1)),
            "{shown}"
        );
    }
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_back_off_exponentially_then_dead_letter_until_requeued() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    assert_eq!(fx.send(&app, "msg_fail", BODY).await, StatusCode::ACCEPTED);
    let (seen, succeed) = (Seen::default(), Arc::new(AtomicBool::new(false)));
    let worker = {
        let (seen, succeed) = (seen.clone(), Arc::clone(&succeed));
        fx.inbox
            .worker(move |job: Job| {
                seen.record(&job);
                let ok = succeed.load(Ordering::SeqCst);
                async move { if ok { Ok(()) } else { Err("boom") } }
            })
            .max_attempts(3)
            .backoff(Duration::from_secs(3600), Duration::from_secs(3 * 3600))
            .poll_interval(Duration::from_millis(20))
    };
    let running = Running::start(move |stop| worker.run_until(stop));

    // Claimed (attempts counted, leased), then the failure recorded (no lease).
    let failed = |attempts: i32| {
        let fx = &fx;
        move || async move {
            let (_, seen_attempts, _, leased) = fx.row("msg_fail").await;
            seen_attempts == attempts && !leased
        }
    };
    eventually("first failure recorded", failed(1)).await;
    assert_eq!(
        fx.row("msg_fail").await,
        ("pending".into(), 1, Some(3600.0), false)
    );
    fx.fast_forward("msg_fail").await;
    eventually("second failure recorded", failed(2)).await;
    assert_eq!(
        fx.row("msg_fail").await,
        ("pending".into(), 2, Some(7200.0), false)
    );
    fx.fast_forward("msg_fail").await;
    eventually("third failure recorded", failed(3)).await;
    assert_eq!(fx.row("msg_fail").await.0, "dead");
    assert_eq!(seen.attempts("msg_fail"), [1, 2, 3]);

    let dead = fx.inbox.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].key.as_str(),
            dead[0].webhook_id.as_str(),
            dead[0].attempts
        ),
        ("msg_fail", "msg_fail", 3)
    );
    assert_eq!(dead[0].last_error.as_deref(), Some("boom"));
    assert_eq!(dead[0].body, BODY.as_bytes());
    assert!(
        dead[0]
            .failed_at
            .is_some_and(|at| at >= dead[0].received_at)
    );

    // A copy of a dead letter is acknowledged and not run again; a new
    // delivery stored after it is, which shows the worker is still taking jobs.
    succeed.store(true, Ordering::SeqCst);
    assert_eq!(fx.send(&app, "msg_fail", BODY).await, StatusCode::OK);
    assert_eq!(
        fx.send(&app, "msg_marker", BODY).await,
        StatusCode::ACCEPTED
    );
    eventually("the marker done", || async { fx.counts().await.done == 1 }).await;
    assert_eq!(seen.attempts("msg_fail"), [1, 2, 3]);
    assert_eq!(fx.row("msg_fail").await.0, "dead");

    // Requeued, it runs again from attempt 1.
    assert!(fx.inbox.requeue("msg_fail").await.unwrap());
    assert!(
        !fx.inbox.requeue("msg_fail").await.unwrap(),
        "no longer dead"
    );
    assert!(!fx.inbox.requeue("msg_unknown").await.unwrap());
    eventually("the requeued job done", || async {
        fx.counts().await.done == 2
    })
    .await;
    running.stop().await;
    assert_eq!(seen.attempts("msg_fail"), [1, 2, 3, 1]);
    assert!(fx.inbox.dead_letters(10).await.unwrap().is_empty());
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_all_runs_every_dead_letter_again() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    for id in ["msg_a", "msg_b"] {
        assert_eq!(fx.send(&app, id, "[1]").await, StatusCode::ACCEPTED);
    }
    // A handler of `GeminiEvent` can never take `[1]`: dead at once.
    let ran = Arc::new(AtomicUsize::new(0));
    let worker = {
        let ran = Arc::clone(&ran);
        fx.inbox
            .worker(move |_: GeminiEvent| {
                ran.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, String>(()) }
            })
            .poll_interval(Duration::from_millis(20))
    };
    let running = Running::start(move |stop| worker.run_until(stop));
    eventually("both dead", || async { fx.counts().await.dead == 2 }).await;
    running.stop().await;
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let dead = fx.inbox.dead_letters(1).await.unwrap();
    assert_eq!(dead.len(), 1, "the limit holds");
    assert_eq!(dead[0].attempts, 1);
    assert!(dead[0].last_error.as_deref().is_some_and(|e| !e.is_empty()));

    assert_eq!(fx.inbox.requeue_all().await.unwrap(), 2);
    assert_eq!(fx.inbox.requeue_all().await.unwrap(), 0);
    assert_eq!(by_state(fx.counts().await), [2, 0, 0, 0]);
    // A `Delivery` handler takes any body.
    let worker = fx
        .inbox
        .worker(|_: Delivery| async { Ok::<_, String>(()) })
        .poll_interval(Duration::from_millis(20));
    let running = Running::start(move |stop| worker.run_until(stop));
    eventually("both done", || async { fx.counts().await.done == 2 }).await;
    running.stop().await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_retried() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    assert_eq!(fx.send(&app, "msg_panic", BODY).await, StatusCode::ACCEPTED);
    let seen = Seen::default();
    let worker = {
        let seen = seen.clone();
        fx.inbox
            .worker(move |job: Job| {
                seen.record(&job);
                async move {
                    assert!(job.attempt() > 1, "panicking on purpose");
                    Ok::<_, String>(())
                }
            })
            .backoff(Duration::ZERO, Duration::ZERO)
    };
    assert_eq!(worker.run_once().await.unwrap().retried, 1, "the panic");
    assert_eq!(worker.run_once().await.unwrap().handled, 1);
    assert_eq!(fx.counts().await.done, 1);
    assert_eq!(seen.attempts("msg_panic"), [1, 2]);
    fx.finish().await;
}

/// Retries run when their backoff says, not at the next poll: with an
/// hour between polls, three attempts 100 ms apart finish long before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_fall_due_by_their_backoff_not_the_poll_interval() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    let seen = Seen::default();
    let worker = {
        let seen = seen.clone();
        fx.inbox
            .worker(move |job: Job| {
                seen.record(&job);
                async move {
                    if job.attempt() < 3 {
                        return Err("not yet".to_owned());
                    }
                    Ok(())
                }
            })
            .backoff(Duration::from_millis(100), Duration::from_millis(100))
            .poll_interval(Duration::from_secs(3600))
    };
    let running = Running::start(move |stop| worker.run_until(stop));
    // Stored while the worker runs: the NOTIFY wakes it for the first
    // attempts. Two jobs: the retry due second is not lost when the worker
    // wakes for the first (or for a notification) in between.
    assert_eq!(fx.send(&app, "msg_soon", BODY).await, StatusCode::ACCEPTED);
    assert_eq!(
        fx.send(&app, "msg_soon_2", BODY).await,
        StatusCode::ACCEPTED
    );
    eventually("done", || async { fx.counts().await.done == 2 }).await;
    running.stop().await;
    assert_eq!(seen.attempts("msg_soon"), [1, 2, 3]);
    assert_eq!(seen.attempts("msg_soon_2"), [1, 2, 3]);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_running_jobs_finish_and_claims_nothing_new() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    assert_eq!(
        fx.send(&app, "msg_running", BODY).await,
        StatusCode::ACCEPTED
    );
    let (entered, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let worker = {
        let (entered, gate) = (Arc::clone(&entered), Arc::clone(&gate));
        fx.inbox
            .worker(move |_: Job| {
                let (entered, gate) = (Arc::clone(&entered), Arc::clone(&gate));
                async move {
                    entered.notify_one();
                    gate.notified().await;
                    Ok::<_, String>(())
                }
            })
            // One slot, taken: the worker claims nothing while the job runs.
            .concurrency(1)
            .poll_interval(Duration::from_secs(3600))
            .shutdown_grace(Duration::from_secs(3600))
    };
    let running = Running::start(move |stop| worker.run_until(stop));
    entered.notified().await;
    let _ = running.stop.send(());
    assert_eq!(fx.send(&app, "msg_late", BODY).await, StatusCode::ACCEPTED);
    gate.notify_one();
    running.task.await.unwrap();
    assert_eq!(fx.row("msg_running").await.0, "done");
    assert_eq!(fx.row("msg_late").await, ("pending".into(), 0, None, false));
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_unfinished_jobs_and_rolls_back_their_writes() {
    let fx = Fixture::new().await;
    let effects: Arc<str> = fx.create_effects().await.into();
    let app = fx.app(fx.inbox.clone());
    assert_eq!(fx.send(&app, "msg_stuck", BODY).await, StatusCode::ACCEPTED);
    let entered = Arc::new(Notify::new());
    let worker = {
        let (entered, effects) = (Arc::clone(&entered), Arc::clone(&effects));
        fx.inbox
            .worker(move |job: Job| {
                let (entered, effects) = (Arc::clone(&entered), Arc::clone(&effects));
                async move {
                    let insert = format!("INSERT INTO {effects} VALUES ($1)");
                    job.client()
                        .execute(&insert, &[&job.delivery().id()])
                        .await
                        .map_err(|err| err.to_string())?;
                    entered.notify_one();
                    std::future::pending::<()>().await;
                    Ok::<_, String>(())
                }
            })
            .poll_interval(Duration::from_secs(3600))
            .shutdown_grace(Duration::ZERO)
    };
    let running = Running::start(move |stop| worker.run_until(stop));
    entered.notified().await;
    running.stop().await;
    // Released: due at once, the started attempt still counted (a handler
    // that hangs until every shutdown must still reach the dead letters),
    // its write gone.
    let (state, attempts, _, leased) = fx.row("msg_stuck").await;
    assert_eq!((state.as_str(), attempts, leased), ("pending", 1, false));
    let due: bool = admin()
        .await
        .query_one(
            &format!(
                "SELECT run_at <= now() FROM {} WHERE id = 'msg_stuck'",
                fx.table
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(due);
    let written = fx.effects_written().await;
    assert_eq!(written, 0);

    let seen = Seen::default();
    let worker = recording_worker(&fx.inbox, &seen);
    let running = Running::start(move |stop| worker.run_until(stop));
    eventually("done by the next worker", || async {
        fx.counts().await.done == 1
    })
    .await;
    running.stop().await;
    assert_eq!(seen.attempts("msg_stuck"), [2]);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_wakes_an_idle_worker_without_polling() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    // Creates the table before the worker starts.
    assert_eq!(by_state(fx.counts().await), [0; 4]);
    let worker = fx
        .inbox
        .worker(|_: Job| async { Ok::<_, String>(()) })
        .poll_interval(Duration::from_secs(3600));
    let running = Running::start(move |stop| worker.run_until(stop));
    let listen = format!("LISTEN {}_new", fx.table);
    eventually("the worker listening", || async {
        let rows = admin()
            .await
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE query = $1 AND state = 'idle'",
                &[&listen],
            )
            .await
            .unwrap();
        !rows.is_empty()
    })
    .await;
    assert_eq!(fx.send(&app, "msg_woken", BODY).await, StatusCode::ACCEPTED);
    eventually("handled long before the next poll", || async {
        fx.counts().await.done == 1
    })
    .await;
    running.stop().await;
    // The worker's listening connection ends with it.
    eventually("the listener gone", || async {
        let rows = admin()
            .await
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE query = $1",
                &[&listen],
            )
            .await
            .unwrap();
        rows.is_empty()
    })
    .await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lapsed_leases_run_again_and_jobs_that_kill_every_worker_are_buried() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    for id in ["msg_orphan", "msg_killer"] {
        assert_eq!(fx.send(&app, id, BODY).await, StatusCode::ACCEPTED);
    }
    // As a worker that died mid-job leaves them: leased, the lease lapsed.
    admin()
        .await
        .batch_execute(&format!(
            "UPDATE {t} SET lease = 'dead-worker', run_at = now() - interval '1 second', \
               attempts = 1 WHERE id = 'msg_orphan'; \
             UPDATE {t} SET lease = 'dead-worker', run_at = now() - interval '1 second', \
               attempts = 3 WHERE id = 'msg_killer';",
            t = fx.table
        ))
        .await
        .unwrap();
    let seen = Seen::default();
    let worker = recording_worker(&fx.inbox, &seen).max_attempts(3);
    let running = Running::start(move |stop| worker.run_until(stop));
    eventually("orphan done", || async { fx.counts().await.done == 1 }).await;
    running.stop().await;
    assert_eq!(seen.attempts("msg_orphan"), [2]);
    assert!(seen.attempts("msg_killer").is_empty());
    let dead = fx.inbox.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].key.as_str(), dead[0].attempts), ("msg_killer", 3));
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("worker died"))
    );
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_rows_are_kept_for_the_dedup_ttl_then_cleaned_up() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    for id in ["msg_old", "msg_recent"] {
        assert_eq!(fx.send(&app, id, BODY).await, StatusCode::ACCEPTED);
    }
    let worker = fx
        .inbox
        .worker(|_: Job| async { Ok::<_, String>(()) })
        .poll_interval(Duration::from_millis(20));
    let running = Running::start(move |stop| worker.run_until(stop));
    eventually("both done", || async { fx.counts().await.done == 2 }).await;
    running.stop().await;
    assert_eq!(fx.inbox.cleanup_done().await.unwrap(), 0, "both are recent");
    admin()
        .await
        .execute(
            &format!(
                "UPDATE {} SET finished_at = now() - interval '26 hours' WHERE id = 'msg_old'",
                fx.table
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(fx.inbox.cleanup_done().await.unwrap(), 1);
    assert_eq!(fx.counts().await.done, 1);
    assert_eq!(fx.send(&app, "msg_recent", BODY).await, StatusCode::OK);
    fx.finish().await;
}

#[tokio::test]
async fn an_unreachable_database_answers_503_and_stores_nothing() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let inbox = Inbox::builder(format!(
        "postgres://postgres:hunter2@127.0.0.1:{port}/postgres"
    ))
    .build()
    .unwrap();
    assert!(!format!("{inbox:?}").contains("hunter2"));
    let secret = generate_secret();
    let app =
        Router::new().route_service("/webhooks/gemini", inbox.service(common::verifier(&secret)));
    let request: Request<Body> = Signer::hmac(&secret)
        .unwrap()
        .id("msg_1")
        .request("/webhooks/gemini", BODY.to_owned());
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(body, "inbox unavailable; retry later");
    assert!(inbox.counts().await.is_err());

    // The same through the endpoint: the rejection carries the cause.
    let endpoint = inbox.endpoint(common::verifier(&secret));
    let headers = Signer::hmac(&secret)
        .unwrap()
        .id("msg_2")
        .sign(BODY.as_bytes());
    let rejection = endpoint
        .store(&headers, Body::from(BODY))
        .await
        .unwrap_err();
    assert_eq!(
        (rejection.status(), rejection.kind()),
        (StatusCode::SERVICE_UNAVAILABLE, "inbox_unavailable")
    );
    let cause = std::error::Error::source(&rejection).expect("a cause");
    assert!(
        cause.is::<gemini_webhooks_postgres::inbox::InboxError>(),
        "{cause}"
    );
}

#[test]
fn bad_tables_and_urls_are_build_errors() {
    use gemini_webhooks::ConfigError;
    for table in ["Inbox", "a;b", ""] {
        let err = Inbox::builder(database_url())
            .table(table)
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidTable { .. }), "{err:?}");
        assert!(err.to_string().starts_with("invalid table name: "), "{err}");
    }
    let err = Inbox::builder("postgres://u:secret@[bad")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::InvalidUrl {
                service: "PostgreSQL",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("secret"));
    // The same for the replay stores: a setup error, not "unavailable".
    let err = gemini_webhooks_postgres::replay::PostgresReplayStore::builder(database_url())
        .table("a;b")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidTable { .. }), "{err:?}");
    let builder = Inbox::builder("postgres://u:secret@db/app").table("app_inbox");
    let shown = format!("{builder:?}");
    assert!(
        shown.contains("app_inbox") && !shown.contains("secret"),
        "{shown}"
    );
    let sql = Inbox::schema_sql("app.inbox");
    assert!(sql.contains("CREATE TABLE IF NOT EXISTS app.inbox"));
    assert!(sql.contains("app_inbox_due"));
}

/// The start-up check: each way of being unusable fails it, with the cause
/// in its chain; a usable inbox passes and has its table.
#[tokio::test]
async fn check_fails_fast_naming_the_cause() {
    use gemini_webhooks::ErrorChain;
    let table = unique_table();
    let missing_db = format!("{}_nowhere", database_url());
    let cases = [
        (
            Inbox::builder(&missing_db).build().unwrap(),
            "_nowhere\" does not exist",
        ),
        (
            Inbox::builder("postgres://postgres@127.0.0.1:1/postgres")
                .build()
                .unwrap(),
            "onnection refused",
        ),
        (
            Inbox::builder(database_url())
                .table(&table)
                .create_schema(false)
                .build()
                .unwrap(),
            "does not exist",
        ),
    ];
    for (inbox, cause) in cases {
        let err = inbox.check().await.unwrap_err();
        let shown = ErrorChain(&err).to_string();
        assert!(shown.contains(cause), "{shown}");
        assert!(
            shown.contains("check the inbox table") || shown.contains("connect"),
            "{shown}"
        );
    }
    let inbox = Inbox::builder(database_url())
        .table(&table)
        .build()
        .unwrap();
    inbox.check().await.unwrap();
    assert_eq!(
        by_state(inbox.counts().await.unwrap()),
        [0; 4],
        "the table is there"
    );
    drop_table(&table).await;
}

#[tokio::test]
async fn the_schema_can_be_left_to_migrations() {
    admin().await;
    let table = unique_table();
    let inbox = Inbox::builder(database_url())
        .table(&table)
        .create_schema(false)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert!(inbox.counts().await.is_err(), "no table yet");
    admin()
        .await
        .batch_execute(&Inbox::schema_sql(&table))
        .await
        .unwrap();
    assert_eq!(by_state(inbox.counts().await.unwrap()), [0; 4]);
    drop_table(&table).await;
}

#[cfg(feature = "actix")]
#[test]
fn the_actix_resource_stores_like_the_service() {
    use actix_web::{App, test};
    use gemini_webhooks_postgres::actix::inbox_resource;

    common::on_actix(async {
        let fx = Fixture::new().await;
        let endpoint = fx.inbox.endpoint(common::verifier(&fx.secret));
        let app =
            test::init_service(App::new().service(inbox_resource("/webhooks/gemini", endpoint)))
                .await;
        let signer = Signer::hmac(&fx.secret).unwrap().id("msg_actix");
        for expected in [202, 200] {
            let request = signer.actix_request("/webhooks/gemini", BODY).to_request();
            let response = test::call_service(&app, request).await;
            assert_eq!(response.status().as_u16(), expected);
        }
        let forged = signer
            .actix_request("/webhooks/gemini", BODY)
            .set_payload(BODY.replace("interactions/1", "interactions/2"))
            .to_request();
        assert_eq!(
            test::call_service(&app, forged).await.status().as_u16(),
            401
        );
        assert_eq!(fx.counts().await.pending, 1);
        fx.finish().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_stored_in_opposite_orders_on_two_inboxes_never_deadlock() {
    let fx = Fixture::new().await;
    let (a, b) = (inbox_on(&fx.table), inbox_on(&fx.table));
    a.counts().await.unwrap(); // the table, before the race
    let verifier = common::verifier(&fx.secret);
    let signer = Signer::hmac(&fx.secret).unwrap();
    // A deadlock needs two batches to interleave just so: race 8 times.
    for round in 0..8 {
        let deliveries: Vec<_> = (0..300)
            .map(|i| {
                let id = format!("msg_{round}_{i:03}");
                let headers = signer.clone().id(id).sign(BODY.as_bytes());
                verifier
                    .verify(&headers, bytes::Bytes::from_static(BODY.as_bytes()))
                    .unwrap()
            })
            .collect();
        // Many deliveries in flight on each inbox, so each writes batches of
        // many keys: ascending on one, descending on the other.
        let mut ingests = Vec::new();
        for (inbox, descending) in [(&a, false), (&b, true)] {
            let mut ours = deliveries.clone();
            if descending {
                ours.reverse();
            }
            for delivery in ours {
                let inbox = inbox.clone();
                ingests.push(tokio::spawn(async move { inbox.ingest(&delivery).await }));
            }
        }
        let mut new = 0;
        for ingest in ingests {
            if ingest.await.unwrap().expect("no ingest fails") == Stored::New {
                new += 1;
            }
        }
        assert_eq!(new, 300);
    }
    assert_eq!(fx.counts().await.pending, 2400);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_delivery_notifies_the_channel_after_its_commit() {
    let fx = Fixture::new().await;
    assert_eq!(by_state(fx.counts().await), [0; 4]); // the table
    let (client, mut connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let (notified, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notification(note) = message {
                let _ = notified.send(note.channel().to_owned());
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {}_new", fx.table))
        .await
        .unwrap();
    let app = fx.app(fx.inbox.clone());
    assert_eq!(fx.send(&app, "msg_1", BODY).await, StatusCode::ACCEPTED);
    let channel = tokio::time::timeout(Duration::from_secs(60), notifications.recv())
        .await
        .expect("no notification")
        .unwrap();
    assert_eq!(channel, format!("{}_new", fx.table));
    // Sent after the insert committed: the row is visible to the listener.
    let visible: i64 = client
        .query_one(&format!("SELECT count(*) FROM {}", fx.table), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(visible, 1);
    drop(client);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_concurrently_up_to_the_limit_and_no_further() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    for id in ["msg_1", "msg_2", "msg_3"] {
        assert_eq!(fx.send(&app, id, BODY).await, StatusCode::ACCEPTED);
    }
    let entered = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let worker = {
        let (entered, gate) = (Arc::clone(&entered), Arc::clone(&gate));
        fx.inbox
            .worker(move |_: Job| {
                entered.fetch_add(1, Ordering::SeqCst);
                let gate = Arc::clone(&gate);
                async move {
                    gate.acquire()
                        .await
                        .map_err(|err| err.to_string())?
                        .forget();
                    Ok::<_, String>(())
                }
            })
            .concurrency(2)
            .poll_interval(Duration::from_millis(20))
    };
    let shown = format!("{worker:?}");
    assert!(
        shown.contains("concurrency: 2") && shown.contains(&fx.table),
        "{shown}"
    );
    let running = Running::start(move |stop| worker.run_until(stop));
    eventually("two jobs running at once", || async {
        entered.load(Ordering::SeqCst) == 2
    })
    .await;
    // Both slots are taken: the third job is not even claimed.
    let counts = fx.counts().await;
    assert_eq!((counts.running, counts.pending), (2, 1));
    gate.add_permits(3);
    eventually("all done", || async { fx.counts().await.done == 3 }).await;
    running.stop().await;
    assert_eq!(entered.load(Ordering::SeqCst), 3);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_connections_go_back_to_the_pool() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    for i in 0..6 {
        assert_eq!(
            fx.send(&app, &format!("msg_{i}"), BODY).await,
            StatusCode::ACCEPTED
        );
    }
    let backends = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let worker = {
        let backends = Arc::clone(&backends);
        fx.inbox
            .worker(move |job: Job| {
                let backends = Arc::clone(&backends);
                async move {
                    let pid: i32 = job
                        .client()
                        .query_one("SELECT pg_backend_pid()", &[])
                        .await
                        .map_err(|err| err.to_string())?
                        .get(0);
                    backends.lock().unwrap().insert(pid);
                    // A failed attempt's connection is rolled back and reused too.
                    if job.attempt() == 1 {
                        return Err("first attempts fail".to_owned());
                    }
                    Ok(())
                }
            })
            .concurrency(1)
            .backoff(Duration::ZERO, Duration::ZERO)
            .poll_interval(Duration::from_millis(20))
    };
    // `run` is `run_until` a signal that never comes: end it by aborting.
    let task = tokio::spawn(worker.run());
    eventually("all done", || async { fx.counts().await.done == 6 }).await;
    task.abort();
    // One job at a time on a pool of two: the 12 attempts reuse those two
    // connections instead of opening one each.
    let used = backends.lock().unwrap().len();
    assert!(used <= 2, "{used} connections for 12 attempts");
    fx.finish().await;
}

/// A handler unit-tested with `Job::for_test`: it sees the delivery and the
/// attempt it was given; its writes commit as they run on a plain
/// connection, and vanish with the job inside a transaction the test opened.
#[tokio::test]
async fn a_handler_can_be_tested_with_a_job_of_its_own() {
    let fx = Fixture::new().await;
    let effects = fx.create_effects().await;
    let pool = common::pg::application_pool(2);
    let secret = generate_secret();
    let verifier = common::verifier(&secret);
    let delivery = |id: &str| {
        let headers = Signer::hmac(&secret).unwrap().id(id).sign(BODY.as_bytes());
        verifier
            .verify(&headers, bytes::Bytes::from_static(BODY.as_bytes()))
            .unwrap()
    };
    let handle = |job: Job| {
        let effects = effects.clone();
        async move {
            assert!(job.event().is_ok());
            write_effect(&job, &effects).await?;
            Ok::<_, String>(job.attempt())
        }
    };
    let plain = Job::for_test(delivery("msg_unit"), 3, pool.get().await.unwrap());
    assert_eq!(plain.delivery().id(), "msg_unit");
    assert_eq!(handle(plain).await, Ok(3));
    assert_eq!(fx.effects_written().await, 1, "committed as it ran");

    let connection = pool.get().await.unwrap();
    connection.batch_execute("BEGIN").await.unwrap();
    let in_transaction = Job::for_test(delivery("msg_rolled_back"), 0, connection);
    assert_eq!(in_transaction.attempt(), 1, "attempts count from 1");
    assert_eq!(handle(in_transaction).await, Ok(1));
    // The job is gone: its connection closed, so its transaction ended
    // (no session holds a lock on the table) without committing.
    let locks = format!(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         WHERE c.relname = '{effects}' AND l.pid <> pg_backend_pid()"
    );
    eventually("the transaction ended", || async {
        admin()
            .await
            .query_one(&locks, &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 0
    })
    .await;
    assert_eq!(fx.effects_written().await, 1, "rolled back");
    drop_table(&effects).await;
    fx.finish().await;
}

/// What the tools read: jobs by state without bodies, one job in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_listed_by_state_and_shown_one_at_a_time() {
    use gemini_webhooks_postgres::inbox::JobState;
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    for id in ["msg_a", "msg_b", "msg_poison"] {
        assert_eq!(fx.send(&app, id, BODY).await, StatusCode::ACCEPTED);
    }
    let worker = fx
        .inbox
        .worker(|job: Job| async move {
            if job.delivery().id() == "msg_poison" {
                return Err("poisoned".to_owned());
            }
            Ok(())
        })
        .max_attempts(1)
        .poll_interval(Duration::from_millis(20));
    let running = Running::start(move |stop| worker.run_until(stop));
    eventually("two done, one dead", || async {
        let counts = fx.counts().await;
        counts.done == 2 && counts.dead == 1
    })
    .await;
    running.stop().await;
    assert_eq!(fx.send(&app, "msg_new", BODY).await, StatusCode::ACCEPTED);

    let all = fx.inbox.jobs(None, 10).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].webhook_id, "msg_new", "newest first");
    assert!(
        all.iter().all(|job| job.body.is_empty()),
        "no bodies in lists"
    );
    let dead = fx.inbox.jobs(Some(JobState::Dead), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].webhook_id.as_str(), dead[0].attempts),
        ("msg_poison", 1)
    );
    assert_eq!(dead[0].last_error.as_deref(), Some("poisoned"));
    assert!(dead[0].failed_at.is_some());
    let pending = fx.inbox.jobs(Some(JobState::Pending), 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        fx.inbox.jobs(Some(JobState::Done), 1).await.unwrap().len(),
        1,
        "the limit holds"
    );
    assert!(
        fx.inbox
            .jobs(Some(JobState::Running), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let shown = fx.inbox.job(&dead[0].key).await.unwrap().unwrap();
    assert_eq!(shown.state, JobState::Dead);
    assert_eq!(shown.body, BODY.as_bytes());
    assert!(fx.inbox.job("msg_nowhere").await.unwrap().is_none());
    fx.finish().await;
}

/// A handler's error is stored and logged with its whole cause chain: a
/// driver's `db error` names the missing table only in its source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handlers_error_is_kept_with_its_cause_chain() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    assert_eq!(fx.send(&app, "msg_chain", BODY).await, StatusCode::ACCEPTED);
    let worker = fx
        .inbox
        .worker(|job: Job| async move {
            job.client()
                .execute("INSERT INTO no_such_table_of_ours VALUES (1)", &[])
                .await
                .map(drop)
        })
        .max_attempts(1);
    assert_eq!(worker.run_once().await.unwrap().dead, 1);
    let dead = fx.inbox.dead_letters(1).await.unwrap();
    let error = dead[0].last_error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("db error") && error.contains("no_such_table_of_ours"),
        "{error}"
    );
}

/// A handler's slot frees when it returns: with one slot, the next job
/// runs while the last one's done mark still waits (here on a row lock),
/// and that job stays held and ends done once the mark gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_completing_in_batches_runs_the_next_job_while_a_done_mark_waits() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    assert_eq!(fx.send(&app, "msg_first", BODY).await, StatusCode::ACCEPTED);
    let (started, mut handlers) = tokio::sync::mpsc::unbounded_channel::<String>();
    let go = Arc::new(Notify::new());
    // The mark waits on the lock far longer than the test waits for the
    // next handler: only a freed slot lets it start.
    let patient = Inbox::builder(database_url())
        .table(&fx.table)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let worker = {
        let go = Arc::clone(&go);
        patient
            .worker(move |delivery: Delivery| {
                let first = delivery.id() == "msg_first";
                let _ = started.send(delivery.id().to_owned());
                let go = Arc::clone(&go);
                async move {
                    if first {
                        go.notified().await;
                    }
                    Ok::<_, std::convert::Infallible>(())
                }
            })
            .concurrency(1)
            .poll_interval(Duration::from_millis(20))
            .complete_in_batches()
    };
    let running = Running::start(move |stop| worker.run_until(stop));
    async fn next(handlers: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
        let next = tokio::time::timeout(Duration::from_secs(60), handlers.recv());
        next.await.expect("a handler within 60 s").unwrap()
    }
    assert_eq!(next(&mut handlers).await, "msg_first");
    // Its done mark waits for this lock.
    let locker = admin().await;
    locker
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM {} WHERE id = 'msg_first' FOR NO KEY UPDATE",
            fx.table
        ))
        .await
        .unwrap();
    go.notify_one();
    assert_eq!(
        fx.send(&app, "msg_second", BODY).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(next(&mut handlers).await, "msg_second");
    let (state, _, _, leased) = fx.row("msg_first").await;
    assert_eq!((state.as_str(), leased), ("pending", true), "still held");
    locker.batch_execute("COMMIT").await.unwrap();
    eventually("both done", || async { fx.counts().await.done == 2 }).await;
    running.stop().await;
    assert!(handlers.try_recv().is_err(), "each ran once");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_completing_in_batches_marks_each_job_once_and_retries_failures() {
    let fx = Fixture::new().await;
    let app = fx.app(fx.inbox.clone());
    let ids: Vec<String> = (0..5).map(|n| format!("msg_batch_{n}")).collect();
    for id in ids.iter().map(String::as_str).chain(["msg_batch_fail"]) {
        assert_eq!(fx.send(&app, id, BODY).await, StatusCode::ACCEPTED);
    }
    let ran: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let worker = {
        let ran = Arc::clone(&ran);
        fx.inbox
            .worker(move |delivery: Delivery| {
                *ran.lock()
                    .unwrap()
                    .entry(delivery.id().to_owned())
                    .or_default() += 1;
                let fails = delivery.id() == "msg_batch_fail";
                async move {
                    match fails {
                        true => Err("failing in a batch".to_owned()),
                        false => Ok(()),
                    }
                }
            })
            .concurrency(8)
            .max_attempts(2)
            .backoff(Duration::ZERO, Duration::ZERO)
            .complete_in_batches()
    };
    let first = worker.run_once().await.unwrap();
    assert_eq!(
        (first.claimed, first.handled, first.retried, first.dead),
        (6, 5, 1, 0)
    );
    for id in &ids {
        let (state, attempts, _, leased) = fx.row(id).await;
        assert_eq!(
            (state.as_str(), attempts, leased),
            ("done", 1, false),
            "{id}"
        );
    }
    let (state, attempts, _, leased) = fx.row("msg_batch_fail").await;
    assert_eq!((state.as_str(), attempts, leased), ("pending", 1, false));
    // The second attempt is the last: a dead letter, counted by its claim.
    let second = worker.run_once().await.unwrap();
    assert_eq!((second.claimed, second.dead), (1, 1));
    assert_eq!(fx.row("msg_batch_fail").await.1, 2);
    assert_eq!(worker.run_once().await.unwrap(), Batch::default());
    assert_eq!(by_state(fx.counts().await), [0, 0, 5, 1]);
    let ran = ran.lock().unwrap().clone();
    assert!(ids.iter().all(|id| ran[id] == 1), "each once: {ran:?}");
    assert_eq!(ran["msg_batch_fail"], 2);
    fx.finish().await;
}
