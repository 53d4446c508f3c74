//! The jobs page: the filter form (state, event type, time range, free
//! text), the jobs it matches newest first a page at a time, and the bulk
//! requeue of dead or done ones — after a confirmation that says how many.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Redirect;
use gemini_webhooks::event::EventType;
use maud::{Markup, html};

use super::Shared;
use super::action::Action;
use super::error::DashboardError;
use super::filter::{FilterQuery, PageQuery, cursor_query};
use super::layout::{Frame, notice, state, time};
use crate::inbox::{JobRecord, JobState};

/// Jobs per page.
const PAGE: u32 = 50;

/// `GET /jobs`.
pub(super) async fn show(
    State(shared): State<Arc<Shared>>,
    frame: Frame,
    Query(query): Query<PageQuery>,
) -> Result<Markup, DashboardError> {
    let filter = query.filter.to_filter()?;
    let page = shared
        .inbox
        .browse(&filter, query.cursor()?.as_ref(), PAGE)
        .await?;
    let this_filter = query.filter.query_string();
    let requeueable = matches!(filter.state(), Some(JobState::Dead | JobState::Done));
    Ok(frame.page(
        "Jobs",
        html! {
            (notice(query.notice.as_deref(), query.n.as_deref()))
            (filter_form(&frame, &query.filter))
            @if requeueable {
                p { a href=(frame.link(&format!("/requeue?{this_filter}"))) { "Requeue every job this filter matches…" } }
            }
            @if page.jobs.is_empty() { p { "No job matches." } }
            @else { (table(&frame, &page.jobs)) }
            p.pages {
                @if query.cursor()?.is_some() { a href=(frame.link(&format!("/jobs?{this_filter}"))) { "← Newest" } " " }
                @if let Some(next) = &page.next {
                    @let more = if page.jobs.len() < PAGE as usize { "Search older jobs →" } else { "Older →" };
                    a rel="next" href=(frame.link(&format!("/jobs?{this_filter}&{}", cursor_query(next)))) { (more) }
                }
            }
        },
    ))
}

/// The filter form; `GET`, so a filtered page is a link to share.
fn filter_form(frame: &Frame, filter: &FilterQuery) -> Markup {
    let states = ["pending", "running", "done", "dead"];
    html! {
        form.filter method="get" action=(frame.link("/jobs")) {
            label { "State" select name="state" {
                option value="" { "any" }
                @for name in states { option value=(name) selected[filter.state == name] { (name) } }
            } }
            label { "Event type" input name="type" list="event-types" value=(filter.event_type) size="22"; }
            datalist #event-types { @for event_type in EventType::ALL { option value=(event_type) {} } }
            label { "Received since (UTC)" input type="datetime-local" name="since" value=(filter.since); }
            label { "until" input type="datetime-local" name="until" value=(filter.until); }
            label { "Text (id, job, error, envelope)" input type="search" name="q" value=(filter.q) size="24"; }
            button type="submit" { "Filter" }
        }
    }
}

/// A table of jobs, each linking to its page.
pub(super) fn table(frame: &Frame, jobs: &[JobRecord]) -> Markup {
    html! {
        table.jobs {
            thead { tr { th { "Key" } th { "State" } th { "Event" } th { "Gemini job" } th { "Attempts" } th { "Received (UTC)" } th { "Last error" } } }
            tbody {
                @for job in jobs {
                    tr {
                        td { a href=(frame.link(&format!("/job?{}", key_query(&job.key)))) { (job.key) } }
                        td { (state(job.state)) }
                        td { (job.event_type.as_deref().unwrap_or("–")) }
                        td { (job.job_key.as_deref().unwrap_or("–")) }
                        td { (job.attempts) }
                        td { (time(job.received_at)) }
                        td.err title=[job.last_error.as_deref()] { (job.last_error.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// `key=…`, encoded.
pub(super) fn key_query(key: &str) -> String {
    serde_urlencoded::to_string([("key", key)]).unwrap_or_default()
}

/// `GET /requeue`: how many jobs the filter would requeue, and the button.
pub(super) async fn confirm_requeue(
    State(shared): State<Arc<Shared>>,
    frame: Frame,
    Query(query): Query<FilterQuery>,
) -> Result<Markup, DashboardError> {
    let filter = query.to_filter()?;
    let count = shared.inbox.count_matching(&filter).await?;
    let done = filter.state() == Some(JobState::Done);
    Ok(frame.page(
        "Requeue jobs",
        html! {
            p #matching { (count) " job(s) match " code { (query.query_string()) } "." }
            @if done { p.problem { "These jobs were handled successfully: their handler runs again." } }
            @if count > 0 {
                (frame.action("/requeue", html! {
                    input type="hidden" name="state" value=(query.state);
                    input type="hidden" name="type" value=(query.event_type);
                    input type="hidden" name="since" value=(query.since);
                    input type="hidden" name="until" value=(query.until);
                    input type="hidden" name="q" value=(query.q);
                    button.danger type="submit" { "Requeue " (count) " job(s)" }
                }))
            }
            p { a href=(frame.link(&format!("/jobs?{}", query.query_string()))) { "Back to the jobs" } }
        },
    ))
}

/// `POST /requeue`: every job the filter matches, from attempt 1.
pub(super) async fn requeue(
    State(shared): State<Arc<Shared>>,
    frame: Frame,
    Action(query): Action<FilterQuery>,
) -> Result<Redirect, DashboardError> {
    let filter = query.to_filter()?;
    let requeued = shared.inbox.requeue_matching(&filter, |_| ()).await?;
    let back = format!(
        "/jobs?{}&notice=requeued&n={requeued}",
        query.query_string()
    );
    Ok(Redirect::to(&frame.link(&back)))
}
