//! The overview: jobs by state, the last day's chart, the backlog's age,
//! the workers' gate with pause and resume, tracked jobs due, and the
//! latest dead letters.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Query, State};
use axum::response::Redirect;
use maud::{Markup, html};
use serde::Deserialize;

use super::Shared;
use super::action::Action;
use super::chart::chart;
use super::error::DashboardError;
use super::filter::PageQuery;
use super::jobs::table;
#[cfg(feature = "reconcile")]
use super::layout::time;
use super::layout::{Frame, age, notice};
use crate::inbox::{Gate, InboxCounts, JobFilter, JobState};

/// Counts stop here ("100000+"): exact counts of a large table cost more
/// than a page may.
const COUNTED: u64 = 100_000;

/// `GET /`.
pub(super) async fn show(
    State(shared): State<Arc<Shared>>,
    frame: Frame,
    Query(query): Query<PageQuery>,
) -> Result<Markup, DashboardError> {
    let inbox = &shared.inbox;
    let dead = JobFilter::new(JobState::Dead);
    let (counts, activity, gate, latest_dead) = tokio::try_join!(
        inbox.counts_up_to(COUNTED),
        inbox.activity(),
        inbox.gate(),
        inbox.browse(&dead, None, 5),
    )?;
    let now = SystemTime::now();
    let oldest = activity
        .oldest_pending
        .map(|at| age(now.duration_since(at).unwrap_or_default()));
    let tracked = tracked_cards(&shared).await?;
    Ok(frame.page(
        "Overview",
        html! {
            (notice(query.notice.as_deref(), query.n.as_deref()))
            (cards(&frame, &counts, oldest.as_deref()))
            h2 { "Last 24 hours" }
            (chart(&activity.minutes, now))
            h2 { "Workers" }
            (gate_panel(&frame, gate))
            (tracked)
            h2 { "Latest dead letters" }
            @if latest_dead.jobs.is_empty() { p { "None." } }
            @else { (table(&frame, &latest_dead.jobs)) }
        },
    ))
}

fn cards(frame: &Frame, counts: &InboxCounts, oldest: Option<&str>) -> Markup {
    let states = [
        JobState::Pending,
        JobState::Running,
        JobState::Done,
        JobState::Dead,
    ];
    html! {
        div.cards {
            @for state in states {
                a.card href=(frame.link(&format!("/jobs?state={state}"))) {
                    div.n { (counts.of(state)) @if counts.of(state) >= COUNTED { "+" } } div.l { (state) }
                }
            }
            div.card { div.n { (oldest.unwrap_or("–")) } div.l { "oldest pending" } }
        }
    }
}

fn gate_panel(frame: &Frame, gate: Gate) -> Markup {
    let status = match (gate.paused, gate.rate) {
        (true, _) => "Paused: no new job starts; running jobs finish.".to_owned(),
        (false, Some(rate)) => format!("Running, at most {rate} job(s) started per second."),
        (false, None) => "Running at full speed.".to_owned(),
    };
    html! {
        p #gate { (status) }
        div.cards {
            @if !gate.paused {
                (frame.action("/pause", html! { button.danger type="submit" { "Pause workers" } }))
            }
            (frame.action("/resume", html! {
                label { "at most " input type="number" name="rate" min="1" size="6" placeholder="any"; " jobs/s " }
                button type="submit" { "Resume" }
            }))
        }
    }
}

#[cfg(feature = "reconcile")]
async fn tracked_cards(shared: &Shared) -> Result<Markup, DashboardError> {
    let (counts, webhooks) =
        tokio::try_join!(shared.tracking.counts(), shared.tracking.webhooks())?;
    Ok(html! {
        @for watched in &webhooks {
            @let enabled = watched.state == "enabled";
            p.webhook class=[(!enabled).then_some("problem")] {
                "Webhook " code { (watched.webhook) } ": " strong { (watched.state) }
                " (checked " (time(watched.checked_at)) " UTC)"
                @if !enabled { " — no deliveries are coming; tracked jobs are polled." }
            }
        }
        h2 { "Tracked Gemini jobs" }
        div.cards {
            div.card { div.n { (counts.open) } div.l { "open" } }
            div.card { div.n { (counts.overdue) } div.l { "overdue (due, not polled)" } }
            div.card { div.n { (counts.abandoned) } div.l { "abandoned" } }
            div.card { div.n { (counts.by_webhook) " / " (counts.by_poll) } div.l { "ended by webhook / poll" } }
        }
    })
}

#[cfg(not(feature = "reconcile"))]
async fn tracked_cards(_: &Shared) -> Result<Markup, DashboardError> {
    Ok(html! {})
}

/// `POST /pause`.
pub(super) async fn pause(
    State(shared): State<Arc<Shared>>,
    frame: Frame,
    _: Action<serde::de::IgnoredAny>,
) -> Result<Redirect, DashboardError> {
    shared.inbox.pause().await?;
    tracing::warn!(
        table = shared.inbox.table(),
        "gemini webhooks dashboard: workers paused"
    );
    Ok(Redirect::to(&frame.link("/?notice=paused")))
}

#[derive(Deserialize)]
pub(super) struct Resume {
    #[serde(default)]
    rate: String,
}

/// `POST /resume`: at full speed, or at most `rate` jobs per second.
pub(super) async fn resume(
    State(shared): State<Arc<Shared>>,
    frame: Frame,
    Action(form): Action<Resume>,
) -> Result<Redirect, DashboardError> {
    let rate = match form.rate.trim() {
        "" => None,
        rate => Some(rate.parse::<NonZeroU32>().map_err(|_| {
            DashboardError::BadRequest(format!(
                "a rate is a whole number of jobs per second, not {rate:?}"
            ))
        })?),
    };
    shared
        .inbox
        .set_gate(Gate {
            paused: false,
            rate,
        })
        .await?;
    tracing::info!(
        table = shared.inbox.table(),
        ?rate,
        "gemini webhooks dashboard: workers resumed"
    );
    Ok(Redirect::to(&frame.link("/?notice=resumed")))
}
