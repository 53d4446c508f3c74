use std::time::Duration;

use axum::Router;
use gemini_webhooks::api::{GeminiClient, JobName};
use gemini_webhooks::inbox::{Inbox, Job, Origin, TrackedJob};
use gemini_webhooks::{GeminiEvent, Verifier};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let inbox = Inbox::builder(std::env::var("DATABASE_URL")?).build()?;
    inbox.check().await?;
    let client = GeminiClient::new(std::env::var("GEMINI_API_KEY")?)?;

    // Where the application starts a batch, it tracks it (`track_in` does it
    // in the transaction that writes the application's own row for it).
    let batch = JobName::parse(&std::env::var("BATCH")?)?; // "batches/…"
    let job = TrackedJob::new(batch).expect_within(Duration::from_secs(6 * 3600));
    inbox.track(&job).await?;

    // One handler for both origins: the same event, by webhook or by poll.
    let worker = inbox.worker(|job: Job| async move {
        let event = job.event()?;
        if job.origin() == Origin::Poll {
            eprintln!("no webhook came for {:?}: polled", event.resource_id());
        }
        if let GeminiEvent::BatchSucceeded(batch) = &event {
            println!("results in {:?}", batch.data.output_file_uri);
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    });
    // Polls what is overdue; watches the static webhook's state.
    let reconciler = inbox
        .reconciler(client)
        .watch_webhook(std::env::var("GEMINI_WEBHOOK_ID")?);
    let worker = tokio::spawn(worker.run_until(shutdown()));
    let reconciler = tokio::spawn(reconciler.run_until(shutdown()));

    let verifier = Verifier::builder()
        .secret(&std::env::var("GEMINI_WEBHOOK_SECRET")?)?
        .build()?;
    let app = Router::new().route_service("/webhooks/gemini", inbox.service(verifier));
    let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    worker.await?;
    reconciler.await?;
    Ok(())
}

/// Ctrl-C or SIGTERM (what Kubernetes and systemd send).
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate.recv() => {} }
}
