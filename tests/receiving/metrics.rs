//! Feature `metrics`: every outcome of the status table is counted under its
//! documented name and labels, and verification time is recorded.

#![cfg(all(feature = "metrics", feature = "jwks-fetch"))]

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use common::{DownStore, EVENT, Handled, app, event_with};
use gemini_webhooks::metrics::{DELIVERIES, VERIFICATION_SECONDS};
use gemini_webhooks::replay::{MemoryReplayStore, ReplayStore};
use gemini_webhooks::testing::{Signer, generate_ed25519_key, generate_secret};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{Verifier, metrics as names};
use http::HeaderMap;
use metrics::{Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata};
use metrics::{Recorder, SharedString, Unit};

/// What was recorded, by `name{label=value,...}` (labels in order given).
#[derive(Clone, Default)]
struct Recorded {
    counters: Arc<Mutex<HashMap<String, u64>>>,
    histograms: Arc<Mutex<HashMap<String, Vec<f64>>>>,
    gauges: Arc<Mutex<HashMap<String, f64>>>,
}

struct Level(Arc<Mutex<HashMap<String, f64>>>, String);

impl metrics::GaugeFn for Level {
    fn increment(&self, value: f64) {
        *self.0.lock().unwrap().entry(self.1.clone()).or_default() += value;
    }
    fn decrement(&self, value: f64) {
        *self.0.lock().unwrap().entry(self.1.clone()).or_default() -= value;
    }
    fn set(&self, value: f64) {
        self.0.lock().unwrap().insert(self.1.clone(), value);
    }
}

struct Count(Arc<Mutex<HashMap<String, u64>>>, String);
struct Samples(Arc<Mutex<HashMap<String, Vec<f64>>>>, String);

impl CounterFn for Count {
    fn increment(&self, value: u64) {
        *self.0.lock().unwrap().entry(self.1.clone()).or_default() += value;
    }
    fn absolute(&self, value: u64) {
        self.0.lock().unwrap().insert(self.1.clone(), value);
    }
}

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0
            .lock()
            .unwrap()
            .entry(self.1.clone())
            .or_default()
            .push(value);
    }
}

fn series(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Count(self.counters.clone(), series(key))))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Level(self.gauges.clone(), series(key))))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Samples(self.histograms.clone(), series(key))))
    }
}

impl Recorded {
    fn count(&self, series: &str) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(series)
            .copied()
            .unwrap_or(0)
    }

    fn samples(&self, series: &str) -> usize {
        self.histograms
            .lock()
            .unwrap()
            .get(series)
            .map_or(0, Vec::len)
    }
}

/// Runs `test` on a current-thread runtime with `recorder` installed for
/// this thread only, so tests running in parallel do not mix their counts.
fn with_recorder<F: Future>(recorder: &Recorded, test: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(recorder, || runtime.block_on(test))
}

async fn send(app: &axum::Router, headers: &HeaderMap, body: &str) -> StatusCode {
    common::send(app, headers, body).await.0
}

#[test]
fn the_documented_names_are_the_ones_recorded() {
    assert_eq!(names::DELIVERIES, "gemini_webhooks_deliveries_total");
    assert_eq!(
        names::VERIFICATION_SECONDS,
        "gemini_webhooks_verification_seconds"
    );
}

