use std::process::ExitCode;

use axum::{Router, http::StatusCode, routing::post};
use gemini_webhooks::{
    ErrorChain, GeminiEvent, Verifier, replay::RedisReplayStore, tower::WebhookLayer,
};

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(err) = run().await {
        eprintln!("error: {}", ErrorChain(&*err)); // the cause chain, not a Debug dump
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let secret =
        std::env::var("GEMINI_WEBHOOK_SECRET").map_err(|_| "GEMINI_WEBHOOK_SECRET is not set")?;
    let redis_url = std::env::var("REDIS_URL").map_err(|_| "REDIS_URL is not set")?; // e.g. redis://10.0.0.5:6379, shared by every replica
    let store = RedisReplayStore::builder(redis_url).build()?;
    store.check().await?; // a wrong URL or password stops here, not as a 503 per delivery
    let layer =
        WebhookLayer::new(Verifier::builder().secret(&secret)?.build()?).replay_store(store);

    let app = Router::new().route("/webhooks/gemini", post(handle).route_layer(layer));
    let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    // On SIGTERM: stop accepting, answer the requests already in.
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn handle(event: GeminiEvent) -> StatusCode {
    println!("{} about {:?}", event.event_type(), event.resource_id());
    StatusCode::OK
}

/// Ctrl-C or SIGTERM (what Kubernetes and systemd send).
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate.recv() => {} }
}
