use axum::Router;
use gemini_webhooks::Verifier;
use gemini_webhooks::inbox::{Inbox, Job};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("GEMINI_WEBHOOK_SECRET")?;
    let inbox = Inbox::builder(std::env::var("DATABASE_URL")?).build()?;
    inbox.check().await?; // a wrong URL, password or database stops here, with its cause

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
