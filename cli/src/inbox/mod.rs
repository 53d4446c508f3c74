//! `inbox stats|list|show|requeue|track|tracked|untrack|pause|resume`: a durable inbox's
//! jobs and dead letters, its workers' gate, and the Gemini jobs it expects, on the team's own database,
//! through `gemini_webhooks_postgres::inbox`.

use std::time::SystemTime;

use clap::{Args, Subcommand, ValueEnum};
use gemini_webhooks_api::JobName;
use gemini_webhooks_postgres::inbox::{DEFAULT_TABLE, Gate, Inbox, JobFilter, JobRecord, JobState};
use gemini_webhooks_postgres::reconcile::{TrackedState, Tracking};
use serde_json::json;

use crate::Failure;
use crate::output::Output;

mod tracked;

use tracked::{TrackedArg, reopen_tracked, track, tracked, tracked_job, untrack};

/// Look into a durable inbox: counts, jobs by state, one job, requeue;
/// track a Gemini job so its completion is handled even if its webhook
/// never comes.
///
/// Examples:
///   DATABASE_URL=postgres://… gemini-webhooks inbox stats
///   gemini-webhooks inbox list --state dead
///   gemini-webhooks inbox show msg_2Kd…
///   gemini-webhooks inbox requeue --all-dead
///   gemini-webhooks inbox requeue --state dead --type batch.failed --since 2026-12-06T00:00:00Z --dry-run
///   gemini-webhooks inbox requeue msg_2Kd… --done
///   gemini-webhooks inbox track batches/abc123 --expect-within 3600 --metadata '{"order":42}'
///   gemini-webhooks inbox tracked --state open
///   gemini-webhooks inbox untrack batches/abc123
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
    /// Tracked Gemini jobs, the latest tracked first: deadline, polls, the
    /// last state and error.
    Tracked {
        /// Only jobs in this state.
        #[arg(long, value_enum)]
        state: Option<TrackedArg>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Stop tracking a job (tracked by mistake): never polled again.
    Untrack {
        /// The job: batches/ID, models/MODEL/operations/ID or interactions/ID.
        job: String,
    },
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
    /// Run finished jobs again from attempt 1: one dead letter (or done job
    /// with --done), every dead letter, or every job a filter matches.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["key", "all_dead", "state"])))]
    Requeue {
        /// The job's replay key.
        #[arg(conflicts_with_all = ["all_dead", "state"])]
        key: Option<String>,
        /// With KEY: the job is done, not dead; its handler runs again.
        #[arg(long, requires = "key")]
        done: bool,
        /// Every dead letter.
        #[arg(long, conflicts_with = "state")]
        all_dead: bool,
        /// Every job in this state matching --type, --since and --until.
        #[arg(long, value_enum)]
        state: Option<FinishedArg>,
        /// Only jobs whose event is of this type (batch.failed).
        #[arg(long = "type", value_name = "EVENT_TYPE", requires = "state")]
        event_type: Option<String>,
        /// Only jobs received at or after this time (RFC 3339).
        #[arg(long, value_name = "RFC3339", requires = "state", value_parser = parse_rfc3339)]
        since: Option<SystemTime>,
        /// Only jobs received before this time (RFC 3339).
        #[arg(long, value_name = "RFC3339", requires = "state", value_parser = parse_rfc3339)]
        until: Option<SystemTime>,
        /// Print how many jobs match; requeue none.
        #[arg(long, requires = "state")]
        dry_run: bool,
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

/// The states a job is requeued from.
#[derive(Clone, Copy, ValueEnum)]
enum FinishedArg {
    Dead,
    Done,
}

impl From<FinishedArg> for JobState {
    fn from(state: FinishedArg) -> Self {
        match state {
            FinishedArg::Dead => Self::Dead,
            FinishedArg::Done => Self::Done,
        }
    }
}

fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(SystemTime::from)
        .map_err(|err| format!("not an RFC 3339 time ({err}): e.g. 2026-12-07T09:00:00Z"))
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
        InboxCommand::Tracked { state, limit } => {
            tracked(&inbox, state.map(TrackedState::from), *limit, out).await
        }
        InboxCommand::Untrack { job } => untrack(&inbox, &JobName::parse(job)?, out).await,
        InboxCommand::Pause => set_gate(&inbox, Gate::PAUSED, out).await,
        InboxCommand::Resume { rate } => {
            set_gate(&inbox, rate.map_or(Gate::OPEN, Gate::rate), out).await
        }
        InboxCommand::List { state, limit } => {
            list(&inbox, state.map(JobState::from), *limit, out).await
        }
        InboxCommand::Show { key } => show(&inbox, &args.table, key, out).await,
        InboxCommand::Requeue {
            key: Some(key),
            done,
            ..
        } => requeue_one(&inbox, &args.table, key, *done, out).await,
        InboxCommand::Requeue {
            state,
            event_type,
            since,
            until,
            dry_run,
            ..
        } => {
            let filter = job_filter(*state, event_type.as_deref(), *since, *until);
            requeue_matching(&inbox, &filter, *dry_run, out).await
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

/// `inbox list [--state S] [--limit N]`.
async fn list(
    inbox: &Inbox,
    state: Option<JobState>,
    limit: u32,
    out: Output,
) -> Result<(), Failure> {
    let jobs = inbox.jobs(state, limit).await?;
    if jobs.is_empty() && !out.is_json() {
        crate::output::line("no jobs");
    }
    for job in &jobs {
        out.show(|| summary(job), || record(job, false));
    }
    Ok(())
}

/// The filter of `inbox requeue --state …` (`--all-dead`: every dead
/// letter).
fn job_filter(
    state: Option<FinishedArg>,
    event_type: Option<&str>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
) -> JobFilter {
    let mut filter = JobFilter::new(state.map_or(JobState::Dead, JobState::from));
    if let Some(event_type) = event_type {
        filter = filter.event_type(event_type);
    }
    if let Some(since) = since {
        filter = filter.since(since);
    }
    if let Some(until) = until {
        filter = filter.until(until);
    }
    filter
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

/// `inbox requeue KEY [--done]`.
async fn requeue_one(
    inbox: &Inbox,
    table: &str,
    key: &str,
    done: bool,
    out: Output,
) -> Result<(), Failure> {
    let requeued = if done {
        inbox.requeue_done(key).await?
    } else {
        inbox.requeue(key).await?
    };
    if !requeued {
        let what = if done { "done job" } else { "dead letter" };
        return Err(format!("no {what} {key:?} in {table}").into());
    }
    out.show(
        || format!("requeued {key}"),
        || json!({ "requeued": [key] }),
    );
    Ok(())
}

/// `inbox requeue --all-dead` or `--state … [--dry-run]`: on a terminal,
/// progress on standard error as the batches go.
async fn requeue_matching(
    inbox: &Inbox,
    filter: &JobFilter,
    dry_run: bool,
    out: Output,
) -> Result<(), Failure> {
    let matching = inbox.count_matching(filter).await?;
    if dry_run {
        out.show(
            || format!("{matching} would be requeued"),
            || json!({ "matching": matching, "dry_run": true }),
        );
        return Ok(());
    }
    let progress = Progress::new(matching);
    let requeued = inbox
        .requeue_matching(filter, |so_far| progress.show(so_far))
        .await?;
    progress.finish();
    out.show(
        || format!("requeued {requeued}"),
        || json!({ "requeued": requeued }),
    );
    Ok(())
}

/// A one-line progress bar on standard error, drawn only on a terminal.
struct Progress {
    total: u64,
    drawn: bool,
}

impl Progress {
    fn new(total: u64) -> Self {
        use std::io::IsTerminal as _;
        Self {
            total,
            drawn: std::io::stderr().is_terminal() && total > 0,
        }
    }

    fn show(&self, done: u64) {
        const WIDTH: u64 = 30;
        if self.drawn {
            let filled = done.min(self.total) * WIDTH / self.total;
            let bar: String = (0..WIDTH)
                .map(|cell| if cell < filled { '#' } else { '-' })
                .collect();
            eprint!("\r[{bar}] {done}/{}", self.total);
        }
    }

    fn finish(&self) {
        if self.drawn {
            eprintln!();
        }
    }
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
