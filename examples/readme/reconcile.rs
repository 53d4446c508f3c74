use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use gemini_webhooks::{ErrorChain, GeminiEvent, Verifier};
use gemini_webhooks_api::{GeminiClient, JobName};
use gemini_webhooks_postgres::inbox::{Inbox, Job, Origin};
use gemini_webhooks_postgres::reconcile::{Reconciler, TrackedJob, Tracking};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt::init(); // the crate's WARN/ERROR lines: a failing poll, a disabled webhook
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", ErrorChain(&*err)); // the cause chain, not a Debug dump
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // Every setting first, each named if missing: nothing happens before.
    let database_url = env("DATABASE_URL")?;
    let api_key = env("GEMINI_API_KEY")?;
    let secret = env("GEMINI_WEBHOOK_SECRET")?;
    let batch = JobName::parse(&env("BATCH")?)?; // "batches/…", a batch you started
    let webhook_id = std::env::var("GEMINI_WEBHOOK_ID").ok(); // optional

    let inbox = Inbox::builder(database_url).build()?;
    inbox.check().await?;
    let client = GeminiClient::new(api_key)?;

    // Where the application starts a batch, it tracks it (`track_in` does it
    // in the transaction that writes the application's own row for it).
    let job = TrackedJob::new(batch).expect_within(Duration::from_secs(6 * 3600));
    Tracking::new(&inbox).track(&job).await?;

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
    // Polls what is overdue; watches the static webhook's state if named.
    let mut reconciler = Reconciler::new(&inbox, client);
    if let Some(id) = webhook_id {
        reconciler = reconciler.watch_webhook(id);
    }
    let worker = tokio::spawn(worker.run_until(shutdown()));
    let reconciler = tokio::spawn(reconciler.run_until(shutdown()));

    let verifier = Verifier::builder().secret(&secret)?.build()?;
    let app = Router::new().route_service("/webhooks/gemini", inbox.service(verifier));
    let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    worker.await?;
    reconciler.await?;
    Ok(())
}

/// The environment variable `name`, or an error naming it.
fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

/// Ctrl-C or SIGTERM (what Kubernetes and systemd send).
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate.recv() => {} }
}
