//! The hand-off and the work: a verified, claimed delivery goes to the
//! Queue `GEMINI_EVENTS` (durable, retried by Cloudflare); its consumer
//! runs the handler.
//!
//! Why a Queue and not `ctx.wait_until`: work under `wait_until` runs after
//! the answer, and if it fails or the isolate is evicted nothing retries it
//! — the delivery was already answered, so Gemini will not either. A Queue
//! message survives both, and is retried until the consumer acknowledges
//! it. Queues deliver at least once, so a handler with effects outside
//! Cloudflare should key them on the webhook id.

use gemini_webhooks::{Delivery, GeminiEvent};
use serde::{Deserialize, Serialize};
use worker::{Context, Env, MessageBatch, MessageExt as _, event};

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

/// The handler: here it logs one JSON line `{"handled","type","resource"}`
/// per event (the test counts them); yours downloads a batch's results.
#[event(queue)]
async fn consume(batch: MessageBatch<Handoff>, _env: Env, _ctx: Context) -> worker::Result<()> {
    for message in batch.messages()? {
        let handoff = message.body();
        let line = serde_json::json!({
            "handled": handoff.id,
            "type": handoff.event_type,
            "resource": handoff.resource,
        });
        worker::console_log!("{line}");
        message.ack();
    }
    Ok(())
}
