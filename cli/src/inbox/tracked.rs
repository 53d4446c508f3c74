//! `inbox track|tracked|untrack`: the Gemini jobs an inbox expects, so a
//! completion whose webhook never comes is still handled (through
//! `gemini_webhooks_postgres::reconcile::Tracking`).

use std::time::Duration;

use clap::ValueEnum;
use gemini_webhooks_api::JobName;
use gemini_webhooks_postgres::inbox::Inbox;
use gemini_webhooks_postgres::reconcile::{TrackedJob, TrackedRecord, TrackedState, Tracking};
use serde_json::json;

use super::rfc3339;
use crate::Failure;
use crate::output::Output;

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum TrackedArg {
    Open,
    Done,
    Abandoned,
}

impl From<TrackedArg> for TrackedState {
    fn from(state: TrackedArg) -> Self {
        match state {
            TrackedArg::Open => Self::Open,
            TrackedArg::Done => Self::Done,
            TrackedArg::Abandoned => Self::Abandoned,
        }
    }
}

/// `inbox tracked [--state S] [--limit N]`.
pub(super) async fn tracked(
    inbox: &Inbox,
    state: Option<TrackedState>,
    limit: u32,
    out: Output,
) -> Result<(), Failure> {
    let jobs = Tracking::new(inbox).list(state, limit).await?;
    if jobs.is_empty() && !out.is_json() {
        crate::output::line("no tracked jobs");
    }
    for job in &jobs {
        out.show(|| tracked_summary(job), || tracked_record(job));
    }
    Ok(())
}

/// One line: resource, state, deadline, polls, the last state and error.
fn tracked_summary(job: &TrackedRecord) -> String {
    let mut line = format!(
        "{}  {}  deadline {}  polls {}",
        job.resource.escape_debug(),
        job.state,
        rfc3339(job.deadline),
        job.polls
    );
    if let Some(status) = &job.last_status {
        line.push_str(&format!("  last state {}", status.escape_debug()));
    }
    if let Some(error) = &job.last_error {
        line.push_str(&format!("  last error: {}", error.escape_debug()));
    }
    line
}

fn tracked_record(job: &TrackedRecord) -> serde_json::Value {
    json!({
        "job": job.resource, "key": job.key, "state": job.state.as_str(),
        "origin": job.origin, "deadline": rfc3339(job.deadline),
        "horizon": rfc3339(job.horizon), "next_poll_at": rfc3339(job.next_poll_at),
        "polls": job.polls, "failures": job.failures, "last_state": job.last_status,
        "last_error": job.last_error, "tracked_at": rfc3339(job.tracked_at),
        "closed_at": job.closed_at.map(rfc3339),
    })
}

/// `inbox untrack JOB`.
pub(super) async fn untrack(inbox: &Inbox, name: &JobName, out: Output) -> Result<(), Failure> {
    if !Tracking::new(inbox).untrack(name).await? {
        return Err(format!("{name} is not tracked").into());
    }
    out.show(
        || format!("{name} no longer tracked"),
        || json!({ "untracked": name.to_string() }),
    );
    Ok(())
}

/// `inbox track JOB --reopen`.
pub(super) async fn reopen_tracked(
    inbox: &Inbox,
    name: &JobName,
    out: Output,
) -> Result<(), Failure> {
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
pub(super) fn tracked_job(
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
pub(super) async fn track(inbox: &Inbox, tracked: &TrackedJob, out: Output) -> Result<(), Failure> {
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
