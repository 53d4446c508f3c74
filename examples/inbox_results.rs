//! What comes after a thin event: a receiver with a durable inbox whose
//! worker fetches the job's results from the Gemini API and writes them in
//! the job's own transaction, so each result row exists exactly once
//! however often the delivery comes or the attempt is retried.
//!
//! - `batch.succeeded`: the batch's `responsesFile` is downloaded (streamed)
//!   and each JSON line becomes a row of `<INBOX_TABLE>_results`
//!   (`batch`, `line_no`, `line`); inlined responses likewise.
//! - `video.generated`: the operation's video URIs become rows of
//!   `<INBOX_TABLE>_videos` (download them within two days).
//!
//! Environment: `DATABASE_URL`, `GEMINI_WEBHOOK_SECRET`, `GEMINI_API_KEY`,
//! `GEMINI_API_BASE` (default Google's host), `BIND_ADDR` (default
//! `127.0.0.1:3000`), `INBOX_TABLE` (default `gemini_webhook_inbox`). It
//! prints one JSON line `{"id","type","resource","rows"}` per handled event.
//!
//! `cargo run --example inbox_results --features postgres,api`

#[path = "common/mod.rs"]
mod common;

use std::io::Write as _;
use std::sync::Arc;

use gemini_webhooks::GeminiEvent;
use gemini_webhooks::api::{GEMINI_API_HOST, GeminiClient, JobName, JobStatus};
use gemini_webhooks::inbox::{DEFAULT_TABLE, Inbox, Job};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Writes the event's results through the job's transaction; returns how
/// many rows.
async fn handle(job: Job, client: &GeminiClient, table: &str) -> Result<u64, Failure> {
    let event = job.event()?;
    let Some(name) = JobName::of_event(&event) else {
        return Ok(0); // an event about no job we fetch results for
    };
    let rows = match (&event, client.get_job(&name).await?) {
        (GeminiEvent::BatchSucceeded { .. }, JobStatus::Batch(batch)) => {
            let insert =
                format!("INSERT INTO {table}_results (batch, line_no, line) VALUES ($1, $2, $3)");
            let batch_name = name.to_string();
            let mut lines: Vec<String> = batch
                .inlined_responses
                .iter()
                .map(|r| r.to_string())
                .collect();
            if let Some(file) = &batch.responses_file {
                let mut download = client.download(file).await?;
                let mut buffer = Vec::new();
                while let Some(chunk) = download.chunk().await? {
                    buffer.extend_from_slice(&chunk);
                }
                lines.extend(
                    String::from_utf8_lossy(&buffer)
                        .lines()
                        .filter(|line| !line.trim().is_empty())
                        .map(str::to_owned),
                );
            }
            for (line_no, line) in lines.iter().enumerate() {
                let line_no = i64::try_from(line_no)?;
                job.client()
                    .execute(&insert, &[&batch_name, &line_no, line])
                    .await?;
            }
            lines.len() as u64
        }
        (_, JobStatus::Video(video)) => {
            let insert = format!("INSERT INTO {table}_videos (operation, uri) VALUES ($1, $2)");
            for uri in &video.video_uris {
                job.client().execute(&insert, &[&video.name, uri]).await?;
            }
            video.video_uris.len() as u64
        }
        _ => 0,
    };
    let line = serde_json::json!({
        "id": job.delivery().id(), "type": event.event_type(), "resource": name.to_string(), "rows": rows,
    });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    Ok(rows)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let url = std::env::var("DATABASE_URL")?;
    let table = std::env::var("INBOX_TABLE").unwrap_or_else(|_| DEFAULT_TABLE.to_owned());
    let client = GeminiClient::builder(std::env::var("GEMINI_API_KEY")?)
        .host(std::env::var("GEMINI_API_BASE").unwrap_or_else(|_| GEMINI_API_HOST.to_owned()))
        .build()?;
    let inbox = Inbox::builder(&url).table(&table).build()?;
    if let Err(err) = inbox.check().await {
        eprintln!(
            "the inbox is unusable: {}",
            gemini_webhooks::ErrorChain(&err)
        );
        std::process::exit(1);
    }
    inbox
        .connection()
        .await?
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('{table}_results')); \
             CREATE TABLE IF NOT EXISTS {table}_results (batch TEXT NOT NULL, line_no BIGINT NOT NULL, line TEXT NOT NULL); \
             CREATE TABLE IF NOT EXISTS {table}_videos (operation TEXT NOT NULL, uri TEXT NOT NULL); COMMIT;"
        ))
        .await?;

    let (client, shared_table) = (Arc::new(client), Arc::<str>::from(table.as_str()));
    let worker = inbox
        .worker(move |job: Job| {
            let (client, table) = (Arc::clone(&client), Arc::clone(&shared_table));
            async move { handle(job, &client, &table).await.map(drop) }
        })
        .poll_interval(std::time::Duration::from_millis(200));
    let worker = tokio::spawn(worker.run_until(common::shutdown_signal()));
    common::inbox_server::serve(&inbox, vec![worker]).await
}
