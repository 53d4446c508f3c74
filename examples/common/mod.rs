//! What the example receivers share: configuration from the environment and
//! the demo handler's behaviour, framework-free like the crate's core; and
//! `inbox_server`, the axum side both inbox examples run.

#![allow(dead_code)]

pub mod client;
#[cfg(feature = "axum")]
pub mod inbox_server;

use std::io::Write;

use gemini_webhooks::{Delivery, Verifier};
use serde_json::Value;

/// Builds the verifier from `GEMINI_WEBHOOK_SECRET` (one or more `whsec_`
/// secrets, comma-separated), `GEMINI_WEBHOOK_PUBLIC_KEY` (`whpk_`,
/// optional, comma-separated too) and `GEMINI_WEBHOOK_JWKS_URL` (optional,
/// needs feature `jwks-fetch`), and loads the JWKS if there is one.
pub async fn verifier_from_env() -> Result<Verifier, Box<dyn std::error::Error>> {
    let mut builder = Verifier::builder();
    for secret in list_var("GEMINI_WEBHOOK_SECRET") {
        builder = builder.secret(&secret)?;
    }
    for key in list_var("GEMINI_WEBHOOK_PUBLIC_KEY") {
        builder = builder.public_key(&key)?;
    }
    if let Ok(url) = std::env::var("GEMINI_WEBHOOK_JWKS_URL") {
        builder = with_jwks_url(builder, url)?;
    }
    let verifier = builder.build()?;
    #[cfg(feature = "jwks-fetch")]
    if let Err(err) = verifier.prefetch().await {
        // Not fatal: the first delivery tries again, and gets 503 until then.
        tracing::warn!(error = %err, "could not load the JWKS at start-up");
    }
    Ok(verifier)
}

#[cfg(feature = "jwks-fetch")]
fn with_jwks_url(
    builder: gemini_webhooks::VerifierBuilder,
    url: String,
) -> Result<gemini_webhooks::VerifierBuilder, Box<dyn std::error::Error>> {
    Ok(builder.jwks_url(url)?)
}

#[cfg(not(feature = "jwks-fetch"))]
fn with_jwks_url(
    _: gemini_webhooks::VerifierBuilder,
    _: String,
) -> Result<gemini_webhooks::VerifierBuilder, Box<dyn std::error::Error>> {
    Err(
        "GEMINI_WEBHOOK_JWKS_URL needs the `jwks-fetch` feature: run with --features jwks-fetch"
            .into(),
    )
}

/// The replay store named by `GEMINI_WEBHOOK_REDIS_URL` (needs feature
/// `redis`), or `None` for the in-memory default.
#[cfg(feature = "redis")]
pub async fn redis_store_from_env()
-> Result<Option<gemini_webhooks::replay::RedisReplayStore>, Box<dyn std::error::Error>> {
    match std::env::var("GEMINI_WEBHOOK_REDIS_URL") {
        Ok(url) => {
            let store = gemini_webhooks::replay::RedisReplayStore::builder(url).build()?;
            // Fail fast, with the cause, on a wrong URL or password.
            if let Err(err) = store.check().await {
                return Err(format!(
                    "the Redis replay store is unusable: {}",
                    gemini_webhooks::ErrorChain(&err)
                )
                .into());
            }
            Ok(Some(store))
        }
        Err(_) => Ok(None),
    }
}

/// Without feature `redis`, `GEMINI_WEBHOOK_REDIS_URL` is an error (the
/// store type only makes both builds read alike; it is never returned).
#[cfg(not(feature = "redis"))]
pub async fn redis_store_from_env()
-> Result<Option<gemini_webhooks::replay::MemoryReplayStore>, Box<dyn std::error::Error>> {
    match std::env::var("GEMINI_WEBHOOK_REDIS_URL") {
        Ok(_) => Err(
            "GEMINI_WEBHOOK_REDIS_URL needs the `redis` feature: run with --features redis".into(),
        ),
        Err(_) => Ok(None),
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM, what Kubernetes and systemd
/// send: the examples then stop accepting, finish what came in, and exit 0.
pub async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match terminate.as_mut() {
            Some(signal) => drop(signal.recv().await),
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}

/// `BIND_ADDR` (unless empty); else `0.0.0.0:$PORT` when `PORT` is set
/// (Cloud Run, Heroku and others name the port a container must listen on
/// so); else `127.0.0.1:3000`.
pub fn bind_addr() -> String {
    if let Ok(addr) = std::env::var("BIND_ADDR")
        && !addr.is_empty()
    {
        return addr;
    }
    match std::env::var("PORT") {
        Ok(port) => format!("0.0.0.0:{port}"),
        Err(_) => "127.0.0.1:3000".to_owned(),
    }
}

fn list_var(name: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The demo handler: prints `{"id":…,"type":…}` on stdout for every event it
/// handles, then answers as [`outcome`] says.
pub fn handle(delivery: &Delivery) -> u16 {
    let (line, status) = outcome(delivery);
    if let Some(line) = line {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout must not take the receiver down.
        let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    }
    status
}

/// The line to print and the status: 200, or 500 when the body holds
/// `"fail_handler": true` anywhere, or 422 (no line) when the body is not a
/// Gemini event.
pub fn outcome(delivery: &Delivery) -> (Option<Value>, u16) {
    let event = match delivery.event() {
        Ok(event) => event,
        Err(err) => {
            tracing::warn!(webhook_id = delivery.id(), error = %err, "not a Gemini event");
            return (None, 422);
        }
    };
    let line = serde_json::json!({"id": delivery.id(), "type": event.event_type()});
    let fails = serde_json::from_slice::<Value>(delivery.body())
        .map(|body| find_field(&body, "fail_handler") == Some(&Value::Bool(true)))
        .unwrap_or(false);
    (Some(line), if fails { 500 } else { 200 })
}

/// The first value under `key` anywhere in `value` (depth first), so test
/// flags work at the top level or inside `data`.
pub fn find_field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|value| find_field(value, key))),
        Value::Array(items) => items.iter().find_map(|item| find_field(item, key)),
        _ => None,
    }
}

/// Logs to stderr, `RUST_LOG`-style level from `LOG_LEVEL` (default info).
pub fn init_logging() {
    let level = std::env::var("LOG_LEVEL")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .init();
}

/// Runs an example's `main` on a Tokio runtime. An error ends the process
/// with exit code 1 and one line naming its whole cause chain
/// (`error: DATABASE_URL is not set`), not the `Debug` dump a `main`
/// returning `Result` prints.
pub fn run_main(
    main: impl std::future::Future<Output = Result<(), Box<dyn std::error::Error>>>,
) -> std::process::ExitCode {
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Box::<dyn std::error::Error>::from)
        .and_then(|runtime| runtime.block_on(main));
    exit_code(outcome)
}

/// An example's outcome as its exit code; an error printed with its cause
/// chain on one line.
pub fn exit_code(outcome: Result<(), Box<dyn std::error::Error>>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", gemini_webhooks::ErrorChain(&*err));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The environment variable `name`, or an error that names it.
pub fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|err| match err {
        std::env::VarError::NotPresent => format!("{name} is not set"),
        std::env::VarError::NotUnicode(_) => format!("{name} is not valid Unicode"),
    })
}
