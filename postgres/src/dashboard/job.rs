//! One job: its envelope pretty-printed, attempts, last error, origin,
//! every timestamp; and requeue, for a dead letter or (explicitly) a done
//! job.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Redirect;
use maud::{Markup, html};
use serde::Deserialize;

use super::Shared;
use super::action::Action;
use super::error::DashboardError;
use super::jobs::key_query;
use super::layout::{Frame, maybe_time, notice, state, time};
use crate::inbox::{JobRecord, JobState};

#[derive(Deserialize)]
pub(super) struct JobQuery {
    key: String,
    notice: Option<String>,
}

/// `GET /job?key=…`.
pub(super) async fn show(
    State(shared): State<Arc<Shared>>,
    frame: Frame,
    Query(query): Query<JobQuery>,
) -> Result<Markup, DashboardError> {
    let job = shared
        .inbox
        .job(&query.key)
        .await?
        .ok_or(DashboardError::NotFound)?;
    Ok(frame.page(
        &format!("Job {}", job.key),
        html! {
            (notice(query.notice.as_deref(), Some("1")))
            (facts(&job))
            (requeue_form(&frame, &job))
            h2 { "Last error" }
            @match &job.last_error {
                Some(error) => pre.error { (error) },
                None => p { "None." },
            }
            h2 { "Envelope" }
            pre.envelope { (pretty(&job.body)) }
        },
    ))
}

fn facts(job: &JobRecord) -> Markup {
    html! {
        dl {
            dt { "State" } dd { (state(job.state)) }
            dt { "Event type" } dd { (job.event_type.as_deref().unwrap_or("–")) }
            dt { "Gemini job" } dd { (job.job_key.as_deref().unwrap_or("–")) }
            dt { "Came by" } dd { (job.origin) }
            dt { "Webhook id" } dd { (job.webhook_id) }
            dt { "Attempts" } dd { (job.attempts) }
            dt { "Received (UTC)" } dd { (time(job.received_at)) }
            dt { @if job.state == JobState::Running { "Lease ends" } @else { "Due" } } dd { (time(job.run_at)) }
            dt { "Last failure" } dd { (maybe_time(job.failed_at)) }
            dt { "Finished" } dd { (maybe_time(job.finished_at)) }
        }
    }
}

fn requeue_form(frame: &Frame, job: &JobRecord) -> Markup {
    let label = match job.state {
        JobState::Dead => "Requeue this dead letter",
        JobState::Done => "Run this done job again",
        _ => return html! {},
    };
    html! {
        @if job.state == JobState::Done {
            p { "It was handled successfully; run it again only if its handler lost the event." }
        }
        (frame.action("/job/requeue", html! {
            input type="hidden" name="key" value=(job.key);
            button.danger type="submit" { (label) }
        }))
    }
}

/// The body as indented JSON, or as text if it is not JSON.
fn pretty(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

#[derive(Deserialize)]
pub(super) struct RequeueOne {
    key: String,
}

/// `POST /job/requeue`: a dead letter, or a done job, runs again.
pub(super) async fn requeue(
    State(shared): State<Arc<Shared>>,
    frame: Frame,
    Action(form): Action<RequeueOne>,
) -> Result<Redirect, DashboardError> {
    let inbox = &shared.inbox;
    let job = inbox
        .job(&form.key)
        .await?
        .ok_or(DashboardError::NotFound)?;
    let requeued = match job.state {
        JobState::Dead => inbox.requeue(&job.key).await?,
        JobState::Done => inbox.requeue_done(&job.key).await?,
        other => {
            return Err(DashboardError::BadRequest(format!(
                "only a dead or done job is requeued; this one is {other}"
            )));
        }
    };
    let notice = if requeued { "&notice=requeued" } else { "" };
    Ok(Redirect::to(
        &frame.link(&format!("/job?{}{notice}", key_query(&job.key))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_body_is_indented_and_anything_else_shown_as_text() {
        assert_eq!(pretty(br#"{"a":[1]}"#), "{\n  \"a\": [\n    1\n  ]\n}");
        assert_eq!(pretty(b"not json"), "not json");
    }
}
