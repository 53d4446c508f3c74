//! What an inbox worker logs: a retry at WARN, a dead letter at ERROR, a
//! handled job at DEBUG, a database it cannot reach once (not every poll)
//! and its return at INFO. Its own test binary: the worker's tasks run on
//! the runtime's threads, so the capturing subscriber is the global one.

#![cfg(feature = "axum")]

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use common::Captured;
use common::pg::{admin, database_url, drop_table, unique_table};
use gemini_webhooks_postgres::inbox::{Inbox, Job};
use gemini_webhooks_postgres::reconcile::Reconciler;

/// The global subscriber's lines, at DEBUG and above.
fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        captured
    })
}

fn lines_with(needle: &str) -> Vec<String> {
    captured()
        .text()
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_warn_dead_letters_are_errors_and_handled_jobs_debug() {
    let captured = captured();
    admin().await;
    let table = unique_table();
    let inbox = Inbox::builder(database_url())
        .table(&table)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    common::pg::ingest_each(&inbox, &["msg_poison", "msg_fine"]).await;
    let worker = inbox
        .worker(|job: Job| async move {
            if job.delivery().id() == "msg_poison" {
                return Err("poisoned");
            }
            Ok(())
        })
        .max_attempts(2)
        .backoff(Duration::ZERO, Duration::ZERO)
        .poll_interval(Duration::from_millis(20));
    let task = tokio::spawn(worker.run());
    common::eventually("one dead letter and one done", || async {
        let counts = inbox.counts().await.unwrap();
        counts.dead == 1 && counts.done == 1
    })
    .await;
    task.abort();
    let text = captured.text();
    // This test's lines: another test of this binary has a dead letter too.
    let line = |needle: &str, key: &str| {
        text.lines()
            .find(|line| line.contains(needle) && line.contains(key))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
            .to_owned()
    };
    let retry = line("will retry", "msg_poison");
    assert!(
        retry.contains(" WARN ") && retry.contains("msg_poison"),
        "{retry}"
    );
    let dead = line("dead letter", "msg_poison");
    assert!(
        dead.contains(" ERROR ") && dead.contains("attempt=2"),
        "{dead}"
    );
    let done = line("gemini webhook job done", "msg_fine");
    assert!(
        done.contains(" DEBUG ") && done.contains("msg_fine"),
        "{done}"
    );
    drop_table(&table).await;
}

/// A wrong database name: the worker polls every 5 ms and fails each time,
/// but says so once; when the database appears it says it works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_not_there_is_logged_once_and_its_return_too() {
    captured();
    let name = format!("gw_logs_{}", std::process::id());
    let admin = admin().await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    let base = database_url();
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
    // A timeout no busy machine reaches: a slow connect would log a second
    // cause ("timed out") and this test is about one cause repeating.
    let inbox = Inbox::builder(url)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let worker = inbox
        .worker(|_: Job| async { Ok::<_, String>(()) })
        .poll_interval(Duration::from_millis(5));
    let task = tokio::spawn(worker.run());
    common::eventually("the failure logged", || async {
        !lines_with("claiming jobs failed").is_empty()
    })
    .await;
    // Some hundred polls later, still the one line.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let failed = lines_with("claiming jobs failed");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(
        failed[0].contains(" WARN ")
            && failed[0].contains(&format!("database \"{name}\" does not exist")),
        "{}",
        failed[0]
    );
    assert!(lines_with("still failing").is_empty());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    common::eventually("the return logged", || async {
        !lines_with("claiming jobs works again").is_empty()
    })
    .await;
    let back = &lines_with("claiming jobs works again")[0];
    assert!(
        back.contains(" INFO ") && back.contains("failures="),
        "{back}"
    );
    task.abort();
    let _ = task.await;
    drop(inbox);
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}

/// An inbox on a table of its own (the capturing subscriber installed),
/// tracking `names`, each due for a poll now.
async fn inbox_tracking(names: &[impl AsRef<str>]) -> (String, Inbox) {
    use gemini_webhooks_api::JobName;
    use gemini_webhooks_postgres::reconcile::{TrackedJob, Tracking};
    captured();
    admin().await;
    let table = unique_table();
    let inbox = Inbox::builder(database_url())
        .table(&table)
        .build()
        .unwrap();
    for name in names {
        let job =
            TrackedJob::new(JobName::parse(name.as_ref()).unwrap()).expect_within(Duration::ZERO);
        Tracking::new(&inbox).track(&job).await.unwrap();
    }
    (table, inbox)
}

/// A watched webhook Gemini disabled: an ERROR naming it and its state; an
/// API that keeps failing: one WARN for all the jobs' polls, not one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_endpoint_is_an_error_and_failing_polls_one_warning() {
    use common::gemini_mock::GeminiMock;
    let names: Vec<String> = (0..5).map(|i| format!("batches/logged{i}")).collect();
    let (table, inbox) = inbox_tracking(&names).await;
    let mock = GeminiMock::start().await;
    mock.set_webhook_state("disabled_due_to_failed_deliveries");
    // Every poll answers 500.
    mock.fail_next(1_000, 500);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reconciler = Reconciler::new(&inbox, mock.client())
        .watch_webhook("wh_logged")
        .run_until(async {
            let _ = stopped.await;
        });
    let running = tokio::spawn(reconciler);
    common::eventually("five polls failed", || async {
        (0..5).all(|i| mock.calls(&format!("/v1beta/batches/logged{i}")) >= 1)
    })
    .await;
    stop.send(()).unwrap();
    running.await.unwrap();
    let polls = lines_with("polling tracked jobs failed");
    assert_eq!(polls.len(), 1, "{polls:?}");
    assert!(
        polls[0].contains("WARN") && polls[0].contains("500"),
        "{}",
        polls[0]
    );
    let disabled = lines_with("gemini webhook is not enabled");
    assert_eq!(disabled.len(), 1, "one health check: {disabled:?}");
    assert!(
        disabled[0].contains("ERROR")
            && disabled[0].contains("wh_logged")
            && disabled[0].contains("disabled_due_to_failed_deliveries"),
        "{}",
        disabled[0]
    );
    drop_table(&table).await;
}

