//! Publishing in the request: each verified delivery goes to NATS
//! JetStream before Gemini gets its `200`; `503` when NATS does not
//! confirm (Gemini retries for 24 hours).
//!
//! ```text
//! GEMINI_WEBHOOK_SECRET=whsec_… NATS_URL=nats://127.0.0.1:4222 \
//!   cargo run -p gemini-webhooks-bridge --features nats --example in_request
//! ```
//!
//! The stream must take `gemini.>`: `nats stream add GEMINI --subjects 'gemini.>'
//! --dupe-window 25h`.

use std::process::ExitCode;

use axum::Router;
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{ErrorChain, Verifier};
use gemini_webhooks_bridge::nats::NatsSink;
use gemini_webhooks_bridge::sink::Subject;
use gemini_webhooks_bridge::{PublishService, Publisher};

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(err) = run().await {
        eprintln!("error: {}", ErrorChain(&*err));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let secret =
        std::env::var("GEMINI_WEBHOOK_SECRET").map_err(|_| "GEMINI_WEBHOOK_SECRET is not set")?;
    let nats_url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let verifier = Verifier::builder().secret(&secret)?.build()?;
    // Connects in the background: the receiver starts while NATS is down.
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(nats_url)
        .await?;
    let sink = NatsSink::new(client, Subject::parse("gemini.{type}")?);
    let publish = tower::ServiceBuilder::new()
        .layer(WebhookLayer::new(verifier))
        .service(PublishService::new(Publisher::new(sink)));
    let app = Router::new().route_service("/webhooks/gemini", publish);
    let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate.recv() => {} }
}
