//! What a receiver logs: a span per delivery around the handler, and
//! rejections at levels that keep a port scan quiet while a wrong secret
//! stays visible.

use crate::common;

use axum::http::StatusCode;
use common::{Captured, EVENT};
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::tower::WebhookLayer;
use http::HeaderMap;
use tracing_subscriber::fmt::writer::{EitherWriter, MakeWriter};

/// Starts capturing this thread's lines at `level` and above, until the
/// guard drops. One global subscriber writes for every test: a subscriber
/// set per thread (`set_default`) races with other tests' threads
/// registering the same callsites and can miss a line now and then.
fn capture(level: tracing::Level) -> (Captured, Capturing) {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(ThisThread)
            .init();
    });
    let captured = Captured::default();
    CAPTURING.set(Some((captured.clone(), level)));
    (captured, Capturing)
}

thread_local! {
    static CAPTURING: std::cell::RefCell<Option<(Captured, tracing::Level)>> =
        const { std::cell::RefCell::new(None) };
}

/// Ends the capture of the thread that started it.
struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURING.set(None);
    }
}

/// Writes a line to the capture of the thread logging it, if it is at the
/// capture's level; nowhere otherwise.
struct ThisThread;

impl<'a> MakeWriter<'a> for ThisThread {
    type Writer = EitherWriter<Captured, std::io::Sink>;

    fn make_writer(&'a self) -> Self::Writer {
        EitherWriter::B(std::io::sink())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        CAPTURING.with_borrow(|capturing| match capturing {
            Some((captured, level)) if meta.level() <= level => EitherWriter::A(captured.clone()),
            _ => EitherWriter::B(std::io::sink()),
        })
    }
}

async fn handle() -> StatusCode {
    tracing::info!("handler says hello");
    StatusCode::OK
}

fn app(secret: &str, layer: impl FnOnce(WebhookLayer) -> WebhookLayer) -> axum::Router {
    axum::Router::new().route(
        "/webhooks/gemini",
        axum::routing::post(handle).route_layer(layer(WebhookLayer::new(common::verifier(secret)))),
    )
}

async fn post(app: &axum::Router, headers: HeaderMap) -> StatusCode {
    common::send(app, &headers, EVENT).await.0
}

