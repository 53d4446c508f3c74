use axum::{Router, http::StatusCode, routing::post};
use gemini_webhooks::{GeminiEvent, Verifier, keys::jwks::GEMINI_JWKS_URL, tower::WebhookLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Verifier::builder()
        .jwks_url(GEMINI_JWKS_URL)? // Google's keys, for dynamic webhooks
        .secret(&std::env::var("GEMINI_WEBHOOK_SECRET")?)? // static webhooks too, if you have them
        .build()?;
    verifier.prefetch().await?; // optional: otherwise the first delivery loads the keys

    let layer = WebhookLayer::new(verifier);
    let app = Router::new().route("/webhooks/gemini", post(handle).route_layer(layer));
    axum::serve(tokio::net::TcpListener::bind("0.0.0.0:8080").await?, app).await?;
    Ok(())
}

async fn handle(event: GeminiEvent) -> StatusCode {
    println!("{} for {:?}", event.event_type(), event.user_metadata());
    StatusCode::OK
}
