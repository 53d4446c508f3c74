//! The inbox's worker under the faults an adversarial review found: a claim
//! the client abandons, `max_attempts` lowered under stored jobs, handlers
//! that hang, a job's connection killed or its lease taken over while the
//! handler runs, a handler outliving its lease. Against the PostgreSQL at
//! `DATABASE_URL`, each test on a table of its own.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::eventually;
use common::pg::{admin, database_url, drop_table, unique_table};
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks_postgres::inbox::{Inbox, Job, Stored};
use tokio::sync::{Notify, oneshot};

/// An inbox on a table of its own, and a way to store signed deliveries.
struct Fixture {
    table: String,
    secret: String,
    inbox: Inbox,
}

impl Fixture {
    async fn new(timeout: Duration) -> Self {
        Self::with(timeout, |_| Inbox::builder(database_url())).await
    }

    /// The inbox on an application's pool of `size` connections.
    async fn on_pool(timeout: Duration, size: usize) -> Self {
        Self::with(timeout, |_| {
            Inbox::from_pool(common::pg::application_pool(size))
        })
        .await
    }

    async fn with(
        timeout: Duration,
        builder: impl FnOnce(()) -> gemini_webhooks_postgres::inbox::InboxBuilder,
    ) -> Self {
        admin().await;
        let table = unique_table();
        let inbox = builder(()).table(&table).timeout(timeout).build().unwrap();
        Self {
            table,
            secret: generate_secret(),
            inbox,
        }
    }

    async fn store(&self, id: &str) {
        let body = common::NO_COMPLETION.as_bytes();
        let headers = Signer::hmac(&self.secret).unwrap().id(id).sign(body);
        let delivery = common::verifier(&self.secret)
            .verify(&headers, body)
            .unwrap();
        assert_eq!(self.inbox.ingest(&delivery).await.unwrap(), Stored::New);
    }

    /// `(state, attempts, lease, last_error)` of one job.
    async fn row(&self, id: &str) -> (String, i32, Option<String>, Option<String>) {
        let row = admin()
            .await
            .query_one(
                &format!(
                    "SELECT state, attempts, lease, last_error FROM {} WHERE id = $1",
                    self.table
                ),
                &[&id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2), row.get(3))
    }

    async fn sql(&self, sql: &str) {
        admin()
            .await
            .batch_execute(&sql.replace("{t}", &self.table))
            .await
            .unwrap();
    }

    async fn finish(self) {
        drop_table(&self.table).await;
    }
}

/// What the handlers did, in order, across workers.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn push(&self, event: String) {
        self.0.lock().unwrap().push(event);
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Records `ended <id> <attempt>` when the handler's future is dropped,
/// finished or cancelled.
struct EndGuard(Events, String);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.push(format!("ended {}", self.1));
    }
}

/// A handler's future, boxed so the worker's type can be named.
type Handling = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A worker whose handler records `started`/`ended` per attempt and hangs
/// (until cancelled) on the attempts `hang` says, succeeding on the others.
fn hanging_worker(
    inbox: &Inbox,
    events: &Events,
    entered: &Arc<Notify>,
    hang: fn(u32) -> bool,
) -> gemini_webhooks_postgres::inbox::InboxWorker<
    impl Fn(Job) -> Handling + Send + Sync + 'static,
    Job,
> {
    let (events, entered) = (events.clone(), Arc::clone(entered));
    inbox
        .worker(move |job: Job| {
            let name = format!("{} {}", job.delivery().id(), job.attempt());
            let hangs = hang(job.attempt());
            let (events, entered) = (events.clone(), Arc::clone(&entered));
            Box::pin(async move {
                events.push(format!("started {name}"));
                let _guard = EndGuard(events, name);
                entered.notify_one();
                if hangs {
                    std::future::pending::<()>().await;
                }
                Ok(())
            }) as Handling
        })
        .poll_interval(Duration::from_millis(20))
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
}

/// Runs `worker` until the returned sender is used or dropped.
fn spawn<F: Future<Output = ()> + Send + 'static>(
    run: impl FnOnce(oneshot::Receiver<()>) -> F,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel();
    (stop, tokio::spawn(run(stopped)))
}

