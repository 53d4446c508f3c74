//! Traces across the queue (gemini-webhooks-postgres's feature
//! `opentelemetry`): a job's attempt continues the trace of the POST that
//! stored it, and a polled completion's attempt continues its poll's span.
//! Its own test binary with one test: the spans are recorded by the global
//! subscriber, which no other test's spans may reach, and a per-thread one
//! misses spans whose callsites other tests' threads registered first.

#![cfg(feature = "axum")]

mod common;

use std::time::Duration;

use common::gemini_mock::{self, GeminiMock};
use common::pg::{database_url, drop_table, unique_table};
use gemini_webhooks::GeminiEvent;
use gemini_webhooks::testing::{Signer, generate_secret, sample_event};
use gemini_webhooks_api::JobName;
use gemini_webhooks_postgres::inbox::Inbox;
use gemini_webhooks_postgres::reconcile::{Reconciler, TrackedJob, Tracking};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::ServiceExt as _;
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// The spans named `name`'s, panicking with all of them if there is none.
fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|span| span.name == name)
        .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
}

/// A handler that opens a span of its own.
async fn handler(_: GeminiEvent) -> Result<(), std::io::Error> {
    tracing::info_span!("handler").in_scope(|| ());
    Ok(())
}

#[tokio::test]
async fn attempts_continue_the_trace_of_the_post_or_the_poll_that_stored_them() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let table = unique_table();
    let inbox = Inbox::builder(database_url())
        .table(&table)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let worker = inbox.worker(handler);

    // A webhook: POST → ingest → the attempt → the handler.
    let secret = generate_secret();
    let request: http::Request<axum::body::Body> = Signer::hmac(&secret)
        .unwrap()
        .id("msg_traced")
        .request("/webhooks/gemini", sample_event("batch.succeeded"));
    let answer = inbox
        .service(common::verifier(&secret))
        .oneshot(request)
        .instrument(tracing::info_span!("POST /webhooks/gemini"))
        .await
        .unwrap();
    assert_eq!(answer.status(), http::StatusCode::ACCEPTED);
    assert_eq!(worker.run_once().await.unwrap().handled, 1);
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let (post, job, handled) = (
        named(&spans, "POST /webhooks/gemini"),
        named(&spans, "gemini_webhook_job"),
        named(&spans, "handler"),
    );
    let trace = post.span_context.trace_id();
    assert_eq!(
        job.span_context.trace_id(),
        trace,
        "the job continues the POST's trace"
    );
    assert_eq!(handled.parent_span_id, job.span_context.span_id());
    let attributes: Vec<(String, String)> = job
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect();
    for (key, value) in [
        ("messaging.system", "gemini-webhooks-inbox"),
        ("messaging.operation", "process"),
        ("messaging.message.id", "msg_traced"),
        ("messaging.destination.name", table.as_str()),
    ] {
        let pair = (key.to_owned(), value.to_owned());
        assert!(attributes.contains(&pair), "{key}: {attributes:?}");
    }

    // A poll: the reconciler's poll → the stored completion's attempt.
    exporter.reset();
    let mock = GeminiMock::start().await;
    let name = JobName::parse("batches/traced").unwrap();
    let tracked = TrackedJob::new(name).expect_within(Duration::ZERO);
    assert!(Tracking::new(&inbox).track(&tracked).await.unwrap());
    mock.set(
        "batches/traced",
        gemini_mock::batch("batches/traced", "SUCCEEDED"),
    );
    let reconciler = Reconciler::new(&inbox, mock.client());
    assert_eq!(reconciler.run_once().await.unwrap().stored, 1);
    assert_eq!(worker.run_once().await.unwrap().handled, 1);
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let (poll, job, handled) = (
        named(&spans, "gemini_webhook_poll"),
        named(&spans, "gemini_webhook_job"),
        named(&spans, "handler"),
    );
    assert_eq!(job.parent_span_id, poll.span_context.span_id());
    assert_eq!(job.span_context.trace_id(), poll.span_context.trace_id());
    assert_eq!(handled.parent_span_id, job.span_context.span_id());
    drop_table(&table).await;
}
