use std::process::ExitCode;

use axum::{
    Router,
    http::StatusCode,
    routing::{get, post},
};
use gemini_webhooks::{ErrorChain, GeminiEvent, Verifier, tower::WebhookLayer};

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
        std::env::var("GEMINI_WEBHOOK_SECRET").map_err(|_| "GEMINI_WEBHOOK_SECRET is not set")?; // whsec_…
    let verifier = Verifier::builder().secret(&secret)?.build()?;
    let app = Router::new()
        // On the webhook route only: verify, de-duplicate, answer 4xx/5xx for you.
        .route(
            "/webhooks/gemini",
            post(handle).route_layer(WebhookLayer::new(verifier)),
        )
        .route("/health", get(|| async { "ok" })); // untouched by the layer

    let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    // On SIGTERM: stop accepting, answer the requests already in.
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn handle(event: GeminiEvent) -> StatusCode {
    println!("{} about {:?}", event.event_type(), event.resource_id());
    StatusCode::OK // 2xx marks it handled; anything else lets Gemini's retry run it again
}

/// Ctrl-C or SIGTERM (what Kubernetes and systemd send).
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate.recv() => {} }
}
