use axum::Router;
use gemini_webhooks::Verifier;
use gemini_webhooks::inbox::{Inbox, Job};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("GEMINI_WEBHOOK_SECRET")?;
    let inbox = Inbox::builder(std::env::var("DATABASE_URL")?).build()?; // connects on first use

    // Workers: here, in other processes, or both. Concurrency 8, 10 attempts.
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
    tokio::spawn(worker.run_until(async {
        let _ = tokio::signal::ctrl_c().await; // then finish or release running jobs
    }));

    // Verify, store, answer 202; the workers run the handler.
    let verifier = Verifier::builder().secret(&secret)?.build()?;
    let app = Router::new().route_service("/webhooks/gemini", inbox.service(verifier));
    axum::serve(tokio::net::TcpListener::bind("0.0.0.0:8080").await?, app).await?;
    Ok(())
}
