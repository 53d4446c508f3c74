use std::process::ExitCode;

use gemini_webhooks::ErrorChain;
use gemini_webhooks_api::{GeminiClient, JobName, NewWebhook, WebhookState};

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(err) = run().await {
        eprintln!("error: {}", ErrorChain(&*err)); // the cause chain, not a Debug dump
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = GeminiClient::new(
        std::env::var("GEMINI_API_KEY").map_err(|_| "GEMINI_API_KEY is not set")?,
    )?;
    let uri = "https://example.com/webhooks/gemini";

    // At deploy: one webhook for this endpoint, and enabled.
    let ours = client
        .list_webhooks()
        .await?
        .into_iter()
        .find(|w| w.uri == uri);
    match ours {
        None => {
            let events = ["batch.succeeded", "batch.failed", "batch.expired"];
            let created = client.create_webhook(&NewWebhook::new(uri, events)).await?;
            let secret = created
                .new_signing_secret
                .ok_or("no signing secret in the answer")?;
            println!("GEMINI_WEBHOOK_SECRET={}", secret.expose()); // shown only this once
        }
        // Gemini disables a webhook whose deliveries keep failing.
        Some(webhook) if webhook.state != WebhookState::Enabled => {
            client
                .set_webhook_state(&webhook.id, WebhookState::Enabled)
                .await?;
        }
        Some(_) => {}
    }

    // A job whose webhook never came: ask the API how it ended.
    let status = client
        .get_job(&JobName::parse("batches/batch_123")?)
        .await?;
    println!("{status}");
    Ok(())
}
