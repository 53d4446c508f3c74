use std::process::ExitCode;

use axum::{Router, http::StatusCode, routing::post};
use gemini_webhooks::{
    ErrorChain, GeminiEvent, Verifier, keys::jwks::GEMINI_JWKS_URL, tower::WebhookLayer,
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
    let verifier = Verifier::builder()
        .jwks_url(GEMINI_JWKS_URL)? // Google's keys, for dynamic webhooks
        .secret(
            &std::env::var("GEMINI_WEBHOOK_SECRET")
                .map_err(|_| "GEMINI_WEBHOOK_SECRET is not set")?,
        )? // static webhooks too, if you have them
        .build()?;
    verifier.prefetch().await?; // optional: otherwise the first delivery loads the keys

    let layer = WebhookLayer::new(verifier);
    let app = Router::new().route("/webhooks/gemini", post(handle).route_layer(layer));
    let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    // On SIGTERM: stop accepting, answer the requests already in.
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn handle(event: GeminiEvent) -> StatusCode {
    println!("{} for {:?}", event.event_type(), event.user_metadata());
    StatusCode::OK
}

/// Ctrl-C or SIGTERM (what Kubernetes and systemd send).
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate.recv() => {} }
}
