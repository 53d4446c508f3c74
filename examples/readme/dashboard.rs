use gemini_webhooks::Verifier;
use gemini_webhooks_postgres::dashboard::Dashboard;
use gemini_webhooks_postgres::inbox::Inbox;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database_url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let secret =
        std::env::var("GEMINI_WEBHOOK_SECRET").map_err(|_| "GEMINI_WEBHOOK_SECRET is not set")?;
    // A long random token: whoever shows it may requeue and pause.
    let token =
        std::env::var("INBOX_DASHBOARD_TOKEN").map_err(|_| "INBOX_DASHBOARD_TOKEN is not set")?;
    let inbox = Inbox::builder(database_url).build()?;
    inbox.check().await?;
    let verifier = Verifier::builder().secret(&secret)?.build()?;

    let app = axum::Router::new()
        .route_service("/webhooks/gemini", inbox.service(verifier))
        // `nest_service`: `/inbox` and `/inbox/` both reach the overview.
        .nest_service("/inbox", Dashboard::new(&inbox).token(&token).router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