/// A webhook disabled for several checks, then enabled: an ERROR each
/// check, every job made due once (on the way in), an INFO on the way out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_disabled_then_enabled_again_is_logged_in_and_out() {
    use common::gemini_mock::GeminiMock;
    captured();
    admin().await;
    let table = unique_table();
    let inbox = Inbox::builder(database_url())
        .table(&table)
        .build()
        .unwrap();
    let mock = GeminiMock::start().await;
    mock.set_webhook_state("disabled");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(
        Reconciler::new(&inbox, mock.client())
            .watch_webhook("wh_flapping")
            .health_interval(Duration::from_millis(10))
            .tick(Duration::from_millis(10))
            .run_until(async {
                let _ = stopped.await;
            }),
    );
    let checks = || mock.calls("/v1beta/webhooks/wh_flapping");
    common::eventually("three checks", || async { checks() >= 3 }).await;
    mock.set_webhook_state("enabled");
    let seen = checks();
    // Several checks find it enabled: only the first says so.
    common::eventually("four more checks", || async { checks() >= seen + 4 }).await;
    stop.send(()).unwrap();
    running.await.unwrap();
    let errors = lines_with("wh_flapping")
        .into_iter()
        .filter(|l| l.contains("ERROR"))
        .count();
    assert!(errors >= 3, "an ERROR per check while disabled: {errors}");
    let made_due = lines_with("gemini jobs due for a poll now")
        .into_iter()
        .filter(|line| line.contains("wh_flapping"))
        .count();
    assert_eq!(made_due, 1, "made due once");
    let again = lines_with("gemini webhook enabled again");
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(again[0].contains("INFO") && again[0].contains("wh_flapping"));
    drop_table(&table).await;
}

/// Two jobs whose polls keep failing, each its own way (a revoked key's
/// 401, a 404): each cause is logged once, not a WARN at every poll as
/// the causes alternate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_poll_failures_log_once_per_job_and_cause() {
    use common::gemini_mock::{self, GeminiMock};
    let (table, inbox) = inbox_tracking(&["batches/revoked", "batches/missing"]).await;
    let mock = GeminiMock::start().await;
    mock.set("batches/revoked", gemini_mock::refused(401));
    let reconciler =
        Reconciler::new(&inbox, mock.client()).retry_backoff(Duration::from_secs(3600));
    let due_now = format!("UPDATE {table}_tracked SET next_poll_at = now()");
    for _ in 0..4 {
        assert_eq!(reconciler.run_once().await.unwrap().failed, 2);
        admin().await.execute(&due_now, &[]).await.unwrap();
    }
    let warned: Vec<String> = lines_with("polling tracked jobs")
        .into_iter()
        .filter(|line| {
            line.contains("WARN") && (line.contains("refused") || line.contains("not found"))
        })
        .collect();
    assert_eq!(warned.len(), 2, "{warned:?}");
    drop_table(&table).await;
}

/// Requeuing a done job runs its handler again: a WARN. Requeuing nothing,
/// or dead letters, is news: INFO. (The lines are this inbox's: the other
/// tests of this binary log beside it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeuing_done_jobs_is_a_warning_and_dead_ones_news() {
    use gemini_webhooks_postgres::inbox::{JobFilter, JobState};
    captured();
    let (table, inbox) = common::pg::fresh_inbox().await;
    common::pg::ingest_each(&inbox, &["msg_done", "msg_dead"]).await;
    let worker = inbox
        .worker(|job: Job| async move {
            match job.delivery().id() {
                "msg_dead" => Err("poisoned"),
                _ => Ok(()),
            }
        })
        .max_attempts(1);
    assert_eq!(worker.run_once().await.unwrap().claimed, 2);
    let this_inbox = |needle: &str| -> Vec<String> {
        lines_with(needle)
            .into_iter()
            .filter(|line| line.contains(&format!("table=\"{table}\"")))
            .collect()
    };
    assert!(inbox.requeue_done("msg_done").await.unwrap());
    let warned = this_inbox("done jobs requeued");
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert!(warned[0].contains(" WARN "), "{}", warned[0]);
    assert!(
        !inbox.requeue_done("msg_done").await.unwrap(),
        "pending now"
    );
    let news = this_inbox("requeued=0");
    assert_eq!(news.len(), 1, "{news:#?}");
    assert!(news[0].contains(" INFO "), "{}", news[0]);
    let dead = JobFilter::new(JobState::Dead);
    assert_eq!(inbox.requeue_matching(&dead, |_| ()).await.unwrap(), 1);
    let news = this_inbox("what=\"jobs matching a filter\"");
    assert_eq!(news.len(), 1, "{news:#?}");
    assert!(
        news[0].contains(" INFO ")
            && news[0].contains("requeued=1 ")
            && news[0].contains("state=dead"),
        "{}",
        news[0]
    );
    assert_eq!(this_inbox(" WARN ").len(), 1, "the one done job only");
    drop_table(&table).await;
}
