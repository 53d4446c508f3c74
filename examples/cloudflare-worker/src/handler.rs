//! The hand-off and the work: a verified, claimed delivery goes to the
//! Queue `GEMINI_EVENTS` (durable, retried by Cloudflare); its consumer
//! runs the handler.
//!
//! Why a Queue and not `ctx.wait_until`: work under `wait_until` runs after
//! the answer, and if it fails or the isolate is evicted nothing retries it
//! — the delivery was already answered, so Gemini will not either. A Queue
//! message survives both, and is retried until the consumer acknowledges
//! it (with a delay, up to the consumer's `max_retries`), then moves it to
//! the dead-letter queue, where it stays for an operator (`wrangler queues`)
//! instead of being deleted. Queues deliver at least once, so a handler with
//! effects outside Cloudflare should key them on the webhook id.

use gemini_webhooks::{Delivery, GeminiEvent};
use serde::{Deserialize, Serialize};
use worker::{Context, Env, MessageBatch, MessageExt as _, QueueRetryOptionsBuilder, event};

/// What goes through the Queue: the delivery's id and the verified body
/// (the event's type and resource, for routing without parsing it again).
#[derive(Serialize, Deserialize)]
pub struct Handoff {
    pub id: String,
    pub event_type: String,
    pub resource: Option<String>,
    /// The body as it was signed, as text (Gemini's events are JSON).
    pub body: String,
}

/// Puts `delivery` on the Queue.
pub async fn hand_off(env: &Env, delivery: &Delivery, event: &GeminiEvent) -> worker::Result<()> {
    let message = Handoff {
        id: delivery.id().to_owned(),
        event_type: event.event_type().to_owned(),
        resource: event.resource_id().map(str::to_owned),
        body: String::from_utf8_lossy(delivery.body()).into_owned(),
    };
    env.queue("GEMINI_EVENTS")?.send(&message).await
}

/// The consumer: each message's handler runs; one that fails is retried
/// after `GEMINI_RETRY_DELAY_SECONDS` (default 30), and after the Queue's
/// `max_retries` it goes to the dead-letter queue. So the handler runs
/// **at least once** per accepted delivery: key its effects outside
/// Cloudflare on the webhook id.
#[event(queue)]
async fn consume(batch: MessageBatch<Handoff>, env: Env, _ctx: Context) -> worker::Result<()> {
    let delay = retry_delay_seconds(&env);
    let failing = env.var("GEMINI_TEST_FAILURES").is_ok();
    for message in batch.messages()? {
        let handoff = message.body();
        match handle(handoff, failing.then(|| message.id())) {
            Ok(()) => message.ack(),
            Err(cause) => {
                worker::console_warn!(
                    "{}",
                    serde_json::json!({"retrying": handoff.id, "cause": cause})
                );
                let options = QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(delay)
                    .build();
                message.retry_with_options(&options);
            }
        }
    }
    Ok(())
}

/// The handler: here it logs one JSON line `{"handled","type","resource"}`
/// per event (the test counts them); yours downloads a batch's results.
///
/// `failing_message` is set by the test only (variable
/// `GEMINI_TEST_FAILURES`): each message's first attempt fails, and a
/// delivery about a resource named `…/poison` always does, so the test
/// sees retries and the dead-letter queue at work.
fn handle(handoff: &Handoff, failing_message: Option<String>) -> Result<(), String> {
    if let Some(message) = failing_message {
        if handoff
            .resource
            .as_deref()
            .is_some_and(|r| r.ends_with("/poison"))
        {
            return Err("a poison delivery (test)".to_owned());
        }
        let mut seen = FAILED_ONCE.lock().map_err(|_| "poisoned lock".to_owned())?;
        if seen.insert(message) {
            return Err("a first attempt (test)".to_owned());
        }
    }
    let line = serde_json::json!({
        "handled": handoff.id,
        "type": handoff.event_type,
        "resource": handoff.resource,
    });
    worker::console_log!("{line}");
    Ok(())
}

/// The messages whose first attempt failed (the test's failures only).
static FAILED_ONCE: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn retry_delay_seconds(env: &Env) -> u32 {
    env.var("GEMINI_RETRY_DELAY_SECONDS")
        .ok()
        .and_then(|value| value.to_string().trim().parse().ok())
        .unwrap_or(30)
}