#[tokio::test(flavor = "current_thread")]
async fn the_handler_runs_in_a_span_naming_the_delivery() {
    let (captured, _guard) = capture(tracing::Level::INFO);
    let secret = generate_secret();
    let app = app(&secret, |layer| layer);
    let headers = Signer::hmac(&secret)
        .unwrap()
        .id("msg_span")
        .sign(EVENT.as_bytes());
    assert_eq!(post(&app, headers).await, StatusCode::OK);
    let text = captured.text();
    let hello = text
        .lines()
        .find(|line| line.contains("handler says hello"))
        .unwrap_or_else(|| panic!("no handler log in {text}"));
    for field in [
        "gemini_webhook{",
        "webhook_id=msg_span",
        "event_type=\"batch.succeeded\"",
        "verified_by=Secret(0)",
    ] {
        assert!(hello.contains(field), "{field} missing in: {hello}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn probes_stay_quiet_and_wrong_signatures_stay_visible() {
    let (captured, _guard) = capture(tracing::Level::INFO);
    let secret = generate_secret();
    let app = app(&secret, |layer| layer);
    assert_eq!(post(&app, HeaderMap::new()).await, StatusCode::BAD_REQUEST);
    assert_eq!(captured.text(), "", "a probe is logged below INFO");

    let wrong = Signer::hmac(&generate_secret())
        .unwrap()
        .sign(EVENT.as_bytes());
    assert_eq!(post(&app, wrong).await, StatusCode::UNAUTHORIZED);
    let text = captured.text();
    assert!(
        text.contains("WARN") && text.contains("no_matching_signature"),
        "{text}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_probe_level_is_configurable() {
    let (captured, _guard) = capture(tracing::Level::INFO);
    let secret = generate_secret();
    let app = app(&secret, |layer| layer.probe_log_level(tracing::Level::WARN));
    assert_eq!(post(&app, HeaderMap::new()).await, StatusCode::BAD_REQUEST);
    let text = captured.text();
    assert!(
        text.contains("WARN") && text.contains("missing_header"),
        "{text}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_oversized_delivery_with_good_headers_is_a_warning_not_a_probe() {
    let (captured, _guard) = capture(tracing::Level::INFO);
    let secret = generate_secret();
    let app = app(&secret, |layer| layer.body_limit(64));
    // Well-formed, fresh, signed: it may be a real delivery whose
    // `user_metadata` outgrew the limit, retried for 24 hours unseen.
    let headers = Signer::hmac(&secret)
        .unwrap()
        .id("msg_big")
        .sign(EVENT.as_bytes());
    assert_eq!(post(&app, headers).await, StatusCode::PAYLOAD_TOO_LARGE);
    let text = captured.text();
    let line = text
        .lines()
        .find(|line| line.contains("payload_too_large"))
        .unwrap_or_else(|| panic!("no 413 line in {text:?}"));
    assert!(line.contains("WARN") && line.contains("msg_big"), "{line}");
}

#[tokio::test(flavor = "current_thread")]
async fn successes_and_duplicates_are_debug_and_an_unreachable_store_is_an_error() {
    let (captured, _guard) = capture(tracing::Level::DEBUG);
    let secret = generate_secret();
    let app = app(&secret, |layer| layer);
    let headers = Signer::hmac(&secret)
        .unwrap()
        .id("msg_dup")
        .sign(EVENT.as_bytes());
    assert_eq!(post(&app, headers.clone()).await, StatusCode::OK);
    assert_eq!(post(&app, headers).await, StatusCode::OK);
    let text = captured.text();
    let duplicate = text
        .lines()
        .find(|line| line.contains("outcome=\"duplicate\""))
        .unwrap_or_else(|| panic!("no duplicate line in {text}"));
    assert!(duplicate.contains(" DEBUG "), "{duplicate}");
    assert!(duplicate.contains("not handled again"), "{duplicate}");
    let ran = text
        .lines()
        .find(|line| line.contains("handler ran"))
        .unwrap_or_else(|| panic!("no handler line in {text}"));
    assert!(ran.contains(" DEBUG ") && ran.contains("msg_dup"), "{ran}");

    let down = axum::Router::new().route(
        "/webhooks/gemini",
        axum::routing::post(handle).route_layer(
            WebhookLayer::new(common::verifier(&secret)).replay_store(common::DownStore),
        ),
    );
    let headers = Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes());
    assert_eq!(post(&down, headers).await, StatusCode::SERVICE_UNAVAILABLE);
    let text = captured.text();
    let deferred = text
        .lines()
        .find(|line| line.contains("store_unavailable"))
        .unwrap_or_else(|| panic!("no store line in {text}"));
    assert!(deferred.contains("ERROR"), "{deferred}");
    assert!(deferred.contains("gemini webhook deferred"), "{deferred}");
    assert!(deferred.contains("error=\""), "quoted: {deferred}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_database_is_logged_with_the_servers_own_words() {
    let (captured, _guard) = capture(tracing::Level::INFO);
    let secret = generate_secret();
    // The server answers, but refuses: the cause is the bottom of the chain.
    let url = format!("{}_does_not_exist", common::pg::database_url());
    let inbox = gemini_webhooks_postgres::inbox::Inbox::builder(url)
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route_service("/webhooks/gemini", inbox.service(common::verifier(&secret)));
    let headers = Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes());
    assert_eq!(post(&app, headers).await, StatusCode::SERVICE_UNAVAILABLE);
    let text = captured.text();
    let deferred = text
        .lines()
        .find(|line| line.contains("inbox_unavailable"))
        .unwrap_or_else(|| panic!("no inbox line in {text}"));
    assert!(
        deferred.contains("_does_not_exist\\\" does not exist") && deferred.contains("FATAL"),
        "the server's message is missing: {deferred}"
    );
}

#[tokio::test]
async fn an_unreachable_inbox_is_an_error_naming_the_cause() {
    let (captured, _guard) = capture(tracing::Level::INFO);
    let secret = generate_secret();
    // Nothing listens on port 1.
    let inbox =
        gemini_webhooks_postgres::inbox::Inbox::builder("postgres://postgres@127.0.0.1:1/postgres")
            .build()
            .unwrap();
    let app = axum::Router::new()
        .route_service("/webhooks/gemini", inbox.service(common::verifier(&secret)));
    let headers = Signer::hmac(&secret).unwrap().sign(EVENT.as_bytes());
    assert_eq!(post(&app, headers).await, StatusCode::SERVICE_UNAVAILABLE);
    let text = captured.text();
    let deferred = text
        .lines()
        .find(|line| line.contains("inbox_unavailable"))
        .unwrap_or_else(|| panic!("no inbox line in {text}"));
    assert!(deferred.contains("ERROR"), "{deferred}");
    assert!(deferred.contains("gemini webhook deferred"), "{deferred}");
    assert!(
        deferred.contains("error=\"inbox unavailable: ingest"),
        "{deferred}"
    );
}
