//! A Gemini webhook receiver on actix-web: the same contract as
//! `axum_receiver`.
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
//! `GEMINI_WEBHOOK_SECRET=whsec_... cargo run --example actix_receiver --features actix`

#[path = "common/mod.rs"]
mod common;

use actix_web::{App, HttpResponse, HttpServer, web};
use gemini_webhooks::Delivery;
use gemini_webhooks::actix::GeminiWebhooks;
use gemini_webhooks::replay::ReplayStore;

async fn handle(delivery: Delivery) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(common::handle(&delivery))
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).finish()
}

fn main() -> std::process::ExitCode {
    // What `#[actix_web::main]` expands to; your own app can use the macro
    // (actix-web's default `macros` feature).
    common::exit_code(actix_web::rt::System::new().block_on(run()))
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let webhooks = GeminiWebhooks::new(common::verifier_from_env().await?);
    match common::redis_store_from_env().await? {
        Some(store) => serve(webhooks.replay_store(store)).await,
        None => serve(webhooks).await,
    }
}

async fn serve<R: ReplayStore>(
    webhooks: GeminiWebhooks<R>,
) -> Result<(), Box<dyn std::error::Error>> {
    let server = HttpServer::new(move || {
        // On the POST route only: a GET stays 405, other paths untouched.
        App::new()
            .service(
                web::resource("/webhooks/gemini")
                    .route(web::post().to(handle).wrap(webhooks.clone())),
            )
            .route("/health", web::get().to(|| async { "ok" }))
    })
    .bind(common::bind_addr())?;
    for addr in server.addrs() {
        tracing::info!(%addr, "listening for Gemini webhooks on POST /webhooks/gemini");
    }
    server.run().await?;
    Ok(())
}
