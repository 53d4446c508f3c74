//! Traces across the queue (feature `opentelemetry`): the trace context of
//! the span that stored a delivery (the request's, or a reconciler's
//! round's) is kept with its row, as the application's OpenTelemetry
//! propagator writes it (W3C `traceparent` with the usual one), and each
//! attempt's span continues it as its parent. Without the feature, or
//! without an OpenTelemetry layer, nothing is kept and nothing continued.

/// The current span's trace context, as the global propagator writes it
/// (a JSON object of its fields); `None` without a valid span context.
#[cfg(feature = "opentelemetry")]
pub(crate) fn current() -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut fields = std::collections::HashMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut fields);
    });
    (!fields.is_empty())
        .then(|| serde_json::to_string(&fields).ok())
        .flatten()
}

/// Without the feature: nothing kept.
#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn current() -> Option<String> {
    None
}

/// Makes `span` continue the trace context `stored` (from [`current`]);
/// a context that does not read is ignored.
#[cfg(feature = "opentelemetry")]
pub(crate) fn continue_in(span: &tracing::Span, stored: Option<&str>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let Some(fields) = stored.and_then(|text| {
        serde_json::from_str::<std::collections::HashMap<String, String>>(text).ok()
    }) else {
        return;
    };
    let parent =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&fields));
    let _ = span.set_parent(parent);
}

/// Without the feature: nothing continued.
#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn continue_in(_: &tracing::Span, _: Option<&str>) {}

#[cfg(all(test, feature = "opentelemetry"))]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tower_service::Service as _;
    use tracing::Instrument as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use crate::connection::plan_check;
    use crate::inbox::Inbox;
    use gemini_webhooks::GeminiEvent;
    use gemini_webhooks::testing::{Signer, generate_secret, sample_event};

    /// Spans recorded in memory while the returned guard lives, with the
    /// W3C propagator set.
    fn record_spans() -> (
        SdkTracerProvider,
        InMemorySpanExporter,
        tracing::subscriber::DefaultGuard,
    ) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        (provider, exporter, guard)
    }

    /// POSTs a signed delivery to `inbox`'s endpoint inside a span of
    /// its own, as an instrumented server would; answered 202.
    async fn post_traced(inbox: &Inbox, id: &str) {
        let secret = generate_secret();
        let verifier = gemini_webhooks::Verifier::builder()
            .secret(&secret)
            .unwrap()
            .build()
            .unwrap();
        let request: http::Request<axum::body::Body> = Signer::hmac(&secret)
            .unwrap()
            .id(id)
            .request("/webhooks/gemini", sample_event("batch.succeeded"));
        let post = tracing::info_span!("POST /webhooks/gemini");
        let answer = inbox
            .service(verifier)
            .call(request)
            .instrument(post)
            .await
            .unwrap();
        assert_eq!(answer.status(), http::StatusCode::ACCEPTED);
    }

    /// One trace from the POST through ingest to the handler's own span:
    /// the attempt's span continues the context stored with the row, with
    /// OpenTelemetry's messaging attributes.
    #[tokio::test]
    async fn the_handlers_span_is_in_the_trace_of_the_post_that_stored_it() {
        let (provider, exporter, _guard) = record_spans();
        let table = format!("trace_{}", std::process::id());
        let inbox = Inbox::builder(plan_check::test_database_url())
            .table(&table)
            .build()
            .unwrap();
        post_traced(&inbox, "msg_traced").await;
        let worker = inbox.worker(|_: GeminiEvent| async {
            tracing::info_span!("handler").in_scope(|| ());
            Ok::<_, std::io::Error>(())
        });
        assert_eq!(worker.run_once().await.unwrap().handled, 1);
        provider.force_flush().unwrap();

        let spans = exporter.get_finished_spans().unwrap();
        let named = |name: &str| {
            spans
                .iter()
                .find(|span| span.name == name)
                .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
        };
        let (post, job, handler) = (
            named("POST /webhooks/gemini"),
            named("gemini_webhook_job"),
            named("handler"),
        );
        let trace = post.span_context.trace_id();
        assert_eq!(
            job.span_context.trace_id(),
            trace,
            "the job continues the POST's trace"
        );
        assert_eq!(handler.span_context.trace_id(), trace);
        assert_eq!(handler.parent_span_id, job.span_context.span_id());
        let in_post: Vec<_> = spans
            .iter()
            .filter(|span| span.span_context.trace_id() == trace && span.name != job.name)
            .map(|span| span.span_context.span_id())
            .collect();
        assert!(
            in_post.contains(&job.parent_span_id),
            "parent: a span of the request"
        );
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
            assert!(
                attributes.contains(&(key.to_owned(), value.to_owned())),
                "{key}: {attributes:?}"
            );
        }
    }
}
