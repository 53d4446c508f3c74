//! Publishing through the inbox (the outbox): ingest stores and answers
//! 202, the workers publish and mark a job done only after the broker
//! confirmed.

use std::time::Duration;

use gemini_webhooks_bridge::Publisher;
use gemini_webhooks_postgres::inbox::Inbox;
use http::StatusCode;

use super::in_request::App;
use super::{Broker, assert_each_in_broker, batch};

/// Waves of deliveries that keep coming while the broker is away.
const WAVES: usize = 3;
const PER_WAVE: usize = 4;
/// The workers' longest pause after a failure: once it has passed since
/// a step ended, every job that step failed is due again.
const MAX_BACKOFF: Duration = Duration::from_millis(40);

/// The broker goes away; deliveries keep coming in waves, each answered
/// 202 (stored), and after each wave the workers attempt every stored
/// job and fail — the outage outlasts several attempts of each job, which
/// is what an outage of hours is to the inbox (its backoff is its only
/// clock). Once the broker is back the workers publish every stored
/// delivery, once where the broker de-duplicates, and a copy Gemini
/// sends again is a duplicate.
pub async fn a_broker_away_delays_deliveries_and_loses_none(broker: &mut impl Broker, once: bool) {
    let inbox = Inbox::builder(testdb::postgres_url())
        .table(format!("bridge_outbox_{}", testdb::free_port()))
        .build()
        .unwrap();
    let app = App::serving(|verifier| inbox.service(verifier));
    let worker = inbox
        .worker(Publisher::new(broker.sink()).handler())
        .complete_in_batches()
        .concurrency(WAVES * PER_WAVE)
        .backoff(Duration::from_millis(10), MAX_BACKOFF)
        .max_attempts(1000);
    let status = app.send("msg_up", &batch("msg_up")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(worker.run_once().await.unwrap().handled, 1);

    broker.stop();
    let mut waiting = Vec::new();
    for wave in 0..WAVES {
        for n in 0..PER_WAVE {
            let id = format!("msg_down_{wave}_{n}");
            let status = app.send(&id, &batch(&id)).await;
            assert_eq!(
                status,
                StatusCode::ACCEPTED,
                "{id}: stored while the broker is away"
            );
            waiting.push(id);
        }
        tokio::time::sleep(MAX_BACKOFF).await;
        let step = worker.run_once().await.unwrap();
        assert_eq!(
            step.claimed,
            waiting.len(),
            "every stored job attempted: {step:?}"
        );
        assert_eq!(
            step.retried,
            waiting.len(),
            "none published while away: {step:?}"
        );
    }
    let counts = inbox.counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.done),
        (waiting.len() as u64, 1),
        "{counts:?}"
    );

    broker.start_again();
    // Bounded: each step waits out the backoff of the one before.
    for _ in 0..3000 {
        if inbox.counts().await.unwrap().pending == 0 {
            break;
        }
        tokio::time::sleep(MAX_BACKOFF).await;
        worker.run_once().await.unwrap();
    }
    let counts = inbox.counts().await.unwrap();
    assert_eq!(
        (counts.done, counts.dead),
        (1 + waiting.len() as u64, 0),
        "{counts:?}"
    );
    waiting.push("msg_up".to_owned());
    assert_each_in_broker(broker, &waiting, once).await;
    let status = app.send("msg_up", &batch("msg_up")).await;
    assert_eq!(status, StatusCode::OK, "a copy of a published delivery");
}