async fn stop(worker: (oneshot::Sender<()>, tokio::task::JoinHandle<()>)) {
    let _ = worker.0.send(());
    worker.1.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_the_worker_gives_up_on_never_takes_effect_later() {
    // 400 ms of patience: the server cuts the claim off at 300 ms.
    slow_claims_never_take_effect(Fixture::new(Duration::from_millis(400)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_applications_pool_too_a_claim_given_up_on_never_takes_effect() {
    // The pool's sessions are the application's: each claim sets the
    // server's cutoff for itself. Two connections: one job, one claim.
    slow_claims_never_take_effect(Fixture::on_pool(Duration::from_millis(400), 2).await).await;
}

async fn slow_claims_never_take_effect(fx: Fixture) {
    fx.store("msg_slow_claim").await;
    // Every update of the table now takes 600 ms; a sequence (outside any
    // transaction) counts the claims that tried.
    fx.sql(
        "CREATE SEQUENCE {t}_tries; \
         CREATE FUNCTION {t}_slow() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN PERFORM nextval('{t}_tries'); PERFORM pg_sleep(0.6); RETURN NEW; END $$; \
         CREATE TRIGGER {t}_slow BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_slow();",
    )
    .await;
    let events = Events::default();
    let entered = Arc::new(Notify::new());
    let worker = hanging_worker(&fx.inbox, &events, &entered, |_| false);
    let running = spawn(move |stop| worker.run_until(async { drop(stop.await) }));
    let tries = format!("SELECT last_value FROM {}_tries", fx.table);
    // The third try starts after the first would have committed (600 ms).
    eventually("three claims tried", || async {
        admin()
            .await
            .query_one(&tries, &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
            >= 3
    })
    .await;
    stop(running).await;
    let (state, attempts, lease, _) = fx.row("msg_slow_claim").await;
    assert_eq!((state.as_str(), attempts, lease), ("pending", 0, None));
    assert!(events.all().is_empty(), "no handler ran");

    fx.sql("DROP TRIGGER {t}_slow ON {t}").await;
    let worker = hanging_worker(&fx.inbox, &events, &entered, |_| false);
    let running = spawn(move |stop| worker.run_until(async { drop(stop.await) }));
    eventually("handled once the claims are fast again", || async {
        fx.row("msg_slow_claim").await.0 == "done"
    })
    .await;
    stop(running).await;
    assert_eq!(
        events.all(),
        ["started msg_slow_claim 1", "ended msg_slow_claim 1"]
    );
    fx.sql("DROP FUNCTION {t}_slow; DROP SEQUENCE {t}_tries")
        .await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_out_of_attempts_under_a_lowered_max_become_dead_letters() {
    let fx = Fixture::new(Duration::from_secs(10)).await;
    fx.store("msg_used_up").await;
    // Failed three times under `max_attempts(10)`, due again.
    fx.sql("UPDATE {t} SET attempts = 3, failed_at = now(), last_error = 'boom'")
        .await;
    let events = Events::default();
    let entered = Arc::new(Notify::new());
    let worker = hanging_worker(&fx.inbox, &events, &entered, |_| false).max_attempts(2);
    let running = spawn(move |stop| worker.run_until(async { drop(stop.await) }));
    eventually("buried", || async {
        fx.row("msg_used_up").await.0 == "dead"
    })
    .await;
    let (_, attempts, lease, error) = fx.row("msg_used_up").await;
    assert_eq!((attempts, lease), (3, None));
    assert_eq!(
        error.as_deref(),
        Some("3 attempts used up (max_attempts is 2)")
    );
    assert!(events.all().is_empty(), "not run again");
    // A dead letter, so requeue reaches it.
    assert!(fx.inbox.requeue("msg_used_up").await.unwrap());
    eventually("run after requeue", || async {
        fx.row("msg_used_up").await.0 == "done"
    })
    .await;
    stop(running).await;
    assert_eq!(
        events.all(),
        ["started msg_used_up 1", "ended msg_used_up 1"]
    );
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_handler_times_out_as_a_failed_attempt_and_frees_its_slot() {
    let fx = Fixture::new(Duration::from_secs(10)).await;
    fx.store("msg_hangs").await;
    let events = Events::default();
    let entered = Arc::new(Notify::new());
    let worker = hanging_worker(&fx.inbox, &events, &entered, |_| true)
        .concurrency(1)
        .max_attempts(2)
        .job_timeout(Duration::from_millis(200));
    let running = spawn(move |stop| worker.run_until(async { drop(stop.await) }));
    entered.notified().await;
    eventually("dead after two timed-out attempts", || async {
        fx.row("msg_hangs").await.0 == "dead"
    })
    .await;
    let (_, attempts, _, error) = fx.row("msg_hangs").await;
    assert_eq!(attempts, 2);
    assert_eq!(error.as_deref(), Some("the handler timed out after 200 ms"));
    // Each attempt ended (its future dropped) before the next began.
    assert_eq!(
        events.all(),
        [
            "started msg_hangs 1",
            "ended msg_hangs 1",
            "started msg_hangs 2",
            "ended msg_hangs 2"
        ]
    );
    stop(running).await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_whose_connection_is_killed_is_cancelled_before_the_job_runs_again() {
    let fx = Fixture::new(Duration::from_secs(10)).await;
    fx.store("msg_cut").await;
    let events = Events::default();
    let entered = Arc::new(Notify::new());
    // Two workers, each able to take the job over: only the first attempt
    // hangs.
    let first = hanging_worker(&fx.inbox, &events, &entered, |attempt| attempt == 1);
    let second = hanging_worker(&fx.inbox, &events, &entered, |attempt| attempt == 1);
    let first = spawn(move |stop| first.run_until(async { drop(stop.await) }));
    let second = spawn(move |stop| second.run_until(async { drop(stop.await) }));
    entered.notified().await;
    // As `idle_in_transaction_session_timeout`, a failover or an operator
    // would: the job's transaction ends under the running handler.
    let killed: i64 = admin()
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE state = 'idle in transaction' AND query LIKE $1",
            &[&format!("SELECT state,% FROM {} %", fx.table)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    eventually("handled by the next attempt", || async {
        fx.row("msg_cut").await.0 == "done"
    })
    .await;
    stop(first).await;
    stop(second).await;
    assert_eq!(
        events.all(),
        [
            "started msg_cut 1",
            "ended msg_cut 1",
            "started msg_cut 2",
            "ended msg_cut 2"
        ],
        "the first handler was cancelled before the second started"
    );
    let (_, attempts, _, _) = fx.row("msg_cut").await;
    assert_eq!(attempts, 2);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_whose_lease_is_taken_over_is_cancelled_and_leaves_the_row_alone() {
    let fx = Fixture::new(Duration::from_secs(10)).await;
    fx.store("msg_taken").await;
    let events = Events::default();
    let entered = Arc::new(Notify::new());
    // Renewed every second: the takeover is seen within one, long before
    // the hold's own deadline (2 s) could end it on a busy machine.
    let worker =
        hanging_worker(&fx.inbox, &events, &entered, |_| true).lease(Duration::from_secs(3));
    let running = spawn(move |stop| worker.run_until(async { drop(stop.await) }));
    entered.notified().await;
    // Another worker's claim, as if the lease had lapsed.
    fx.sql("UPDATE {t} SET lease = 'another-worker', run_at = now() + interval '1 hour'")
        .await;
    eventually("the handler cancelled", || async {
        events.all().len() == 2
    })
    .await;
    stop(running).await;
    assert_eq!(events.all(), ["started msg_taken 1", "ended msg_taken 1"]);
    let (state, attempts, lease, error) = fx.row("msg_taken").await;
    assert_eq!(
        (state.as_str(), attempts, lease.as_deref(), error),
        ("pending", 1, Some("another-worker"), None),
        "the row is the other worker's: not failed, not released"
    );
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_outliving_its_lease_keeps_the_job_while_renewals_get_through() {
    let fx = Fixture::new(Duration::from_secs(10)).await;
    fx.store("msg_long").await;
    let release = Arc::new(Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let worker = |release: Arc<Notify>, runs: Arc<AtomicUsize>| {
        fx.inbox
            .worker(move |job: Job| {
                let (release, runs) = (Arc::clone(&release), Arc::clone(&runs));
                async move {
                    assert_eq!(job.attempt(), 1);
                    runs.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    Ok::<_, String>(())
                }
            })
            // Renewed every 2 s, each with 4 s to get through.
            .lease(Duration::from_secs(6))
            .poll_interval(Duration::from_millis(20))
    };
    let first = worker(Arc::clone(&release), Arc::clone(&runs));
    let first = spawn(move |stop| first.run_until(async { drop(stop.await) }));
    eventually("started", || async { runs.load(Ordering::SeqCst) == 1 }).await;
    let claimed_until: f64 = admin()
        .await
        .query_one(
            &format!(
                "SELECT extract(epoch FROM run_at)::float8 FROM {}",
                fx.table
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // A second worker polls for due jobs all along.
    let second = worker(Arc::clone(&release), Arc::clone(&runs));
    let second = spawn(move |stop| second.run_until(async { drop(stop.await) }));
    let renewed = format!(
        "SELECT now() > to_timestamp($1) AND run_at > now() FROM {}",
        fx.table
    );
    eventually("the first lease lapsed, a renewal holding", || async {
        let row = admin()
            .await
            .query_one(&renewed, &[&claimed_until])
            .await
            .unwrap();
        row.get::<_, bool>(0)
    })
    .await;
    release.notify_waiters();
    eventually("done", || async { fx.row("msg_long").await.0 == "done" }).await;
    stop(first).await;
    stop(second).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "run once, by one worker");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_deletes_done_rows_past_the_dedup_ttl_on_its_own() {
    let fx = Fixture::new(Duration::from_secs(10)).await;
    fx.store("msg_old").await;
    fx.store("msg_recent").await;
    fx.sql(
        "UPDATE {t} SET state = 'done', finished_at = now() - interval '2 hours' WHERE id = 'msg_old'; \
         UPDATE {t} SET state = 'done', finished_at = now() WHERE id = 'msg_recent'",
    )
    .await;
    let inbox = Inbox::builder(database_url())
        .table(&fx.table)
        .keep_done(Duration::from_secs(3600))
        .build()
        .unwrap();
    let events = Events::default();
    let entered = Arc::new(Notify::new());
    let worker = hanging_worker(&inbox, &events, &entered, |_| false);
    let running = spawn(move |stop| worker.run_until(async { drop(stop.await) }));
    let count = format!("SELECT count(*) FROM {}", fx.table);
    eventually("the old done row deleted", || async {
        admin()
            .await
            .query_one(&count, &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 1
    })
    .await;
    stop(running).await;
    assert_eq!(
        fx.row("msg_recent").await.0,
        "done",
        "kept for the dedup TTL"
    );
    fx.finish().await;
}
