//! What comes after a thin event: a receiver with a durable inbox whose
//! worker fetches the job's results from the Gemini API and writes them in
//! the job's own transaction, so each result row exists exactly once
//! however often the delivery comes or the attempt is retried.
//!
//! - `batch.succeeded`: the batch's `responsesFile` is downloaded and
//!   streamed, line by line, into `<INBOX_TABLE>_results` (`batch`,
//!   `line_no`, `line`) with `COPY … FROM STDIN` inside the job's
//!   transaction: memory is bounded by a line, not the file, and a killed
//!   attempt leaves no row (the retry writes every row once). Inlined
//!   responses likewise.
//! - `video.generated`: each video is downloaded through the client (the
//!   API key goes to Google's host only; the redirect to storage is
//!   followed without it) into `INBOX_VIDEO_DIR` (default: a
//!   `gemini-videos` folder in the temporary directory), named after the
//!   operation, and recorded in `<INBOX_TABLE>_videos` (`operation`, `uri`,
//!   `path`, `bytes`). The video's URI comes from the event, or from the
//!   operation when the event names it whole. Videos are kept two days.
//! - Any other event: logged (INFO) as having no results to fetch.
//!
//! Environment: `DATABASE_URL`, `GEMINI_WEBHOOK_SECRET`, `GEMINI_API_KEY`,
//! `GEMINI_API_BASE` (default Google's host), `BIND_ADDR` (default
//! `127.0.0.1:3000`), `INBOX_TABLE` (default `gemini_webhook_inbox`),
//! `INBOX_VIDEO_DIR`. It prints one JSON line
//! `{"id","type","resource","rows"}` per handled event.
//!
//! `cargo run --example inbox_results`

#[path = "common/mod.rs"]
mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gemini_webhooks::GeminiEvent;
use gemini_webhooks::event::VideoGenerated;
use gemini_webhooks_api::{GEMINI_API_HOST, GeminiClient, JobName, JobStatus};
use gemini_webhooks_postgres::inbox::{DEFAULT_TABLE, Inbox, Job};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Where results go.
struct Sinks {
    table: String,
    video_dir: PathBuf,
}

/// Writes the event's results through the job's transaction; returns how
/// many rows.
async fn handle(job: Job, client: &GeminiClient, sinks: &Sinks) -> Result<u64, Failure> {
    let event = job.event()?;
    let rows = match &event {
        GeminiEvent::BatchSucceeded(_) => batch_results(&job, client, &event, &sinks.table).await?,
        GeminiEvent::VideoGenerated(generated) => {
            videos(&job, client, &generated.data, sinks).await?
        }
        other => {
            tracing::info!(
                event_type = other.event_type(),
                resource = other.resource_id(),
                "no results to fetch for this event; nothing written"
            );
            0
        }
    };
    let line = serde_json::json!({
        "id": job.delivery().id(), "type": event.event_type(),
        "resource": JobName::of_event(&event).map_or_else(
            || event.resource_id().unwrap_or_default().to_owned(),
            |name| name.to_string(),
        ),
        "rows": rows,
    });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    Ok(rows)
}

/// A batch's inlined responses and its results file, a row per line,
/// streamed into the job's transaction with `COPY`.
async fn batch_results(
    job: &Job,
    client: &GeminiClient,
    event: &GeminiEvent,
    table: &str,
) -> Result<u64, Failure> {
    let name = JobName::of_event(event).ok_or("batch.succeeded names no batch")?;
    let JobStatus::Batch(batch) = client.get_job(&name).await? else {
        return Err(format!("{name} is not a batch").into());
    };
    let copy = format!("COPY {table}_results (batch, line_no, line) FROM STDIN BINARY");
    let sink = job.client().copy_in(&copy).await?;
    let writer = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::INT8, Type::TEXT]);
    let mut rows = ResultRows {
        writer: std::pin::pin!(writer),
        batch: name.to_string(),
        next_line: 0,
    };
    for response in &batch.inlined_responses {
        rows.push(response.to_string().as_bytes()).await?;
    }
    if let Some(file) = &batch.responses_file {
        let mut download = client.download(file).await?;
        // At most one line is held: the part of it that has come so far.
        let mut line = Vec::new();
        while let Some(chunk) = download.chunk().await? {
            let mut rest = &chunk[..];
            while let Some(end) = rest.iter().position(|&b| b == b'\n') {
                line.extend_from_slice(&rest[..end]);
                rows.push(&line).await?;
                line.clear();
                rest = &rest[end + 1..];
            }
            line.extend_from_slice(rest);
        }
        rows.push(&line).await?; // the last line, if it has no newline
    }
    Ok(rows.writer.finish().await?)
}

