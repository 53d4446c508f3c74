use axum::{Router, http::StatusCode, routing::post};
use gemini_webhooks::{GeminiEvent, Verifier, replay::RedisReplayStore, tower::WebhookLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("GEMINI_WEBHOOK_SECRET")?;
    let redis_url = std::env::var("REDIS_URL")?; // e.g. redis://10.0.0.5:6379, shared by every replica
    let store = RedisReplayStore::builder(redis_url).build()?; // connects on first use
    let layer =
        WebhookLayer::new(Verifier::builder().secret(&secret)?.build()?).replay_store(store);

    let app = Router::new().route("/webhooks/gemini", post(handle).route_layer(layer));
    axum::serve(tokio::net::TcpListener::bind("0.0.0.0:8080").await?, app).await?;
    Ok(())
}

async fn handle(event: GeminiEvent) -> StatusCode {
    println!("{} about {:?}", event.event_type(), event.resource_id());
    StatusCode::OK
}
