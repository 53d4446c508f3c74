//! A Gemini webhook receiver on AWS Lambda, behind an API Gateway HTTP API
//! (payload format 2.0) or a Lambda function URL: the axum router with
//! `WebhookLayer`, served by `lambda_http::run`.
//!
//! Lambda hands the function the request as JSON, the body as a string,
//! base64-encoded when API Gateway or the function URL took it for binary
//! (`isBase64Encoded: true`). `lambda_http` decodes it back to the bytes
//! that were sent, so the signature, computed over those bytes, verifies
//! either way.
//!
//! An instance lives for minutes and many run at once, so an in-process
//! replay cache would forget a delivery when its instance goes and never
//! see what its siblings saw: this function keeps its replay record in
//! Redis or PostgreSQL, and refuses to start without one.
//!
//! Environment:
//! - `GEMINI_WEBHOOK_SECRET`: one or more `whsec_` secrets, comma-separated
//!   (`GEMINI_WEBHOOK_PUBLIC_KEY` for `whpk_` keys, as in the other
//!   examples);
//! - `GEMINI_WEBHOOK_REDIS_URL`: replay protection in Redis; the handler
//!   runs inside the invocation (keep it short: Gemini waits for the
//!   answer, and a frozen instance runs nothing after it);
//! - or `DATABASE_URL`: the inbox pattern for slow work: each delivery is
//!   verified, stored in the PostgreSQL inbox (`INBOX_TABLE`, default
//!   `gemini_webhook_inbox`) and answered 202 in one round trip; the
//!   handler runs in workers outside Lambda (`examples/inbox_receiver.rs`
//!   on the same database, with `BIND_ADDR` private and `INBOX_WORKERS`
//!   set), since a Lambda instance is frozen between invocations and its
//!   workers' leases would lapse.
//!
//! With Redis it prints one JSON line `{"id","type"}` on stdout per event
//! its handler runs (CloudWatch keeps it); logs go to stderr.
//!
//! Build for Lambda with `cargo lambda build --release --example lambda
//! --features redis` (or any `aarch64-unknown-linux-gnu` /
//! `x86_64-unknown-linux-gnu` build named `bootstrap` in a zip);
//! `docs/lambda.md` walks through the deployment.

#[path = "common/mod.rs"]
mod common;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use gemini_webhooks::Delivery;
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks_postgres::inbox::{DEFAULT_TABLE, Inbox};

/// The path Gemini is configured to call (`/webhooks/gemini` on the API's
/// or the function URL's host).
const ROUTE: &str = "/webhooks/gemini";

async fn handle(delivery: Delivery) -> StatusCode {
    StatusCode::from_u16(common::handle(&delivery)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The router the environment asks for: the handler behind Redis replay
/// protection, or the inbox's endpoint.
async fn app_from_env() -> Result<Router, Box<dyn std::error::Error>> {
    let verifier = common::verifier_from_env().await?;
    if let Some(store) = common::redis_store_from_env().await? {
        let layer = WebhookLayer::new(verifier).replay_store(store);
        return Ok(Router::new().route(ROUTE, post(handle).route_layer(layer)));
    }
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let table = std::env::var("INBOX_TABLE").unwrap_or_else(|_| DEFAULT_TABLE.to_owned());
        // One invocation at a time per instance: a small pool suffices,
        // and many instances share the database's connection limit.
        let inbox = Inbox::builder(&url).table(&table).pool_size(2).build()?;
        // Fail the cold start, with the cause, on a wrong URL or password.
        inbox.check().await.map_err(|err| {
            format!(
                "the inbox is unusable: {}",
                gemini_webhooks::ErrorChain(&err)
            )
        })?;
        return Ok(Router::new().route_service(ROUTE, inbox.service(verifier)));
    }
    Err(
        "set GEMINI_WEBHOOK_REDIS_URL or DATABASE_URL: an in-process replay cache \
         dies with its Lambda instance and is not shared between instances"
            .into(),
    )
}

fn main() -> std::process::ExitCode {
    common::run_main(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let app = app_from_env().await?;
    lambda_http::run(app)
        .await
        .map_err(|err| -> Box<dyn std::error::Error> { err })
}
