//! What an inbox worker logs: a retry at WARN, a dead letter at ERROR, a
//! handled job at INFO. Its own test binary: the worker's tasks run on the
//! runtime's threads, so the capturing subscriber is the global one.

#![cfg(all(feature = "postgres", feature = "axum"))]

mod common;

use std::time::Duration;

use common::Captured;
use common::pg::{admin, database_url, drop_table, unique_table};
use gemini_webhooks::inbox::{Inbox, Job};
use gemini_webhooks::testing::{Signer, generate_secret};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_warn_dead_letters_are_errors_and_handled_jobs_info() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    admin().await;
    let table = unique_table();
    let inbox = Inbox::builder(database_url())
        .table(&table)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let secret = generate_secret();
    let verifier = common::verifier(&secret);
    for id in ["msg_poison", "msg_fine"] {
        let body = bytes::Bytes::from_static(common::EVENT.as_bytes());
        let headers = Signer::hmac(&secret).unwrap().id(id).sign(&body);
        inbox
            .ingest(&verifier.verify(&headers, body).unwrap())
            .await
            .unwrap();
    }
    let worker = inbox
        .worker(|job: Job| async move {
            if job.delivery().id() == "msg_poison" {
                return Err("poisoned");
            }
            Ok(())
        })
        .max_attempts(2)
        .backoff(Duration::ZERO, Duration::ZERO)
        .poll_interval(Duration::from_millis(20));
    let task = tokio::spawn(worker.run());
    common::eventually("one dead letter and one done", || async {
        let counts = inbox.counts().await.unwrap();
        counts.dead == 1 && counts.done == 1
    })
    .await;
    task.abort();
    let text = captured.text();
    let line = |needle: &str| {
        text.lines()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
            .to_owned()
    };
    let retry = line("will retry");
    assert!(
        retry.contains(" WARN ") && retry.contains("msg_poison"),
        "{retry}"
    );
    let dead = line("dead letter");
    assert!(
        dead.contains(" ERROR ") && dead.contains("attempt=2"),
        "{dead}"
    );
    let done = line("gemini webhook job done");
    assert!(
        done.contains(" INFO ") && done.contains("msg_fine"),
        "{done}"
    );
    drop_table(&table).await;
}
