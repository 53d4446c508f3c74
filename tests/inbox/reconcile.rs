//! Tracked jobs handled exactly once, by webhook or by poll, against the
//! PostgreSQL of the tests and a local mock of the Gemini API. Rounds are
//! run one at a time (`run_once`) and "time passes" by moving a job's
//! `next_poll_at`: nothing waits on the clock.

#![cfg(feature = "axum")]

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use common::eventually;
use common::gemini_mock::{self, GeminiMock};
use common::pg::{admin, database_url, drop_table, unique_table};
use gemini_webhooks::GeminiEvent;
use gemini_webhooks::testing::{Signer, generate_secret, sample_event_for};
use gemini_webhooks_api::JobName;
use gemini_webhooks_postgres::inbox::{Inbox, Job, Origin};
use gemini_webhooks_postgres::reconcile::{Reconciler, TrackedJob, TrackedState, Tracking};
use serde_json::json;
use tower::ServiceExt;

/// An inbox on tables of its own, its endpoint, and a mock API.
struct Fixture {
    table: String,
    secret: String,
    inbox: Inbox,
    app: Router,
    mock: GeminiMock,
}

/// What the handler saw of each job: `(type, origin, user_metadata)` per
/// run, by resource id.
#[derive(Clone, Default)]
struct Handled(Arc<Mutex<HashMap<String, Vec<Run>>>>);

/// One handler run: the event's type, its origin, its `user_metadata`.
type Run = (String, Origin, Option<serde_json::Value>);

impl Handled {
    fn of(&self, resource: &str) -> Vec<Run> {
        let last = resource.rsplit('/').next().unwrap();
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|(id, _)| id.rsplit('/').next() == Some(last))
            .flat_map(|(_, runs)| runs.clone())
            .collect()
    }

    fn total(&self) -> usize {
        self.0.lock().unwrap().values().map(Vec::len).sum()
    }
}

impl Fixture {
    async fn new() -> Self {
        admin().await;
        let table = unique_table();
        let inbox = Inbox::builder(database_url())
            .table(&table)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let secret = generate_secret();
        let app = Router::new()
            .route_service("/webhooks/gemini", inbox.service(common::verifier(&secret)));
        Self {
            table,
            secret,
            inbox,
            app,
            mock: GeminiMock::start().await,
        }
    }

    /// Tracks `name`, due for a poll now unless `within` says otherwise.
    async fn track(&self, name: &str, within: Duration) -> TrackedJob {
        let job = TrackedJob::new(JobName::parse(name).unwrap())
            .expect_within(within)
            .user_metadata(json!({"order": name}).as_object().unwrap().clone());
        assert!(Tracking::new(&self.inbox).track(&job).await.unwrap());
        job
    }

    /// Delivers `event_type` about `resource` as webhook `id`.
    async fn webhook(&self, id: &str, event_type: &str, resource: &str) -> StatusCode {
        let body = sample_event_for(event_type, resource);
        let request: axum::http::Request<axum::body::Body> = Signer::hmac(&self.secret)
            .unwrap()
            .id(id)
            .request("/webhooks/gemini", body);
        self.app.clone().oneshot(request).await.unwrap().status()
    }

    fn reconciler(&self) -> Reconciler {
        Reconciler::new(&self.inbox, self.mock.client())
            .poll_interval(Duration::from_secs(60))
            .max_poll_interval(Duration::from_secs(60))
            .retry_backoff(Duration::from_secs(30))
    }

