//! A Gemini webhook receiver on axum.
//!
//! Environment:
//! - `GEMINI_WEBHOOK_SECRET`: one or more `whsec_` secrets, comma-separated;
//! - `GEMINI_WEBHOOK_PUBLIC_KEY`: optional `whpk_` Ed25519 key(s) for `v1a`;
//! - `GEMINI_WEBHOOK_JWKS_URL`: optional JWKS whose Ed25519 keys verify
//!   `v1a` entries (dynamic webhooks; needs `--features jwks-fetch`);
//! - `GEMINI_WEBHOOK_REDIS_URL`: optional Redis shared by all replicas for
//!   replay protection (needs `--features redis`; in-memory otherwise);
//! - `BIND_ADDR`: where to listen; default `0.0.0.0:$PORT` when `PORT` is
//!   set (Cloud Run), else `127.0.0.1:3000`.
//!
//! Serves `POST /webhooks/gemini`; prints one JSON line `{"id","type"}` on
//! stdout per event its handler runs; answers 500 when the body holds
//! `"fail_handler": true`. Logs go to stderr.
//!
//! `GEMINI_WEBHOOK_SECRET=whsec_... cargo run --example axum_receiver`

#[path = "common/mod.rs"]
mod common;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use gemini_webhooks::Delivery;
use gemini_webhooks::tower::WebhookLayer;

async fn handle(delivery: Delivery) -> StatusCode {
    StatusCode::from_u16(common::handle(&delivery)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn main() -> std::process::ExitCode {
    common::run_main(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let layer = WebhookLayer::new(common::verifier_from_env().await?);
    // On the webhook route only, so `GET /health` and unknown paths are
    // answered as usual (200, 404) instead of 400 "missing header".
    let webhook = match common::redis_store_from_env().await? {
        Some(store) => post(handle).route_layer(layer.replay_store(store)),
        None => post(handle).route_layer(layer),
    };
    let app = Router::new()
        .route("/webhooks/gemini", webhook)
        .route("/health", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(common::bind_addr()).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening for Gemini webhooks on POST /webhooks/gemini");
    axum::serve(listener, app)
        .with_graceful_shutdown(common::shutdown_signal())
        .await?;
    Ok(())
}
