//! Shared fixtures: an axum app behind `WebhookLayer` whose handler counts
//! its runs per webhook id and misbehaves on request.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use gemini_webhooks::Delivery;
use tokio::sync::Notify;

/// What the handler saw, and a gate that holds handlers whose body asks for it.
#[derive(Clone, Default)]
pub struct Handled {
    runs: Arc<Mutex<HashMap<String, usize>>>,
    pub gate: Arc<Notify>,
    pub entered: Arc<Notify>,
}

impl Handled {
    pub fn runs(&self, id: &str) -> usize {
        self.runs.lock().unwrap().get(id).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.runs.lock().unwrap().values().sum()
    }
}

/// Body markers: `"fail_handler": true` → 500, `"panic": true` → panic,
/// `"hold": true` → wait for `gate`, `"fail_once": true` → 500 the first time.
pub async fn handler(State(handled): State<Handled>, delivery: Delivery) -> StatusCode {
    let body = String::from_utf8_lossy(delivery.body()).into_owned();
    let runs = {
        let mut runs = handled.runs.lock().unwrap();
        let count = runs.entry(delivery.id().to_owned()).or_default();
        *count += 1;
        *count
    };
    if body.contains(r#""hold": true"#) {
        handled.entered.notify_one();
        handled.gate.notified().await;
    }
    if body.contains(r#""panic": true"#) {
        panic!("handler panics on purpose");
    }
    if body.contains(r#""fail_handler": true"#)
        || (body.contains(r#""fail_once": true"#) && runs == 1)
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

pub fn app(handled: Handled) -> Router<()> {
    Router::new()
        .route("/webhooks/gemini", post(handler))
        .with_state(handled)
}

pub const EVENT: &str =
    r#"{"type":"batch.succeeded","timestamp":"2026-11-26T00:00:00Z","data":{"id":"batches/1"}}"#;

pub fn event_with(marker: &str) -> String {
    format!(
        r#"{{"type":"batch.succeeded","timestamp":"2026-11-26T00:00:00Z","data":{{"id":"batches/1"}},{marker}}}"#
    )
}
