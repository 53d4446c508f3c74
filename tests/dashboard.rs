//! The dashboard over HTTP (in process): nobody in without the token, a
//! login's cookie, a CSRF token on every action whatever the credential,
//! and the actions doing what they say to the inbox.

#![cfg(feature = "axum")]

mod common;

use axum::Router;
use axum::body::Body;
use common::pg::{drop_table, fresh_inbox};
use gemini_webhooks_postgres::dashboard::Dashboard;
use gemini_webhooks_postgres::inbox::{Gate, Inbox, Job, JobState};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

const TOKEN: &str = "dashboard-token-for-tests-0123456789";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

/// One request to the app: `auth` a full `Authorization` or `Cookie`
/// header (`None`: neither), `form` a POST body.
async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    auth: Option<(header::HeaderName, String)>,
    form: Option<String>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some((name, value)) = auth {
        request = request.header(name, value);
    }
    let body = match form {
        Some(form) => {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(form)
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let text = String::from_utf8_lossy(&body.collect().await.unwrap().to_bytes()).into_owned();
    Answer {
        status: parts.status,
        headers: parts.headers,
        text,
    }
}

fn bearer() -> Option<(header::HeaderName, String)> {
    Some((header::AUTHORIZATION, format!("Bearer {TOKEN}")))
}

/// The CSRF token in a page's forms.
fn csrf(page: &str) -> String {
    let start = page
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token")
        + 19;
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// An inbox with two dead letters (one whose error is markup) and one
/// done job, and the app serving its dashboard at `/inbox`.
async fn inbox_with_jobs() -> (String, Inbox, Router) {
    let (table, inbox) = fresh_inbox().await;
    common::pg::ingest_each(&inbox, &["msg_dead1", "msg_dead2", "msg_fine"]).await;
    let worker = inbox
        .worker(|job: Job| async move {
            match job.delivery().id() {
                "msg_fine" => Ok(()),
                _ => Err("<script>alert(1)</script> quota"),
            }
        })
        .max_attempts(1);
    while worker.run_once().await.unwrap().claimed > 0 {}
    let app = Router::new().nest_service("/inbox", Dashboard::new(&inbox).token(TOKEN).router());
    (table, inbox, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_gets_in_without_the_token_and_a_login_sets_a_strict_cookie() {
    let (table, _inbox, app) = inbox_with_jobs().await;
    for path in ["/inbox/", "/inbox/jobs", "/inbox/job?key=msg_dead1"] {
        let answer = call(&app, Method::GET, path, None, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            answer.text.contains(r#"action="/inbox/login""#),
            "the login form: {}",
            answer.text
        );
        assert!(!answer.text.contains("msg_dead1"));
    }
    let wrong = Some((header::AUTHORIZATION, "Bearer not-the-token".to_owned()));
    assert_eq!(
        call(&app, Method::GET, "/inbox/", wrong, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let forged = Some((header::COOKIE, "gw_dashboard=9999999999.AAAA".to_owned()));
    assert_eq!(
        call(&app, Method::GET, "/inbox/", forged, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let answer = call(
        &app,
        Method::POST,
        "/inbox/login",
        None,
        Some("token=guess".into()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.headers.get(header::SET_COOKIE).is_none());

    let login = call(
        &app,
        Method::POST,
        "/inbox/login",
        None,
        Some(format!("token={TOKEN}")),
    )
    .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(login.headers[header::LOCATION], "/inbox/");
    let cookie = login.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/inbox/",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = call(
        &app,
        Method::GET,
        "/inbox/",
        Some((header::COOKIE, session)),
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Latest dead letters") && page.text.contains("msg_dead2"),
        "{}",
        page.text
    );
    assert!(!page.text.contains(TOKEN), "the token is never shown");
    for path in ["/inbox", "/inbox/"] {
        assert_eq!(
            call(&app, Method::GET, path, bearer(), None).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_needs_its_csrf_token_whatever_the_credential() {
    let (table, inbox, app) = inbox_with_jobs().await;
    for (path, form) in [
        ("/inbox/pause", String::new()),
        ("/inbox/pause", "csrf=forged".into()),
        ("/inbox/job/requeue", "key=msg_dead1".into()),
    ] {
        let answer = call(&app, Method::POST, path, bearer(), Some(form)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(inbox.gate().await.unwrap(), Gate::OPEN);
    assert_eq!(
        inbox.job("msg_dead1").await.unwrap().unwrap().state,
        JobState::Dead
    );
    let token = csrf(
        &call(&app, Method::GET, "/inbox/", bearer(), None)
            .await
            .text,
    );
    let paused = call(
        &app,
        Method::POST,
        "/inbox/pause",
        bearer(),
        Some(format!("csrf={token}")),
    )
    .await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER);
    assert_eq!(inbox.gate().await.unwrap(), Gate::PAUSED);
    let page = call(&app, Method::GET, "/inbox/?notice=paused", bearer(), None)
        .await
        .text;
    assert!(
        page.contains("Workers paused") && page.contains("Paused: no new job starts"),
        "{page}"
    );
    let resumed = call(
        &app,
        Method::POST,
        "/inbox/resume",
        bearer(),
        Some(format!("csrf={token}&rate=5")),
    )
    .await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        inbox.gate().await.unwrap(),
        Gate::rate(std::num::NonZeroU32::new(5).unwrap())
    );
    let bad_rate = call(
        &app,
        Method::POST,
        "/inbox/resume",
        bearer(),
        Some(format!("csrf={token}&rate=0")),
    )
    .await;
    assert_eq!(bad_rate.status, StatusCode::BAD_REQUEST);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_listed_escaped_and_requeued_one_or_by_filter() {
    let (table, inbox, app) = inbox_with_jobs().await;
    let list = call(
        &app,
        Method::GET,
        "/inbox/jobs?state=dead&q=quota",
        bearer(),
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.text.contains("msg_dead1")
            && list.text.contains("msg_dead2")
            && !list.text.contains("msg_fine")
    );
    assert!(
        list.text.contains("&lt;script&gt;") && !list.text.contains("<script>"),
        "escaped: {}",
        list.text
    );
    assert!(
        list.text
            .contains(r#"href="/inbox/requeue?state=dead&amp;q=quota""#),
        "{}",
        list.text
    );
    let one = call(
        &app,
        Method::GET,
        "/inbox/job?key=msg_dead1",
        bearer(),
        None,
    )
    .await;
    assert!(
        one.text.contains("&quot;interaction.requires_action&quot;")
            || one.text.contains("\"interaction.requires_action\""),
        "{}",
        one.text
    );
    assert!(one.text.contains("Requeue this dead letter"));
    let token = csrf(&one.text);
    let requeued = call(
        &app,
        Method::POST,
        "/inbox/job/requeue",
        bearer(),
        Some(format!("csrf={token}&key=msg_dead1")),
    )
    .await;
    assert_eq!(requeued.status, StatusCode::SEE_OTHER);
    assert_eq!(
        requeued.headers[header::LOCATION],
        "/inbox/job?key=msg_dead1&notice=requeued"
    );
    assert_eq!(
        inbox.job("msg_dead1").await.unwrap().unwrap().state,
        JobState::Pending
    );

    let confirm = call(
        &app,
        Method::GET,
        "/inbox/requeue?state=dead&q=quota",
        bearer(),
        None,
    )
    .await;
    assert!(confirm.text.contains("1 job(s) match"), "{}", confirm.text);
    let form = format!("csrf={token}&state=dead&type=&since=&until=&q=quota");
    let bulk = call(&app, Method::POST, "/inbox/requeue", bearer(), Some(form)).await;
    assert_eq!(bulk.status, StatusCode::SEE_OTHER);
    assert_eq!(
        bulk.headers[header::LOCATION],
        "/inbox/jobs?state=dead&q=quota&notice=requeued&n=1"
    );
    assert_eq!(
        inbox.job("msg_dead2").await.unwrap().unwrap().state,
        JobState::Pending
    );
    assert_eq!(
        inbox.job("msg_fine").await.unwrap().unwrap().state,
        JobState::Done,
        "outside the filter"
    );
    let pending_bulk = call(
        &app,
        Method::POST,
        "/inbox/requeue",
        bearer(),
        Some(format!("csrf={token}&state=pending")),
    )
    .await;
    assert_eq!(pending_bulk.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        call(&app, Method::GET, "/inbox/job?key=nope", bearer(), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::GET, "/inbox/jobs?state=lost", bearer(), None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_their_cursor_to_the_oldest_job() {
    let (table, _inbox, app) = inbox_with_jobs().await;
    // 3 jobs, 50 a page: one page, no "Older" link.
    let page = call(&app, Method::GET, "/inbox/jobs", bearer(), None)
        .await
        .text;
    assert!(!page.contains("Older"), "{page}");
    assert_eq!(page.matches("/inbox/job?key=").count(), 3);
    drop_table(&table).await;
}

/// A watched webhook Gemini disabled: the reconciler records its state,
/// and the overview says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_a_watched_webhook_the_reconciler_found_disabled() {
    use common::gemini_mock::GeminiMock;
    use gemini_webhooks_postgres::reconcile::{Reconciler, Tracking};
    let (table, inbox, app) = inbox_with_jobs().await;
    assert!(Tracking::new(&inbox).webhooks().await.unwrap().is_empty());
    let mock = GeminiMock::start().await;
    mock.set_webhook_state("disabled_due_to_failed_deliveries");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reconciler = Reconciler::new(&inbox, mock.client())
        .watch_webhook("wh_watched")
        .run_until(async {
            let _ = stopped.await;
        });
    let running = tokio::spawn(reconciler);
    common::eventually("the webhook's state recorded", || async {
        !Tracking::new(&inbox).webhooks().await.unwrap().is_empty()
    })
    .await;
    stop.send(()).unwrap();
    running.await.unwrap();
    let watched = Tracking::new(&inbox).webhooks().await.unwrap();
    assert_eq!(
        (watched[0].webhook.as_str(), watched[0].state.as_str()),
        ("wh_watched", "disabled_due_to_failed_deliveries")
    );
    let page = call(&app, Method::GET, "/inbox/", bearer(), None)
        .await
        .text;
    assert!(
        page.contains(
            "<code>wh_watched</code>: <strong>disabled_due_to_failed_deliveries</strong>"
        ),
        "{page}"
    );
    assert!(page.contains("no deliveries are coming"), "{page}");
    drop_table(&table).await;
}

/// Tracked jobs are listed with their deadline and polls; reopen is an
/// action like the others (its CSRF token checked), and a job that is not
/// abandoned stays as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracked_jobs_are_listed_and_reopen_needs_its_token() {
    use gemini_webhooks_api::JobName;
    use gemini_webhooks_postgres::reconcile::{TrackedJob, TrackedState, Tracking};
    let (table, inbox, app) = inbox_with_jobs().await;
    let tracking = Tracking::new(&inbox);
    let job = TrackedJob::new(JobName::parse("batches/shown1").unwrap());
    tracking.track(&job).await.unwrap();
    let page = call(&app, Method::GET, "/inbox/tracked", bearer(), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("batches/shown1") && page.text.contains("open"),
        "{}",
        page.text
    );
    let open_only = call(
        &app,
        Method::GET,
        "/inbox/tracked?state=abandoned",
        bearer(),
        None,
    )
    .await;
    assert!(
        !open_only.text.contains("batches/shown1"),
        "{}",
        open_only.text
    );
    let forged = call(
        &app,
        Method::POST,
        "/inbox/tracked/reopen",
        bearer(),
        Some("job=batches/shown1".into()),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // No form on this page (nothing abandoned): the overview's token.
    let token = csrf(
        &call(&app, Method::GET, "/inbox/", bearer(), None)
            .await
            .text,
    );
    let form = format!("csrf={token}&job=batches/shown1");
    let reopen = call(
        &app,
        Method::POST,
        "/inbox/tracked/reopen",
        bearer(),
        Some(form),
    )
    .await;
    assert_eq!(
        (reopen.status, &reopen.headers[header::LOCATION]),
        (
            StatusCode::SEE_OTHER,
            &"/inbox/tracked".parse::<http::HeaderValue>().unwrap()
        ),
        "not abandoned: no notice"
    );
    let listed = tracking.list(None, 10).await.unwrap();
    assert_eq!(listed[0].state, TrackedState::Open);
    let bad = call(
        &app,
        Method::POST,
        "/inbox/tracked/reopen",
        bearer(),
        Some(format!("csrf={token}&job=nonsense")),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    drop_table(&table).await;
}