    /// `(state, origin, polls, failures, seconds until next_poll_at)`.
    async fn tracked(&self, resource: &str) -> (String, Option<String>, i32, i32, f64) {
        let row = admin()
            .await
            .query_one(
                &format!(
                    "SELECT state, origin, polls, failures, \
                       extract(epoch FROM next_poll_at - now())::float8 \
                     FROM {}_tracked WHERE resource = $1",
                    self.table
                ),
                &[&resource],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
    }

    /// Makes `resource` due for its next poll now, as if its wait had passed.
    async fn fast_forward(&self, resource: &str) {
        admin()
            .await
            .execute(
                &format!(
                    "UPDATE {}_tracked SET next_poll_at = now() WHERE resource = $1",
                    self.table
                ),
                &[&resource],
            )
            .await
            .unwrap();
    }

    /// Puts every tracked job past its horizon.
    async fn past_horizon(&self) {
        self.past_horizon_by("0 seconds").await;
    }

    /// Puts every tracked job's horizon `ago` (an SQL interval) back.
    async fn past_horizon_by(&self, ago: &str) {
        admin()
            .await
            .execute(
                &format!(
                    "UPDATE {}_tracked SET horizon = now() - interval '{ago}'",
                    self.table
                ),
                &[],
            )
            .await
            .unwrap();
    }

    /// A worker recording every event it handles into `handled`.
    fn worker(&self, handled: &Handled) -> tokio::task::JoinHandle<()> {
        let handled = handled.clone();
        let worker = self
            .inbox
            .worker(move |job: Job| {
                let event = job.event();
                let handled = handled.clone();
                async move {
                    let event = event.map_err(|e| e.to_string())?;
                    let metadata = event
                        .user_metadata()
                        .map(|m| serde_json::Value::Object(m.clone()));
                    handled
                        .0
                        .lock()
                        .unwrap()
                        .entry(event.resource_id().unwrap_or_default().to_owned())
                        .or_default()
                        .push((event.event_type().to_owned(), job.origin(), metadata));
                    Ok::<_, String>(())
                }
            })
            .poll_interval(Duration::from_millis(20));
        tokio::spawn(worker.run())
    }

    async fn finish(self) {
        drop_table(&self.table).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_webhook_never_comes_is_handled_once_by_poll_with_its_metadata() {
    let fx = Fixture::new().await;
    fx.track("batches/b1", Duration::ZERO).await;
    fx.mock
        .set("batches/b1", gemini_mock::batch("batches/b1", "SUCCEEDED"));
    let reconciler = fx.reconciler();
    let before = Tracking::new(&fx.inbox).counts().await.unwrap();
    assert_eq!((before.open, before.overdue), (1, 1), "due, unpolled");
    let round = reconciler.run_once().await.unwrap();
    assert_eq!((round.polled, round.stored), (1, 1));
    let after = Tracking::new(&fx.inbox).counts().await.unwrap();
    assert_eq!((after.open, after.overdue, after.by_poll), (0, 0, 1));
    let handled = Handled::default();
    let worker = fx.worker(&handled);
    eventually("the polled completion handled", || async {
        handled.total() == 1
    })
    .await;
    let runs = handled.of("b1");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0, "batch.succeeded");
    assert_eq!(runs[0].1, Origin::Poll);
    assert_eq!(runs[0].2, Some(json!({"order": "batches/b1"})));
    // Closed: the next round polls nothing, and the API was asked once.
    assert_eq!(reconciler.run_once().await.unwrap().polled, 0);
    assert_eq!(fx.mock.calls("/v1beta/batches/b1"), 1);
    let (state, origin, polls, ..) = fx.tracked("batches/b1").await;
    assert_eq!(
        (state.as_str(), origin.as_deref(), polls),
        ("done", Some("poll"), 1)
    );
    // The event is the one a webhook carries.
    let body: Vec<u8> = admin()
        .await
        .query_one(
            &format!("SELECT body FROM {} WHERE verified_by = 'poll'", fx.table),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let GeminiEvent::BatchSucceeded(event) = GeminiEvent::from_slice(&body).unwrap() else {
        panic!("a batch.succeeded")
    };
    assert_eq!(event.data.id, "batches/b1");
    assert_eq!(event.data.output_file_uri.as_deref(), Some("files/b1-out"));
    assert_eq!(event.version, "v1");
    worker.abort();
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_first_closes_the_job_so_it_is_never_polled() {
    let fx = Fixture::new().await;
    fx.track("batches/b2", Duration::from_secs(3600)).await;
    // The guide's form of the id: no `batches/`.
    assert_eq!(
        fx.webhook("msg_b2", "batch.succeeded", "b2").await,
        StatusCode::ACCEPTED
    );
    let (state, origin, ..) = fx.tracked("batches/b2").await;
    assert_eq!(
        (state.as_str(), origin.as_deref()),
        ("done", Some("webhook"))
    );
    let counts = Tracking::new(&fx.inbox).counts().await.unwrap();
    assert_eq!((counts.open, counts.by_webhook), (0, 1));
    fx.fast_forward("batches/b2").await;
    assert_eq!(fx.reconciler().run_once().await.unwrap().polled, 0);
    assert_eq!(fx.mock.all_calls(), 0, "never polled");
    // Listed as done by its webhook; untracked, it is remembered as ended:
    // tracked again, it is found done and never polled.
    let tracking = Tracking::new(&fx.inbox);
    let listed = tracking.list(Some(TrackedState::Done), 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].resource.as_str(), listed[0].key.as_str()),
        ("batches/b2", "batch:b2")
    );
    assert_eq!(listed[0].origin.as_deref(), Some("webhook"));
    assert!(listed[0].closed_at.is_some());
    assert!(
        tracking
            .list(Some(TrackedState::Open), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let name = JobName::parse("batches/b2").unwrap();
    assert!(tracking.untrack(&name).await.unwrap());
    assert!(!tracking.untrack(&name).await.unwrap(), "no longer tracked");
    assert!(tracking.list(None, 10).await.unwrap().is_empty());
    assert_eq!(tracking.counts().await.unwrap().by_webhook, 0);
    assert!(tracking.track(&TrackedJob::new(name)).await.unwrap());
    let (state, ..) = fx.tracked("batches/b2").await;
    assert_eq!(state, "done", "remembered as ended");
    fx.finish().await;
}

/// A job tracked by mistake is untracked: removed, never polled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untracked_open_job_is_never_polled() {
    let fx = Fixture::new().await;
    fx.track("batches/typo", Duration::from_secs(60)).await;
    let tracking = Tracking::new(&fx.inbox);
    let listed = tracking.list(None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].state, listed[0].polls), (TrackedState::Open, 0));
    assert!(
        tracking
            .untrack(&JobName::parse("batches/typo").unwrap())
            .await
            .unwrap()
    );
    assert_eq!(tracking.counts().await.unwrap().open, 0);
    assert_eq!(fx.reconciler().run_once().await.unwrap().polled, 0);
    assert_eq!(fx.mock.all_calls(), 0, "never polled");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_after_the_poll_and_a_second_webhook_id_are_no_ops() {
    let fx = Fixture::new().await;
    fx.track("batches/b3", Duration::ZERO).await;
    fx.mock
        .set("batches/b3", gemini_mock::batch("batches/b3", "FAILED"));
    assert_eq!(fx.reconciler().run_once().await.unwrap().stored, 1);
    // The late webhook, then the same completion under another webhook id
    // (a static and a dynamic webhook both configured).
    assert_eq!(
        fx.webhook("msg_late", "batch.failed", "batches/b3").await,
        StatusCode::OK
    );
    assert_eq!(
        fx.webhook("msg_other", "batch.failed", "b3").await,
        StatusCode::OK
    );
    // Without tracking too: two webhook ids of one completion, stored once.
    assert_eq!(
        fx.webhook("msg_a", "video.generated", "models/veo/operations/v9")
            .await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        fx.webhook("msg_b", "video.generated", "models/veo/operations/v9")
            .await,
        StatusCode::OK
    );
    let handled = Handled::default();
    let worker = fx.worker(&handled);
    eventually("both completions handled", || async {
        handled.total() == 2
    })
    .await;
    let failed = handled.of("b3");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].0.as_str(), failed[0].1),
        ("batch.failed", Origin::Poll)
    );
    let video = handled.of("v9");
    assert_eq!((video.len(), video[0].1), (1, Origin::Webhook));
    // Two rows in all: the handler runs before its job's done mark commits.
    eventually("both marked done", || async {
        fx.inbox.counts().await.unwrap().done == 2
    })
    .await;
    let counts = fx.inbox.counts().await.unwrap();
    assert_eq!(counts.pending + counts.running + counts.dead, 0);
    worker.abort();
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_poll_at_the_same_instant_on_two_replicas_run_once() {
    let fx = Fixture::new().await;
    let replica = Inbox::builder(database_url())
        .table(&fx.table)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let replica_app = Router::new().route_service(
        "/webhooks/gemini",
        replica.service(common::verifier(&fx.secret)),
    );
    let names: Vec<String> = (0..40).map(|i| format!("batches/race{i}")).collect();
    for name in &names {
        fx.track(name, Duration::ZERO).await;
        fx.mock.set(name, gemini_mock::batch(name, "SUCCEEDED"));
    }
    let first = fx.reconciler().batch_size(8);
    let second = Reconciler::new(&replica, fx.mock.client()).batch_size(8);
    let rounds = async {
        let (mut a, mut b) = (0, 0);
        loop {
            let (x, y) = tokio::join!(first.run_once(), second.run_once());
            let (x, y) = (x.unwrap(), y.unwrap());
            (a, b) = (a + x.stored, b + y.stored);
            if x.polled == 0 && y.polled == 0 {
                return a + b;
            }
        }
    };
    let webhooks = async {
        for (i, name) in names.iter().enumerate() {
            let app = if i % 2 == 0 { &fx.app } else { &replica_app };
            let request: axum::http::Request<axum::body::Body> = Signer::hmac(&fx.secret)
                .unwrap()
                .id(format!("msg_race_{i}"))
                .request(
                    "/webhooks/gemini",
                    sample_event_for("batch.succeeded", name),
                );
            let status = app.clone().oneshot(request).await.unwrap().status();
            assert!(status.is_success(), "{status}");
        }
    };
    let (polled_stored, ()) = tokio::join!(rounds, webhooks);
    let handled = Handled::default();
    let worker = fx.worker(&handled);
    eventually("every job handled", || async { handled.total() >= 40 }).await;
    let counts = fx.inbox.counts().await.unwrap();
    assert_eq!(
        counts.done + counts.pending + counts.running,
        40,
        "one row per job"
    );
    for name in &names {
        assert_eq!(handled.of(name).len(), 1, "{name} once");
    }
    let tracked = Tracking::new(&fx.inbox).counts().await.unwrap();
    assert_eq!(tracked.open, 0);
    assert_eq!(
        tracked.by_webhook + tracked.by_poll,
        40,
        "each closed once: {tracked:?}"
    );
    assert_eq!(
        tracked.by_poll as usize, polled_stored,
        "by poll = stored by poll"
    );
    worker.abort();
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_is_polled_again_with_backoff_and_delivered_when_it_ends() {
    let fx = Fixture::new().await;
    let name = "models/veo-3/operations/op1";
    fx.track(name, Duration::ZERO).await;
    fx.mock.set(name, gemini_mock::video(name, "running"));
    let reconciler = Reconciler::new(&fx.inbox, fx.mock.client())
        .poll_interval(Duration::from_secs(60))
        .max_poll_interval(Duration::from_secs(600));
    for polls in 1..=3 {
        let round = reconciler.run_once().await.unwrap();
        assert_eq!((round.polled, round.running, round.stored), (1, 1, 0));
        let (state, _, seen, _, wait) = fx.tracked(name).await;
        assert_eq!((state.as_str(), seen), ("open", polls));
        // 60 s, 120 s, 240 s: doubled each poll (within a second of slack).
        let expected = 60.0 * f64::from(1 << (polls - 1));
        assert!((wait - expected).abs() < 5.0, "poll {polls}: {wait} s");
        assert_eq!(
            reconciler.run_once().await.unwrap().polled,
            0,
            "not yet due"
        );
        fx.fast_forward(name).await;
    }
    fx.mock.set(name, gemini_mock::video(name, "done"));
    assert_eq!(reconciler.run_once().await.unwrap().stored, 1);
    let handled = Handled::default();
    let worker = fx.worker(&handled);
    eventually("the video handled", || async { handled.total() == 1 }).await;
    assert_eq!(handled.of(name)[0].0, "video.generated");
    worker.abort();
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_back_off_the_job_alone_and_lose_nothing() {
    let fx = Fixture::new().await;
    fx.track("batches/e1", Duration::ZERO).await;
    fx.mock
        .set("batches/e1", gemini_mock::batch("batches/e1", "SUCCEEDED"));
    let reconciler = fx.reconciler().retry_backoff(Duration::from_secs(30));
    for (failures, status) in [(1, 429), (2, 500), (3, 503)] {
        fx.mock.fail_next(1, status);
        let round = reconciler.run_once().await.unwrap();
        assert_eq!((round.failed, round.stored), (1, 0));
        assert_eq!(round.rate_limited, status == 429);
        let (state, _, _, seen_failures, wait) = fx.tracked("batches/e1").await;
        assert_eq!((state.as_str(), seen_failures), ("open", failures));
        let expected = 30.0 * f64::from(1 << (failures - 1));
        assert!(
            (wait - expected.min(60.0)).abs() < 5.0,
            "{status}: {wait} s"
        );
        fx.fast_forward("batches/e1").await;
    }
    assert_eq!(reconciler.run_once().await.unwrap().stored, 1);
    let (state, origin, _, failures, _) = fx.tracked("batches/e1").await;
    assert_eq!(
        (state.as_str(), origin.as_deref(), failures),
        ("done", Some("poll"), 3)
    );
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_jobs_failing_poll_does_not_stop_the_others() {
    let fx = Fixture::new().await;
    fx.track("batches/ok", Duration::ZERO).await;
    fx.track("batches/missing", Duration::ZERO).await;
    fx.mock
        .set("batches/ok", gemini_mock::batch("batches/ok", "SUCCEEDED"));
    let round = fx.reconciler().run_once().await.unwrap();
    assert_eq!((round.polled, round.stored, round.failed), (2, 1, 1));
    assert_eq!(fx.tracked("batches/ok").await.0, "done");
    assert_eq!(fx.tracked("batches/missing").await.0, "open");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_action_is_delivered_once_per_action_and_a_failed_video_as_video_failed() {
    let fx = Fixture::new().await;
    fx.track("interactions/i1", Duration::ZERO).await;
    fx.track("models/veo/operations/bad", Duration::ZERO).await;
    fx.mock.set(
        "interactions/i1",
        gemini_mock::interaction("i1", "requires_action", 2),
    );
    fx.mock.set(
        "models/veo/operations/bad",
        gemini_mock::video("models/veo/operations/bad", "failed"),
    );
    let reconciler = fx.reconciler();
    assert_eq!(reconciler.run_once().await.unwrap().stored, 2);
    // Still waiting on the same action: nothing new.
    fx.fast_forward("interactions/i1").await;
    let round = reconciler.run_once().await.unwrap();
    assert_eq!((round.polled, round.stored, round.running), (1, 0, 1));
    // A new action (a new step), then the end.
    fx.mock.set(
        "interactions/i1",
        gemini_mock::interaction("i1", "requires_action", 4),
    );
    fx.fast_forward("interactions/i1").await;
    assert_eq!(reconciler.run_once().await.unwrap().stored, 1);
    fx.mock.set(
        "interactions/i1",
        gemini_mock::interaction("i1", "completed", 5),
    );
    fx.fast_forward("interactions/i1").await;
    assert_eq!(reconciler.run_once().await.unwrap().stored, 1);
    let handled = Handled::default();
    let worker = fx.worker(&handled);
    eventually("four events handled", || async { handled.total() == 4 }).await;
    let types: Vec<String> = handled.of("i1").into_iter().map(|run| run.0).collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "interaction.requires_action")
            .count(),
        2
    );
    assert!(types.contains(&"interaction.completed".to_owned()));
    let video = handled.of("bad");
    assert_eq!(video[0].0, "video.failed");
    worker.abort();
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_not_ended_by_its_horizon_is_abandoned() {
    let fx = Fixture::new().await;
    fx.track("batches/slow", Duration::ZERO).await;
    fx.mock.set(
        "batches/slow",
        gemini_mock::batch("batches/slow", "RUNNING"),
    );
    fx.past_horizon().await;
    let round = fx.reconciler().run_once().await.unwrap();
    assert_eq!(round.abandoned, 1);
    assert_eq!(fx.tracked("batches/slow").await.0, "abandoned");
    assert_eq!(
        Tracking::new(&fx.inbox).counts().await.unwrap().abandoned,
        1
    );
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_endpoint_makes_every_job_due_and_is_re_enabled_when_asked() {
    for reenable in [false, true] {
        let fx = Fixture::new().await;
        fx.track("batches/d1", Duration::from_secs(3600)).await;
        fx.mock
            .set("batches/d1", gemini_mock::batch("batches/d1", "SUCCEEDED"));
        // Due later, on its own: many rounds pass before it is polled.
        fx.track("batches/d2", Duration::from_millis(300)).await;
        fx.mock
            .set("batches/d2", gemini_mock::batch("batches/d2", "SUCCEEDED"));
        fx.mock
            .set_webhook_state("disabled_due_to_failed_deliveries");
        let reconciler = fx
            .reconciler()
            .watch_webhook("wh1")
            .reenable(reenable)
            .tick(Duration::from_millis(20));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(reconciler.run_until(async {
            let _ = stopped.await;
        }));
        // Its deadline is an hour away: polled because no webhook comes.
        eventually("the job polled at once", || async {
            fx.tracked("batches/d1").await.0 == "done"
        })
        .await;
        eventually("the later job polled", || async {
            fx.tracked("batches/d2").await.0 == "done"
        })
        .await;
        let _ = stop.send(());
        running.await.unwrap();
        assert_eq!(
            fx.mock.calls("/v1beta/webhooks/wh1"),
            1 + usize::from(reenable),
            "one check (and the PATCH) per health interval (5 min), not per round"
        );
        let patches = fx.mock.patches();
        if reenable {
            assert_eq!(patches.len(), 1);
            assert!(
                patches[0].0.contains("update_mask=state"),
                "{:?}",
                patches[0]
            );
            assert_eq!(patches[0].1["state"], "enabled");
        } else {
            assert!(patches.is_empty(), "left disabled: {patches:?}");
        }
        fx.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_twice_keeps_the_first_and_track_in_commits_with_the_transaction() {
    let fx = Fixture::new().await;
    let job = fx.track("batches/t1", Duration::from_secs(60)).await;
    assert!(
        !Tracking::new(&fx.inbox).track(&job).await.unwrap(),
        "already tracked"
    );
    let mut connection = fx.inbox.connection().await.unwrap();
    let other = TrackedJob::new(JobName::parse("interactions/t2").unwrap());
    {
        let transaction = connection.transaction().await.unwrap();
        assert!(
            Tracking::new(&fx.inbox)
                .track_in(&*transaction, &other)
                .await
                .unwrap()
        );
        transaction.rollback().await.unwrap();
    }
    let count_sql = format!("SELECT count(*) FROM {}_tracked", fx.table);
    let count = async |connection: &deadpool_postgres::Object| -> i64 {
        connection.query_one(&count_sql, &[]).await.unwrap().get(0)
    };
    assert_eq!(
        count(&connection).await,
        1,
        "rolled back with the transaction"
    );
    let transaction = connection.transaction().await.unwrap();
    assert!(
        Tracking::new(&fx.inbox)
            .track_in(&*transaction, &other)
            .await
            .unwrap()
    );
    transaction.commit().await.unwrap();
    assert_eq!(count(&connection).await, 2);
    // Its kind's default: an interaction is expected within the hour.
    let (_, _, _, _, wait) = fx.tracked("interactions/t2").await;
    assert!((wait - 3600.0).abs() < 5.0, "{wait}");
    drop(connection);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_does_not_end_the_job_pushes_its_deadline_out() {
    let fx = Fixture::new().await;
    fx.track("interactions/a1", Duration::from_secs(600)).await;
    fx.fast_forward("interactions/a1").await;
    assert_eq!(
        fx.webhook("msg_action", "interaction.requires_action", "a1")
            .await,
        StatusCode::ACCEPTED
    );
    let (state, _, polls, _, wait) = fx.tracked("interactions/a1").await;
    assert_eq!((state.as_str(), polls), ("open", 0));
    assert!((wait - 600.0).abs() < 5.0, "deferred by its wait: {wait} s");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_for_a_job_a_reconciler_holds_is_not_held_up_and_runs_once() {
    let fx = Fixture::new().await;
    fx.track("batches/held", Duration::ZERO).await;
    fx.mock.set(
        "batches/held",
        gemini_mock::batch("batches/held", "SUCCEEDED"),
    );
    // A reconciler mid-round: the job's row locked, its poll under way.
    let mut holder = common::pg::connect(&database_url()).await;
    let round = holder.transaction().await.unwrap();
    round
        .execute(
            &format!(
                "SELECT 1 FROM {}_tracked WHERE resource = 'batches/held' FOR UPDATE",
                fx.table
            ),
            &[],
        )
        .await
        .unwrap();
    // Ingest skips the locked row instead of waiting for it (the inbox's
    // 10 s timeout would turn a wait into a 503).
    assert_eq!(
        fx.webhook("msg_held", "batch.succeeded", "batches/held")
            .await,
        StatusCode::ACCEPTED
    );
    round.rollback().await.unwrap();
    assert_eq!(fx.tracked("batches/held").await.0, "open", "skipped");
    // The poll finds the webhook's copy stored: it closes the job, as seen.
    let round = fx.reconciler().run_once().await.unwrap();
    assert_eq!((round.stored, round.already_stored), (0, 1));
    let (state, origin, ..) = fx.tracked("batches/held").await;
    assert_eq!(
        (state.as_str(), origin.as_deref()),
        ("done", Some("webhook"))
    );
    let handled = Handled::default();
    let worker = fx.worker(&handled);
    eventually("handled", || async { handled.total() == 1 }).await;
    assert_eq!(handled.of("held")[0].1, Origin::Webhook);
    worker.abort();
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_a_backlog_between_rounds() {
    let fx = Fixture::new().await;
    for i in 0..3 {
        let name = format!("batches/backlog{i}");
        fx.track(&name, Duration::ZERO).await;
        fx.mock.set(&name, gemini_mock::batch(&name, "RUNNING"));
    }
    // A backlog runs round after round, without waiting for the tick.
    let mock = fx.mock.clone();
    let backlog = fx
        .reconciler()
        .batch_size(1)
        .tick(Duration::from_secs(3600))
        .run_until(async move {
            while mock.all_calls() < 3 {
                tokio::task::yield_now().await;
            }
        });
    tokio::time::timeout(Duration::from_secs(60), backlog)
        .await
        .expect("rounds back to back, not a tick apart");
    admin()
        .await
        .execute(
            &format!(
                "UPDATE {}_tracked SET next_poll_at = now(), polls = 0",
                fx.table
            ),
            &[],
        )
        .await
        .unwrap();
    let before = fx.mock.all_calls();
    // Already signalled: not one round.
    fx.reconciler().batch_size(1).run_until(async {}).await;
    assert_eq!(fx.mock.all_calls(), before);
    // Signalled after the first poll: that round ends, no other starts,
    // though two more jobs are due (rounds would run back to back).
    let mock = fx.mock.clone();
    fx.reconciler()
        .batch_size(1)
        .run_until(async move {
            while mock.all_calls() == before {
                tokio::task::yield_now().await;
            }
        })
        .await;
    assert_eq!(fx.mock.all_calls(), before + 1);
    assert_eq!(Tracking::new(&fx.inbox).counts().await.unwrap().overdue, 2);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reconciles_until_dropped() {
    let fx = Fixture::new().await;
    fx.track("batches/r1", Duration::ZERO).await;
    fx.mock
        .set("batches/r1", gemini_mock::batch("batches/r1", "SUCCEEDED"));
    let running = tokio::spawn(fx.reconciler().tick(Duration::from_millis(20)).run());
    eventually("polled", || async {
        fx.tracked("batches/r1").await.0 == "done"
    })
    .await;
    running.abort();
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_poll_past_the_horizon_abandons_the_job() {
    let fx = Fixture::new().await;
    fx.track("batches/gone", Duration::ZERO).await;
    fx.past_horizon().await;
    // Not in the mock: 404.
    let round = fx.reconciler().run_once().await.unwrap();
    assert_eq!((round.failed, round.abandoned), (1, 1));
    assert_eq!(fx.tracked("batches/gone").await.0, "abandoned");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_after_replaces_the_kinds_default_wait_only() {
    let fx = Fixture::new().await;
    let defaulted = TrackedJob::new(JobName::parse("batches/dflt").unwrap());
    assert!(Tracking::new(&fx.inbox).track(&defaulted).await.unwrap());
    fx.track("batches/own", Duration::from_secs(3600)).await;
    for name in ["batches/dflt", "batches/own"] {
        fx.mock.set(name, gemini_mock::batch(name, "SUCCEEDED"));
    }
    // A day away by the batch default; due at once with the override.
    assert_eq!(fx.reconciler().run_once().await.unwrap().polled, 0);
    let reconciler = fx.reconciler().reconcile_after(Duration::ZERO);
    let round = reconciler.run_once().await.unwrap();
    assert_eq!((round.polled, round.stored), (1, 1));
    assert_eq!(fx.tracked("batches/dflt").await.0, "done");
    let (state, _, _, _, wait) = fx.tracked("batches/own").await;
    assert_eq!(state, "open", "its own wait stands");
    assert!((wait - 3600.0).abs() < 5.0, "{wait}");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ending_per_job_is_handled_whatever_type_webhook_and_poll_give_it() {
    let fx = Fixture::new().await;
    // The poll reads `incomplete` and stores `interaction.failed`; the
    // webhook's retry then says `interaction.completed`.
    fx.track("interactions/i7", Duration::ZERO).await;
    fx.mock.set(
        "interactions/i7",
        gemini_mock::interaction("i7", "incomplete", 3),
    );
    assert_eq!(fx.reconciler().run_once().await.unwrap().stored, 1);
    assert_eq!(
        fx.webhook("msg_i7", "interaction.completed", "interactions/i7")
            .await,
        StatusCode::OK,
        "a later ending of another type is a no-op"
    );
    // Untracked: two webhooks naming one batch's end differently.
    assert_eq!(
        fx.webhook("msg_b8a", "batch.cancelled", "batches/b8").await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        fx.webhook("msg_b8b", "batch.failed", "b8").await,
        StatusCode::OK
    );
    // A tracked video closed by a webhook whose data.id is only the
    // operation's last segment: never polled.
    fx.track("models/veo/operations/o5", Duration::ZERO).await;
    assert_eq!(
        fx.webhook("msg_o5", "video.generated", "o5").await,
        StatusCode::ACCEPTED
    );
    let (state, origin, ..) = fx.tracked("models/veo/operations/o5").await;
    assert_eq!(
        (state.as_str(), origin.as_deref()),
        ("done", Some("webhook"))
    );
    assert_eq!(fx.reconciler().run_once().await.unwrap().polled, 0);
    let handled = Handled::default();
    let worker = fx.worker(&handled);
    eventually("three endings handled", || async {
        fx.inbox.counts().await.unwrap().done == 3
    })
    .await;
    let interaction = handled.of("i7");
    assert_eq!(interaction.len(), 1);
    assert_eq!(
        (interaction[0].0.as_str(), interaction[0].1),
        ("interaction.failed", Origin::Poll)
    );
    let batch = handled.of("b8");
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].0, "batch.cancelled");
    assert_eq!(handled.of("o5").len(), 1);
    assert_eq!(handled.total(), 3);
    worker.abort();
    fx.finish().await;
}

#[tokio::test]
async fn endings_stored_under_their_type_are_re_keyed_per_job_by_the_schema() {
    let fx = Fixture::new().await;
    // The schema exists once the inbox has stored something.
    assert_eq!(
        fx.webhook("msg_first", "batch.succeeded", "batches/b0")
            .await,
        StatusCode::ACCEPTED
    );
    let admin = admin().await;
    let insert = format!(
        "INSERT INTO {} (id, webhook_id, signed_at, verified_by, body, completion_key) \
         VALUES ($1, $1, 0, 'hmac', '\\x7b7d', $2)",
        fx.table
    );
    // As an older version stored them: the ending's type in the key, and
    // (its defect) two endings of one interaction.
    for (id, key) in [
        ("old_b1", "batch.succeeded:b1"),
        ("old_i1a", "interaction.completed:i1"),
        ("old_i1b", "interaction.failed:i1"),
        ("old_act", "interaction.requires_action:i1:2"),
    ] {
        admin.execute(&insert, &[&id, &key]).await.unwrap();
    }
    admin
        .batch_execute(&Inbox::schema_sql(&fx.table))
        .await
        .unwrap();
    let key = |id: &'static str| {
        let admin = &admin;
        let sql = format!("SELECT completion_key FROM {} WHERE id = $1", fx.table);
        async move {
            let row = admin.query_one(&sql, &[&id]).await.unwrap();
            row.get::<_, String>(0)
        }
    };
    assert_eq!(key("old_b1").await, "batch:b1");
    assert_eq!(
        key("old_i1a").await,
        "interaction:i1",
        "the first of the two"
    );
    assert_eq!(key("old_i1b").await, "interaction.failed:i1");
    assert_eq!(key("old_act").await, "interaction.requires_action:i1:2");
    assert_eq!(key("msg_first").await, "batch:b0");
    // So a later ending of the re-keyed batch is a no-op.
    assert_eq!(
        fx.webhook("msg_b1", "batch.failed", "batches/b1").await,
        StatusCode::OK
    );
    // Running it again changes nothing.
    admin
        .batch_execute(&Inbox::schema_sql(&fx.table))
        .await
        .unwrap();
    assert_eq!(key("old_i1b").await, "interaction.failed:i1");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_tracked_after_its_webhook_and_its_done_row_is_found_done_not_polled() {
    let fx = Fixture::new().await;
    assert_eq!(
        fx.webhook("msg_early", "batch.succeeded", "batches/b9")
            .await,
        StatusCode::ACCEPTED
    );
    let handled = Handled::default();
    let worker = fx.worker(&handled);
    eventually("handled", || async {
        fx.inbox.counts().await.unwrap().done == 1
    })
    .await;
    worker.abort();
    // 26 hours on: the done row is past keep_done (25 h) and cleaned up.
    let admin = admin().await;
    admin
        .execute(
            &format!(
                "UPDATE {} SET finished_at = now() - interval '26 hours'",
                fx.table
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(fx.inbox.cleanup_done().await.unwrap(), 1);
    // Untracked, it is no tracked job of the counts.
    assert_eq!(
        Tracking::new(&fx.inbox).counts().await.unwrap(),
        Default::default()
    );
    // Tracked now, an hour late for a batch's 24 h wait: found done.
    fx.mock
        .set("batches/b9", gemini_mock::batch("batches/b9", "SUCCEEDED"));
    let job = fx.track("batches/b9", Duration::ZERO).await;
    let (state, origin, ..) = fx.tracked("batches/b9").await;
    assert_eq!(
        (state.as_str(), origin.as_deref()),
        ("done", Some("webhook"))
    );
    assert_eq!(fx.reconciler().run_once().await.unwrap().polled, 0);
    assert_eq!(fx.mock.all_calls(), 0, "never polled");
    assert!(
        !Tracking::new(&fx.inbox).track(&job).await.unwrap(),
        "tracked already"
    );
    let counts = Tracking::new(&fx.inbox).counts().await.unwrap();
    assert_eq!((counts.open, counts.by_webhook), (0, 1));
    assert_eq!(handled.total(), 1);
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_tracked_jobs_past_their_horizon_are_cleaned_up_and_open_ones_stay() {
    let fx = Fixture::new().await;
    fx.track("batches/c1", Duration::from_secs(3600)).await;
    assert_eq!(
        fx.webhook("msg_c1", "batch.succeeded", "batches/c1").await,
        StatusCode::ACCEPTED
    );
    fx.track("batches/c2", Duration::from_secs(3600)).await;
    // Remembered only (never tracked), by its webhook.
    assert_eq!(
        fx.webhook("msg_c3", "batch.failed", "batches/c3").await,
        StatusCode::ACCEPTED
    );
    let admin = admin().await;
    let tracked_keys = async || -> Vec<String> {
        let sql = format!("SELECT job_key FROM {}_tracked ORDER BY job_key", fx.table);
        let rows = admin.query(&sql, &[]).await.unwrap();
        rows.iter().map(|row| row.get(0)).collect()
    };
    assert_eq!(tracked_keys().await, ["batch:c1", "batch:c2", "batch:c3"]);
    // A day and a minute past every horizon: the closed ones go.
    fx.past_horizon_by("24 hours 1 minute").await;
    fx.inbox.cleanup_done().await.unwrap();
    assert_eq!(tracked_keys().await, ["batch:c2"], "the open one stays");
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_job_can_be_reopened_and_is_then_polled_to_its_end() {
    let fx = Fixture::new().await;
    fx.track("batches/r1", Duration::ZERO).await;
    fx.past_horizon().await;
    // Not in the mock (a revoked key looks alike): abandoned.
    assert_eq!(fx.reconciler().run_once().await.unwrap().abandoned, 1);
    let name = JobName::parse("batches/r1").unwrap();
    let open = JobName::parse("batches/never-tracked").unwrap();
    assert!(!Tracking::new(&fx.inbox).reopen(&open).await.unwrap());
    assert!(Tracking::new(&fx.inbox).reopen(&name).await.unwrap());
    assert!(
        !Tracking::new(&fx.inbox).reopen(&name).await.unwrap(),
        "open already"
    );
    let (state, _, _, failures, wait) = fx.tracked("batches/r1").await;
    assert_eq!((state.as_str(), failures), ("open", 0));
    assert!(wait <= 0.0, "due at once ({wait})");
    fx.mock
        .set("batches/r1", gemini_mock::batch("batches/r1", "SUCCEEDED"));
    assert_eq!(fx.reconciler().run_once().await.unwrap().stored, 1);
    assert_eq!(fx.tracked("batches/r1").await.0, "done");
    fx.finish().await;
}

#[tokio::test]
async fn a_wait_the_database_cannot_hold_is_refused_before_any_statement() {
    // Nothing listens on port 1: any statement would fail otherwise.
    let inbox = Inbox::builder("postgres://postgres@127.0.0.1:1/postgres")
        .build()
        .unwrap();
    let job = TrackedJob::new(JobName::parse("batches/far").unwrap()).expect_within(
        gemini_webhooks_postgres::reconcile::MAX_EXPECT_WITHIN + Duration::from_secs(1),
    );
    let err = Tracking::new(&inbox).track(&job).await.unwrap_err();
    assert!(
        matches!(
            err,
            gemini_webhooks_postgres::inbox::InboxError::InvalidArgument(_)
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("longer than"), "{err}");
}
