//! Publishing through an inbox (the outbox pattern): each verified
//! delivery is stored in PostgreSQL and answered `202` at once; workers
//! publish it to NATS JetStream and mark it done only once NATS confirmed.
//! A NATS outage of hours loses nothing and holds no request open.
//!
//! ```text
//! GEMINI_WEBHOOK_SECRET=whsec_… DATABASE_URL=postgres://localhost/app \
//! NATS_URL=nats://127.0.0.1:4222 \
//!   cargo run -p gemini-webhooks-bridge --features nats --example outbox
//! ```

use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use gemini_webhooks::{ErrorChain, Verifier};
use gemini_webhooks_bridge::Publisher;
use gemini_webhooks_bridge::nats::NatsSink;
use gemini_webhooks_bridge::sink::Subject;
use gemini_webhooks_postgres::inbox::Inbox;

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
    let database_url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let nats_url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let verifier = Verifier::builder().secret(&secret)?.build()?;
    let inbox = Inbox::builder(database_url).build()?;
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(nats_url)
        .await?;
    let publisher = Publisher::new(NatsSink::new(client, Subject::parse("gemini.{type}")?));

    // Workers: publish, done only once confirmed; a broker outage is
    // retried at most a minute apart, for days.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = inbox
        .worker(publisher.handler())
        .complete_in_batches()
        .max_attempts(10_000)
        .backoff(Duration::from_secs(1), Duration::from_secs(60));
    let mut stopping = stopped.clone();
    let workers = tokio::spawn(worker.run_until(async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    }));

    let app = Router::new().route_service("/webhooks/gemini", inbox.service(verifier));
    let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    // Stored before the server stopped: the workers publish what they can.
    let _ = stop.send(true);
    workers.await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate.recv() => {} }
}
