//! Tracked Gemini jobs: deadline, polls, state, last poll's answer; and
//! reopen, for one given up.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Redirect;
use gemini_webhooks_api::JobName;
use maud::{Markup, html};
use serde::Deserialize;

use super::Shared;
use super::action::Action;
use super::error::DashboardError;
use super::layout::{Frame, maybe_time, notice, time};
use crate::reconcile::{TrackedRecord, TrackedState};

/// Tracked jobs shown.
const SHOWN: u32 = 200;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct TrackedQuery {
    state: String,
    notice: Option<String>,
}

/// `GET /tracked`.
pub(super) async fn show(
    State(shared): State<Arc<Shared>>,
    frame: Frame,
    Query(query): Query<TrackedQuery>,
) -> Result<Markup, DashboardError> {
    let states = [
        TrackedState::Open,
        TrackedState::Done,
        TrackedState::Abandoned,
    ];
    let state = match query.state.as_str() {
        "" => None,
        name => Some(
            states
                .into_iter()
                .find(|state| state.as_str() == name)
                .ok_or_else(|| {
                    DashboardError::BadRequest(format!("no tracked state is called {name:?}"))
                })?,
        ),
    };
    let jobs = shared.tracking.list(state, SHOWN).await?;
    Ok(frame.page(
        "Tracked Gemini jobs",
        html! {
            (notice(query.notice.as_deref(), None))
            form.filter method="get" action=(frame.link("/tracked")) {
                label { "State" select name="state" {
                    option value="" { "any" }
                    @for each in states { option value=(each) selected[state == Some(each)] { (each) } }
                } }
                button type="submit" { "Filter" }
            }
            @if jobs.is_empty() { p { "No tracked job." } }
            @else { (table(&frame, &jobs)) }
        },
    ))
}

fn table(frame: &Frame, jobs: &[TrackedRecord]) -> Markup {
    html! {
        table {
            thead { tr { th { "Job" } th { "State" } th { "Deadline (UTC)" } th { "Next poll" } th { "Polls" } th { "Last status" } th { "Last error" } th {} } }
            tbody {
                @for job in jobs {
                    tr {
                        td { (job.resource) }
                        td { (job.state) @if let Some(origin) = &job.origin { " (" (origin) ")" } }
                        td { (time(job.deadline)) }
                        td { @if job.state == TrackedState::Open { (time(job.next_poll_at)) } @else { "–" } }
                        td { (job.polls) }
                        td { (job.last_status.as_deref().unwrap_or("–")) }
                        td.err { (job.last_error.as_deref().unwrap_or("")) }
                        td {
                            @if job.state == TrackedState::Abandoned {
                                (frame.action("/tracked/reopen", html! {
                                    input type="hidden" name="job" value=(job.resource);
                                    button type="submit" { "Reopen" }
                                }))
                            }
                        }
                    }
                }
            }
        }
        p { "Tracked since " (maybe_time(jobs.last().map(|job| job.tracked_at))) " (the latest " (jobs.len()) ")." }
    }
}

#[derive(Deserialize)]
pub(super) struct Reopen {
    job: String,
}

/// `POST /tracked/reopen`: an abandoned job polled again.
pub(super) async fn reopen(
    State(shared): State<Arc<Shared>>,
    frame: Frame,
    Action(form): Action<Reopen>,
) -> Result<Redirect, DashboardError> {
    let name = JobName::parse(&form.job)
        .map_err(|err| DashboardError::BadRequest(format!("not a Gemini job name: {err}")))?;
    let reopened = shared.tracking.reopen(&name).await?;
    let notice = if reopened { "?notice=reopened" } else { "" };
    Ok(Redirect::to(&frame.link(&format!("/tracked{notice}"))))
}
