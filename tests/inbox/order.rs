//! Events of one Gemini job in order (`InboxBuilder::in_job_order`): an
//! interaction's `requires_action` is handled before, never beside, its
//! `completed`, whatever order they were stored in; other jobs go on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::pg::{database_url, drop_table, unique_table};
use gemini_webhooks::testing::{Signer, generate_secret, sample_event_for};
use gemini_webhooks::{GeminiEvent, Verifier};
use gemini_webhooks_postgres::inbox::Inbox;

/// An event of `event_type` about `id`, its envelope timestamp `second`
/// past a fixed minute, verified as delivery `webhook_id`.
pub(crate) fn delivery(
    verifier: &Verifier,
    secret: &str,
    webhook_id: &str,
    event_type: &str,
    id: &str,
    second: u32,
) -> gemini_webhooks::Delivery {
    let mut event: serde_json::Value =
        serde_json::from_slice(&sample_event_for(event_type, id)).unwrap();
    event["timestamp"] = format!("2026-12-01T00:00:{second:02}Z").into();
    let body = event.to_string();
    let headers = Signer::hmac(secret)
        .unwrap()
        .id(webhook_id)
        .sign(body.as_bytes());
    verifier.verify(&headers, body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_events_run_one_at_a_time_in_timestamp_order() {
    let table = unique_table();
    let inbox = Inbox::builder(database_url())
        .table(&table)
        .timeout(Duration::from_secs(10))
        .in_job_order()
        .build()
        .unwrap();
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    // Stored newest first: the webhooks came out of order.
    for (webhook_id, event_type, id, second) in [
        ("msg_done", "interaction.completed", "interactions/i1", 2),
        (
            "msg_action",
            "interaction.requires_action",
            "interactions/i1",
            1,
        ),
        ("msg_other", "batch.succeeded", "batches/b1", 3),
    ] {
        let delivery = delivery(&verifier, &secret, webhook_id, event_type, id, second);
        inbox.ingest(&delivery).await.unwrap();
    }
    let handled = Arc::new(Mutex::new(Vec::new()));
    let worker = {
        let handled = Arc::clone(&handled);
        inbox
            .worker(move |event: GeminiEvent| {
                handled.lock().unwrap().push(event.event_type().to_owned());
                async { Ok::<_, std::io::Error>(()) }
            })
            .concurrency(8)
    };
    let first = worker.run_once().await.unwrap();
    assert_eq!(first.handled, 2, "{first:?}");
    let mut seen = handled.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        ["batch.succeeded", "interaction.requires_action"],
        "the other job goes on"
    );
    let second = worker.run_once().await.unwrap();
    assert_eq!(second.handled, 1, "{second:?}");
    assert_eq!(
        handled.lock().unwrap().last().map(String::as_str),
        Some("interaction.completed")
    );
    assert_eq!(inbox.counts().await.unwrap().done, 3);

    // Batch completion opens no job transaction: it cannot keep the order.
    let batched = inbox
        .worker(|_: GeminiEvent| async { Ok::<_, std::io::Error>(()) })
        .complete_in_batches();
    let refused = batched.run_once().await.unwrap_err();
    assert!(refused.to_string().contains("in_job_order"), "{refused}");
    drop_table(&table).await;
}
