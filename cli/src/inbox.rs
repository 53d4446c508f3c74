//! `inbox stats|list|show|requeue|track|pause|resume`: a durable inbox's
//! jobs and dead letters, its workers' gate, and the Gemini jobs it expects, on the team's own database,
//! through `gemini_webhooks_postgres::inbox`.

use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand, ValueEnum};
use gemini_webhooks_api::JobName;
use gemini_webhooks_postgres::inbox::{DEFAULT_TABLE, Gate, Inbox, JobRecord, JobState};
use gemini_webhooks_postgres::reconcile::{TrackedJob, Tracking};
use serde_json::json;

use crate::Failure;
use crate::output::Output;

/// Look into a durable inbox: counts, jobs by state, one job, requeue;
/// track a Gemini job so its completion is handled even if its webhook
/// never comes.
///
/// Examples:
///   DATABASE_URL=postgres://… gemini-webhooks inbox stats
///   gemini-webhooks inbox list --state dead
///   gemini-webhooks inbox show msg_2Kd…
///   gemini-webhooks inbox requeue --all-dead
///   gemini-webhooks inbox track batches/abc123 --expect-within 3600 --metadata '{"order":42}'
///   gemini-webhooks inbox pause
///   gemini-webhooks inbox resume --rate 20
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct InboxArgs {
    /// The database (default: the `DATABASE_URL` environment variable).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The inbox table.
    #[arg(long, global = true, default_value = DEFAULT_TABLE)]
    table: String,
    #[command(subcommand)]
    command: InboxCommand,
}

