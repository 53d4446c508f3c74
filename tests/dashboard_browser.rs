//! The dashboard in a real browser: `tests/browser/dashboard.mjs` drives
//! Debian's Chromium (through playwright-core) against a dashboard served
//! here, over a throwaway inbox whose worker fails each job's first
//! attempt for good (so every delivery becomes a dead letter, and a
//! requeued one ends done).
//!
//! Needs `/usr/bin/chromium` and `npm ci` in `tests/browser`. Without them
//! it says so and passes, unless `GEMINI_WEBHOOKS_BROWSER_TESTS=1` (as in
//! CI), where their absence fails. `DASHBOARD_SCREENSHOTS=DIR` keeps the
//! pages' screenshots (the dashboard guide's:
//! `postgres/docs/dashboard/`).

#![cfg(feature = "axum")]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use common::pg::{drop_table, fresh_inbox};
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks_postgres::dashboard::Dashboard;
use gemini_webhooks_postgres::inbox::{Inbox, Job};

const TOKEN: &str = "browser-test-token-9f8e7d6c5b4a";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/dashboard.mjs");
const MODULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/browser/node_modules/playwright-core"
);

/// Whether the browser and the driver are installed; `false` (skip) only
/// where the environment does not require them.
fn browser_available() -> bool {
    let here = Path::new("/usr/bin/chromium").exists() && Path::new(MODULES).exists();
    let required = std::env::var("GEMINI_WEBHOOKS_BROWSER_TESTS").is_ok_and(|value| value == "1");
    assert!(
        here || !required,
        "GEMINI_WEBHOOKS_BROWSER_TESTS=1 but /usr/bin/chromium or {MODULES} is missing"
    );
    if !here {
        eprintln!("skipped: no /usr/bin/chromium or no `npm ci` in tests/browser");
    }
    here
}

/// The test's own route: stores a delivery, answers its id.
#[derive(Clone)]
struct Deliver {
    inbox: Inbox,
    secret: Arc<str>,
    next: Arc<AtomicU32>,
}

async fn deliver(State(deliver): State<Deliver>) -> String {
    let id = format!(
        "msg_browser_{}",
        deliver.next.fetch_add(1, Ordering::Relaxed)
    );
    let body = bytes::Bytes::from_static(common::NO_COMPLETION.as_bytes());
    let headers = Signer::hmac(&deliver.secret).unwrap().id(&id).sign(&body);
    let verified = common::verifier(&deliver.secret)
        .verify(&headers, body)
        .unwrap();
    deliver.inbox.ingest(&verified).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_in_sees_a_dead_letter_and_requeues_it_to_done() {
    if !browser_available() {
        return;
    }
    let (table, inbox) = fresh_inbox().await;
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let worker = inbox
        .worker(move |job: Job| {
            let first = seen.lock().unwrap().insert(job.delivery().id().to_owned());
            async move {
                match first {
                    true => Err("the first attempt fails for good"),
                    false => Ok(()),
                }
            }
        })
        .max_attempts(1)
        .poll_interval(Duration::from_millis(50));
    let worker = tokio::spawn(worker.run());
    let state = Deliver {
        inbox: inbox.clone(),
        secret: generate_secret().into(),
        next: Arc::default(),
    };
    let app = Router::new()
        .route("/test/deliver", post(deliver))
        .with_state(state)
        .nest_service("/inbox", Dashboard::new(&inbox).token(TOKEN).router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/inbox", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let shots = std::env::var("DASHBOARD_SCREENSHOTS").unwrap_or_default();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .args([SCRIPT, &base, TOKEN])
            .args((!shots.is_empty()).then_some(shots))
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    worker.abort();
    server.abort();
    let said = String::from_utf8_lossy(&output.stdout);
    let complained = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed:\n{said}\n{complained}"
    );
    for step in [
        "without the token: 401",
        "a dead letter appears",
        "a POST without its CSRF token: 403",
        "requeued, it ends done",
    ] {
        assert!(said.contains(&format!("ok: {step}")), "{step}:\n{said}");
    }
    drop_table(&table).await;
}