/// The rows of `<table>_results` for one batch, streamed through `COPY`.
struct ResultRows<'a> {
    writer: std::pin::Pin<&'a mut BinaryCopyInWriter>,
    batch: String,
    next_line: i64,
}

impl ResultRows<'_> {
    /// One line of results as a row; a blank line is skipped.
    async fn push(&mut self, line: &[u8]) -> Result<(), Failure> {
        if line.trim_ascii().is_empty() {
            return Ok(());
        }
        let line = String::from_utf8_lossy(line);
        let row: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&self.batch, &self.next_line, &line.as_ref()];
        self.writer.as_mut().write(&row).await?;
        self.next_line += 1;
        Ok(())
    }
}

/// The event's videos, downloaded through the client into the video
/// folder and recorded in the job's transaction.
async fn videos(
    job: &Job,
    client: &GeminiClient,
    data: &VideoGenerated,
    sinks: &Sinks,
) -> Result<u64, Failure> {
    // The event's own URI; else the operation's, when the event names it
    // whole (`models/…/operations/…`).
    let uris: Vec<String> = match data.uri() {
        Some(uri) => vec![uri.to_owned()],
        None => match JobName::parse(&data.id) {
            Ok(name @ JobName::Operation { .. }) => match client.get_job(&name).await? {
                JobStatus::Video(video) => video.video_uris,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        },
    };
    if uris.is_empty() {
        tracing::warn!(
            operation = %data.id,
            "video.generated without a video URI or an operation name to ask for one; nothing written"
        );
        return Ok(0);
    }
    let operation = data.id.rsplit('/').next().unwrap_or(&data.id);
    let insert = format!(
        "INSERT INTO {}_videos (operation, uri, path, bytes) VALUES ($1, $2, $3, $4)",
        sinks.table
    );
    for (i, uri) in uris.iter().enumerate() {
        let path = sinks.video_dir.join(format!("{operation}-{i}.mp4"));
        let bytes = download_to(client, uri, &path).await?;
        let shown = path.display().to_string();
        job.client()
            .execute(&insert, &[&data.id, uri, &shown, &bytes])
            .await?;
    }
    Ok(uris.len() as u64)
}

/// Streams `uri` into `path` (written anew by a retry); its size. A
/// chunk at a time to a local disk: short next to the network's waits.
async fn download_to(client: &GeminiClient, uri: &str, path: &Path) -> Result<i64, Failure> {
    let mut download = client.download(uri).await?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut bytes = 0u64;
    while let Some(chunk) = download.chunk().await? {
        file.write_all(&chunk)?;
        bytes += chunk.len() as u64;
    }
    file.into_inner()
        .map_err(|err| err.into_error())?
        .sync_all()?;
    Ok(i64::try_from(bytes)?)
}

fn main() -> std::process::ExitCode {
    common::run_main(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging();
    let url = common::env("DATABASE_URL")?;
    let table = std::env::var("INBOX_TABLE").unwrap_or_else(|_| DEFAULT_TABLE.to_owned());
    let video_dir = std::env::var_os("INBOX_VIDEO_DIR")
        .map_or_else(|| std::env::temp_dir().join("gemini-videos"), PathBuf::from);
    std::fs::create_dir_all(&video_dir)?;
    let client = GeminiClient::builder(common::env("GEMINI_API_KEY")?)
        .host(std::env::var("GEMINI_API_BASE").unwrap_or_else(|_| GEMINI_API_HOST.to_owned()))
        .build()?;
    let inbox = Inbox::builder(&url).table(&table).build()?;
    inbox.check().await?;
    inbox
        .connection()
        .await?
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('{table}_results')); \
             CREATE TABLE IF NOT EXISTS {table}_results (batch TEXT NOT NULL, line_no BIGINT NOT NULL, line TEXT NOT NULL); \
             CREATE TABLE IF NOT EXISTS {table}_videos (operation TEXT NOT NULL, uri TEXT NOT NULL); \
             ALTER TABLE {table}_videos ADD COLUMN IF NOT EXISTS path TEXT, ADD COLUMN IF NOT EXISTS bytes BIGINT; \
             COMMIT;"
        ))
        .await?;

    let client = Arc::new(client);
    let sinks = Arc::new(Sinks { table, video_dir });
    let worker = inbox
        .worker(move |job: Job| {
            let (client, sinks) = (Arc::clone(&client), Arc::clone(&sinks));
            async move { handle(job, &client, &sinks).await.map(drop) }
        })
        .poll_interval(std::time::Duration::from_millis(200));
    let worker = tokio::spawn(worker.run_until(common::shutdown_signal()));
    common::inbox_server::serve(&inbox, vec![worker]).await
}