#[test]
fn every_outcome_is_counted_with_its_labels() {
    let recorded = Recorded::default();
    with_recorder(&recorded, async {
        let secret = generate_secret();
        let signer = Signer::hmac(&secret).unwrap();
        let store = MemoryReplayStore::new();
        let handled = Handled::default();
        let verifier = common::verifier(&secret);
        let app =
            app(handled.clone()).layer(WebhookLayer::new(verifier).replay_store(store.clone()));

        let valid = signer.clone().id("msg_ok").sign(EVENT.as_bytes());
        assert_eq!(send(&app, &valid, EVENT).await, StatusCode::OK);
        assert_eq!(send(&app, &valid, EVENT).await, StatusCode::OK); // duplicate

        let failing = event_with(r#""fail_handler": true"#);
        let headers = signer.clone().id("msg_fail").sign(failing.as_bytes());
        assert_eq!(send(&app, &headers, &failing).await, 500);

        store.claim("msg_busy").await.unwrap();
        let busy = signer.clone().id("msg_busy").sign(EVENT.as_bytes());
        assert_eq!(send(&app, &busy, EVENT).await, StatusCode::CONFLICT);

        let forged = signer.clone().id("msg_forged").sign(b"{}");
        assert_eq!(send(&app, &forged, EVENT).await, 401);
        let stale = signer
            .clone()
            .timestamp(SystemTime::now() - Duration::from_secs(3600))
            .sign(EVENT.as_bytes());
        assert_eq!(send(&app, &stale, EVENT).await, 401);
        assert_eq!(send(&app, &HeaderMap::new(), EVENT).await, 400);

        // A panicking handler: the request's task dies with it.
        let panics = event_with(r#""panic": true"#);
        let headers = signer.clone().id("msg_panic").sign(panics.as_bytes());
        let attempt = tokio::spawn({
            let app = app.clone();
            async move { send(&app, &headers, &panics).await }
        });
        assert!(attempt.await.unwrap_err().is_panic());

        let down = app_with_store(&secret, DownStore);
        assert_eq!(send(&down, &valid, EVENT).await, 503);
    });

    let outcome = |o: &str| recorded.count(&format!("{DELIVERIES}{{outcome={o}}}"));
    let reason = |r: &str| recorded.count(&format!("{DELIVERIES}{{outcome=rejected,reason={r}}}"));
    assert_eq!(outcome("handled"), 1);
    assert_eq!(outcome("duplicate"), 1);
    assert_eq!(outcome("handler_failed"), 1);
    assert_eq!(outcome("in_flight"), 1);
    assert_eq!(outcome("handler_unfinished"), 1);
    assert_eq!(outcome("store_unavailable"), 1);
    assert_eq!(reason("no_matching_signature"), 1);
    assert_eq!(reason("timestamp_too_old"), 1);
    assert_eq!(reason("missing_header"), 1);
    // Verified: ok, duplicate, fail, busy, panic, down; rejected: forged.
    // Header-stage rejections (stale, unsigned) never reach verification.
    assert_eq!(
        recorded.samples(&format!("{VERIFICATION_SECONDS}{{result=verified}}")),
        6
    );
    assert_eq!(
        recorded.samples(&format!("{VERIFICATION_SECONDS}{{result=rejected}}")),
        1
    );
}

fn app_with_store<S: ReplayStore>(secret: &str, store: S) -> axum::Router {
    app(Handled::default()).layer(WebhookLayer::new(common::verifier(secret)).replay_store(store))
}

#[test]
fn unreachable_keys_are_counted_as_keys_unavailable() {
    let recorded = Recorded::default();
    with_recorder(&recorded, async {
        // Nothing listens on port 1: the fetch fails at once.
        let verifier = Verifier::builder()
            .jwks_url("http://127.0.0.1:1/jwks")
            .unwrap()
            .build()
            .unwrap();
        let app = app(Handled::default()).layer(WebhookLayer::new(verifier));
        let key = generate_ed25519_key();
        let headers = Signer::ed25519(&key.private_key)
            .unwrap()
            .sign(EVENT.as_bytes());
        assert_eq!(send(&app, &headers, EVENT).await, 503);
    });
    assert_eq!(
        recorded.count(&format!("{DELIVERIES}{{outcome=keys_unavailable}}")),
        1
    );
    assert_eq!(
        recorded.samples(&format!("{VERIFICATION_SECONDS}{{result=rejected}}")),
        1
    );
}

#[test]
fn extractors_without_the_middleware_count_rejections() {
    let recorded = Recorded::default();
    with_recorder(&recorded, async {
        let secret = generate_secret();
        let app = axum::Router::new()
            .route(
                "/webhooks/gemini",
                axum::routing::post(|_: gemini_webhooks::Delivery| async { "ok" }),
            )
            .layer(axum::Extension(common::verifier(&secret)));
        let signer = Signer::hmac(&secret).unwrap();
        assert_eq!(send(&app, &signer.sign(EVENT.as_bytes()), EVENT).await, 200);
        assert_eq!(send(&app, &signer.sign(b"{}"), EVENT).await, 401);
    });
    assert_eq!(
        recorded.count(&format!(
            "{DELIVERIES}{{outcome=rejected,reason=no_matching_signature}}"
        )),
        1
    );
    assert_eq!(
        recorded.samples(&format!("{VERIFICATION_SECONDS}{{result=verified}}")),
        1
    );
}

/// An inbox on `table` of the database at `url`.
fn inbox(url: String, table: &str) -> gemini_webhooks_postgres::inbox::Inbox {
    gemini_webhooks_postgres::inbox::Inbox::builder(url)
        .table(table)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn inbox_outcomes_are_counted() {
    let recorded = Recorded::default();
    let table = common::pg::unique_table();
    with_recorder(&recorded, async {
        let secret = generate_secret();
        let inbox = |url: String| inbox(url, &table);
        let served = |inbox: gemini_webhooks_postgres::inbox::Inbox| {
            axum::Router::new()
                .route_service("/webhooks/gemini", inbox.service(common::verifier(&secret)))
        };
        let up = served(inbox(common::pg::database_url()));
        let headers = Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes());
        assert_eq!(send(&up, &headers, EVENT).await, 202);
        assert_eq!(send(&up, &headers, EVENT).await, 200);
        // Nothing listens on port 1.
        let down = served(inbox("postgres://postgres@127.0.0.1:1/postgres".to_owned()));
        assert_eq!(send(&down, &headers, EVENT).await, 503);
        common::pg::drop_table(&table).await;
    });
    for (outcome, count) in [("stored", 1), ("duplicate", 1), ("inbox_unavailable", 1)] {
        assert_eq!(
            recorded.count(&format!("{DELIVERIES}{{outcome={outcome}}}")),
            count,
            "{outcome}"
        );
    }
}

#[test]
fn inbox_jobs_are_counted_by_how_they_ended() {
    use gemini_webhooks::Delivery;
    use gemini_webhooks_postgres::metrics::{JOB_SECONDS, JOBS};
    let recorded = Recorded::default();
    let table = common::pg::unique_table();
    with_recorder(&recorded, async {
        let secret = generate_secret();
        let inbox = inbox(common::pg::database_url(), &table);
        let app = axum::Router::new()
            .route_service("/webhooks/gemini", inbox.service(common::verifier(&secret)));
        let signer = Signer::hmac(&secret).unwrap();
        // Two jobs' completions: one per job is stored.
        for body in [
            event_with(r#""kind":"ok""#),
            event_with(r#""kind":"fail""#).replace("batches/1", "batches/2"),
        ] {
            assert_eq!(send(&app, &signer.sign(body.as_bytes()), &body).await, 202);
        }
        // Fails every attempt for the delivery marked "fail": one retry,
        // then a dead letter.
        let worker = inbox
            .worker(|delivery: Delivery| async move {
                match String::from_utf8_lossy(delivery.body()).contains("fail") {
                    true => Err("refused"),
                    false => Ok(()),
                }
            })
            .max_attempts(2)
            .backoff(Duration::ZERO, Duration::ZERO);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(worker.run_until(async {
            let _ = stopped.await;
        }));
        common::eventually("one job done, one dead", || async {
            let counts = inbox.counts().await.unwrap();
            counts.done == 1 && counts.dead == 1
        })
        .await;
        stop.send(()).unwrap();
        running.await.unwrap();
        common::pg::drop_table(&table).await;
    });
    for (outcome, count) in [
        ("handled", 1),
        ("retried", 1),
        ("dead", 1),
        ("not_committed", 0),
    ] {
        let series = format!("{{outcome={outcome}}}");
        assert_eq!(
            recorded.count(&format!("{JOBS}{series}")),
            count,
            "{outcome}"
        );
        let samples = recorded.samples(&format!("{JOB_SECONDS}{series}"));
        assert_eq!(samples, count as usize, "{outcome}");
    }
}

#[test]
fn tracking_and_reconciliation_are_counted() {
    use common::gemini_mock::{self, GeminiMock};
    use gemini_webhooks::testing::sample_event_for;
    use gemini_webhooks_api::JobName;
    use gemini_webhooks_postgres::metrics::{
        COMPLETIONS, ENDPOINT_ENABLED, JOBS_TRACKED, LATE_WEBHOOKS, POLLS,
    };
    use gemini_webhooks_postgres::reconcile::{Reconciler, TrackedJob, Tracking};
    let recorded = Recorded::default();
    let table = common::pg::unique_table();
    with_recorder(&recorded, async {
        let secret = generate_secret();
        let inbox = inbox(common::pg::database_url(), &table);
        let app = axum::Router::new()
            .route_service("/webhooks/gemini", inbox.service(common::verifier(&secret)));
        let mock = GeminiMock::start().await;
        mock.set("batches/m1", gemini_mock::batch("batches/m1", "SUCCEEDED"));
        mock.set("batches/m2", gemini_mock::batch("batches/m2", "RUNNING"));
        mock.set_webhook_state("disabled");
        for name in ["batches/m1", "batches/m2"] {
            let job = TrackedJob::new(JobName::parse(name).unwrap()).expect_within(Duration::ZERO);
            assert!(Tracking::new(&inbox).track(&job).await.unwrap());
        }
        // A health check and a round, then it stops.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(
            Reconciler::new(&inbox, mock.client())
                .watch_webhook("wh9")
                .run_until(async {
                    let _ = stopped.await;
                }),
        );
        common::eventually("both jobs polled", || async {
            mock.calls("/v1beta/batches/m1") == 1 && mock.calls("/v1beta/batches/m2") >= 1
        })
        .await;
        stop.send(()).unwrap();
        running.await.unwrap();
        let webhook = |id: &str, job: &str| {
            let body =
                String::from_utf8(sample_event_for("batch.succeeded", job).to_vec()).unwrap();
            let headers = Signer::hmac(&secret).unwrap().id(id).sign(body.as_bytes());
            (headers, body)
        };
        let (headers, body) = webhook("msg_m1", "batches/m1");
        assert_eq!(send(&app, &headers, &body).await, 200, "late: polled first");
        let (headers, body) = webhook("msg_m3", "batches/m3");
        assert_eq!(send(&app, &headers, &body).await, 202);
        common::pg::drop_table(&table).await;
    });
    for (series, count) in [
        (format!("{JOBS_TRACKED}{{kind=batch}}"), 2),
        (format!("{COMPLETIONS}{{origin=poll}}"), 1),
        (format!("{COMPLETIONS}{{origin=webhook}}"), 1),
        (format!("{LATE_WEBHOOKS}{{}}"), 1),
        (format!("{POLLS}{{result=ended}}"), 1),
        (format!("{POLLS}{{result=running}}"), 1),
        (format!("{POLLS}{{result=failed}}"), 0),
    ] {
        assert_eq!(recorded.count(&series), count, "{series}");
    }
    assert_eq!(
        recorded
            .gauges
            .lock()
            .unwrap()
            .get(&format!("{ENDPOINT_ENABLED}{{webhook=wh9,state=disabled}}"))
            .copied(),
        Some(0.0)
    );
}
