//! Traces across the queue (feature `opentelemetry`): the trace context of
//! the span that stored a delivery (the request's, or a reconciler's
//! round's) is kept with its row, as the application's OpenTelemetry
//! propagator writes it (W3C `traceparent` with the usual one), and each
//! attempt's span continues it as its parent. Without the feature, or
//! without an OpenTelemetry layer, nothing is kept and nothing continued.
//! Tested end to end by the root's `tests/trace.rs` (its own process: the
//! spans need the global subscriber).

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