#[derive(Subcommand)]
enum InboxCommand {
    /// How many jobs are pending, running, done and dead; whether the
    /// workers are paused.
    Stats,
    /// Workers of every replica stop claiming new jobs at their next claim
    /// (running ones finish); deliveries are still stored and acknowledged.
    Pause,
    /// Workers claim again, and are woken.
    Resume {
        /// At most this many jobs started per second across all workers,
        /// to drain a backlog without flattening the service downstream.
        #[arg(long, value_name = "JOBS_PER_SEC")]
        rate: Option<std::num::NonZeroU32>,
    },
    /// Jobs, newest first, without their bodies.
    List {
        /// Only jobs in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One job in full, its body included.
    Show { key: String },
    /// Run a dead letter again from attempt 1 (or every one).
    Requeue {
        /// The dead letter's replay key.
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        key: Option<String>,
        /// Every dead letter.
        #[arg(long)]
        all_dead: bool,
    },
    /// Expect a Gemini job's completion: a receiver running a reconciler
    /// polls for it if no webhook has come within `--expect-within`.
    Track {
        /// The job: batches/ID, models/MODEL/operations/ID or interactions/ID.
        job: String,
        /// Seconds its webhook may take before it is polled for (default:
        /// its kind's, 24 h for a batch, 30 min for a video, 1 h for an
        /// interaction).
        #[arg(long, value_name = "SECS", conflicts_with = "reopen")]
        expect_within: Option<u64>,
        /// Its user_metadata, a JSON object, handed to the handler with a
        /// polled event.
        #[arg(long, value_name = "JSON", conflicts_with = "reopen")]
        metadata: Option<String>,
        /// Open an abandoned job again (e.g. after a revoked API key was
        /// replaced): polled at once.
        #[arg(long)]
        reopen: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum StateArg {
    Pending,
    Running,
    Done,
    Dead,
}

impl From<StateArg> for JobState {
    fn from(state: StateArg) -> Self {
        match state {
            StateArg::Pending => Self::Pending,
            StateArg::Running => Self::Running,
            StateArg::Done => Self::Done,
            StateArg::Dead => Self::Dead,
        }
    }
}

pub async fn run(args: &InboxArgs, out: Output) -> Result<(), Failure> {
    let url = args
        .database_url
        .clone()
        .filter(|url| !url.trim().is_empty())
        .ok_or("no database: set DATABASE_URL (or pass --database-url)")?;
    // The tools never create the table: a wrong --table is an error.
    let inbox = Inbox::builder(url)
        .table(&args.table)
        .create_schema(false)
        .pool_size(1)
        .build()?;
    match &args.command {
        InboxCommand::Stats => stats(&inbox, out).await,
        InboxCommand::Pause => set_gate(&inbox, Gate::PAUSED, out).await,
        InboxCommand::Resume { rate } => {
            set_gate(&inbox, rate.map_or(Gate::OPEN, Gate::rate), out).await
        }
        InboxCommand::List { state, limit } => {
            let jobs = inbox.jobs(state.map(JobState::from), *limit).await?;
            if jobs.is_empty() && !out.is_json() {
                crate::output::line("no jobs");
            }
            for job in &jobs {
                out.show(|| summary(job), || record(job, false));
            }
            Ok(())
        }
        InboxCommand::Show { key } => show(&inbox, &args.table, key, out).await,
        InboxCommand::Requeue { key, all_dead } => {
            requeue(&inbox, &args.table, key.as_deref(), *all_dead, out).await
        }
        InboxCommand::Track {
            job,
            expect_within,
            metadata,
            reopen,
        } => {
            let name = JobName::parse(job)?;
            if *reopen {
                return reopen_tracked(&inbox, &name, out).await;
            }
            let tracked = tracked_job(name, *expect_within, metadata.as_deref())?;
            track(&inbox, &tracked, out).await
        }
    }
}

/// `inbox stats`.
async fn stats(inbox: &Inbox, out: Output) -> Result<(), Failure> {
    let counts = inbox.counts().await?;
    let gate = inbox.gate().await?;
    let tracked = Tracking::new(inbox).counts().await?;
    out.show(
        || {
            format!(
                "pending {}  running {}  done {}  dead {}\n\
                 workers: {gate}\n\
                 tracked: open {} (overdue {})  by webhook {}  by poll {}  abandoned {}",
                counts.pending,
                counts.running,
                counts.done,
                counts.dead,
                tracked.open,
                tracked.overdue,
                tracked.by_webhook,
                tracked.by_poll,
                tracked.abandoned
            )
        },
        || {
            json!({ "pending": counts.pending, "running": counts.running,
                    "done": counts.done, "dead": counts.dead,
                    "gate": gate_json(gate),
                    "tracked": { "open": tracked.open, "overdue": tracked.overdue,
                                 "by_webhook": tracked.by_webhook,
                                 "by_poll": tracked.by_poll,
                                 "abandoned": tracked.abandoned } })
        },
    );
    Ok(())
}

/// `inbox pause`, `inbox resume [--rate N]`.
async fn set_gate(inbox: &Inbox, gate: Gate, out: Output) -> Result<(), Failure> {
    inbox.set_gate(gate).await?;
    out.show(|| format!("workers: {gate}"), || gate_json(gate));
    Ok(())
}

fn gate_json(gate: Gate) -> serde_json::Value {
    json!({ "paused": gate.paused, "rate": gate.rate.map(std::num::NonZeroU32::get) })
}

/// `inbox show KEY`.
async fn show(inbox: &Inbox, table: &str, key: &str, out: Output) -> Result<(), Failure> {
    let job = inbox
        .job(key)
        .await?
        .ok_or_else(|| format!("no job {key:?} in {table}"))?;
    out.show(
        || {
            format!(
                "{}\nbody: {}",
                summary(&job),
                String::from_utf8_lossy(&job.body).escape_debug()
            )
        },
        || record(&job, true),
    );
    Ok(())
}

/// `inbox requeue KEY` or `inbox requeue --all-dead`.
async fn requeue(
    inbox: &Inbox,
    table: &str,
    key: Option<&str>,
    all_dead: bool,
    out: Output,
) -> Result<(), Failure> {
    if all_dead {
        let requeued = inbox.requeue_all().await?;
        out.show(
            || format!("requeued {requeued}"),
            || json!({ "requeued": requeued }),
        );
    } else if let Some(key) = key {
        if !inbox.requeue(key).await? {
            return Err(format!("no dead letter {key:?} in {table}").into());
        }
        out.show(
            || format!("requeued {key}"),
            || json!({ "requeued": [key] }),
        );
    }
    Ok(())
}

/// `inbox track JOB --reopen`.
async fn reopen_tracked(inbox: &Inbox, name: &JobName, out: Output) -> Result<(), Failure> {
    let reopened = Tracking::new(inbox).reopen(name).await?;
    out.show(
        || {
            if reopened {
                format!("{name} reopened: polled at once")
            } else {
                format!("{name} is not an abandoned tracked job; nothing changed")
            }
        },
        || json!({ "reopened": reopened, "job": name.to_string() }),
    );
    Ok(())
}

/// The job `inbox track` records, its metadata checked.
fn tracked_job(
    name: JobName,
    expect_within: Option<u64>,
    metadata: Option<&str>,
) -> Result<TrackedJob, Failure> {
    let mut tracked = TrackedJob::new(name);
    // A wait too long for the database is refused by `track` itself,
    // before any statement.
    if let Some(secs) = expect_within {
        tracked = tracked.expect_within(Duration::from_secs(secs));
    }
    if let Some(metadata) = metadata {
        match serde_json::from_str(metadata) {
            Ok(serde_json::Value::Object(metadata)) => {
                tracked = tracked.user_metadata(metadata);
            }
            Ok(_) => return Err("--metadata must be a JSON object".into()),
            Err(err) => return Err(format!("--metadata is not JSON: {err}").into()),
        }
    }
    Ok(tracked)
}

/// `inbox track JOB …`.
async fn track(inbox: &Inbox, tracked: &TrackedJob, out: Output) -> Result<(), Failure> {
    let new = Tracking::new(inbox).track(tracked).await?;
    let (name, expect_within) = (tracked.name(), tracked.expected_within().as_secs());
    out.show(
        || {
            if new {
                format!("tracking {name}: polled if unseen after {expect_within} s")
            } else {
                format!("{name} was tracked already")
            }
        },
        || json!({ "tracked": name.to_string(), "new": new, "expect_within": expect_within }),
    );
    Ok(())
}

/// One line: key, state, attempts, when, the last error (escaped).
fn summary(job: &JobRecord) -> String {
    let mut line = format!(
        "{}  {}  attempts {}  received {}",
        job.key.escape_debug(),
        job.state,
        job.attempts,
        rfc3339(job.received_at)
    );
    if let Some(error) = &job.last_error {
        line.push_str(&format!("  last error: {}", error.escape_debug()));
    }
    line
}

fn record(job: &JobRecord, with_body: bool) -> serde_json::Value {
    let mut value = json!({
        "key": job.key, "webhook_id": job.webhook_id, "state": job.state.as_str(),
        "attempts": job.attempts, "last_error": job.last_error,
        "received_at": rfc3339(job.received_at), "run_at": rfc3339(job.run_at),
        "failed_at": job.failed_at.map(rfc3339), "finished_at": job.finished_at.map(rfc3339),
    });
    if with_body {
        value["body"] = json!(String::from_utf8_lossy(&job.body));
    }
    value
}

fn rfc3339(at: SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "-".to_owned())
}
