use std::process::ExitCode;

use axum::Router;
use gemini_webhooks::{ErrorChain, Verifier};
use gemini_webhooks_postgres::inbox::{Inbox, Job};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt::init(); // the crate's WARN/ERROR lines: retries, dead letters
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", ErrorChain(&*err)); // the cause chain, not a Debug dump
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let secret =
        std::env::var("GEMINI_WEBHOOK_SECRET").map_err(|_| "GEMINI_WEBHOOK_SECRET is not set")?;
    let database_url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let inbox = Inbox::builder(database_url).build()?;
    inbox.check().await?; // a wrong URL, password or database stops here, with its cause
    // The table the handler writes to (the inbox creates its own).
    inbox
        .connection()
        .await?
        .batch_execute("CREATE TABLE IF NOT EXISTS finished_jobs (resource TEXT)")
        .await?;

    // Workers: here, in other processes, or both. 4 jobs at once, 10 attempts.
    let worker = inbox.worker(|job: Job| async move {
        let event = job.event()?;
        // Slow work goes here: download the batch's results, the video, …
        // Writes through job.client() commit together with the job's done mark.
        job.client()
            .execute(
                "INSERT INTO finished_jobs (resource) VALUES ($1)",
                &[&event.resource_id()],
            )
            .await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    });
    // On SIGTERM: running jobs get 30 s to finish, then go back to the inbox.
    let worker = tokio::spawn(worker.run_until(shutdown()));

    // Verify, store, answer 202; the workers run the handler.
    let verifier = Verifier::builder().secret(&secret)?.build()?;
    let app = Router::new().route_service("/webhooks/gemini", inbox.service(verifier));
    let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    worker.await?;
    Ok(())
}

/// Ctrl-C or SIGTERM (what Kubernetes and systemd send).
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate.recv() => {} }
}
