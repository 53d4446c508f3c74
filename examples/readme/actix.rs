use std::process::ExitCode;

use actix_web::{App, HttpResponse, HttpServer, web};
use gemini_webhooks::{ErrorChain, GeminiEvent, Verifier, actix::GeminiWebhooks};

fn main() -> ExitCode {
    // or #[actix_web::main] on an async main
    if let Err(err) = actix_web::rt::System::new().block_on(serve()) {
        eprintln!("error: {}", ErrorChain(&*err)); // the cause chain, not a Debug dump
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let secret =
        std::env::var("GEMINI_WEBHOOK_SECRET").map_err(|_| "GEMINI_WEBHOOK_SECRET is not set")?; // whsec_…
    let webhooks = GeminiWebhooks::new(Verifier::builder().secret(&secret)?.build()?);
    HttpServer::new(move || {
        App::new().service(
            web::resource("/webhooks/gemini")
                // On the POST route only (same options and answers as WebhookLayer):
                // a GET here stays a 405, other resources stay untouched.
                .route(web::post().to(handle).wrap(webhooks.clone())),
        )
    })
    .bind("0.0.0.0:8080")?
    .run() // stops gracefully on SIGINT and SIGTERM (actix's default)
    .await?;
    Ok(())
}

async fn handle(event: GeminiEvent) -> HttpResponse {
    println!("{} about {:?}", event.event_type(), event.resource_id());
    HttpResponse::Ok().finish()
}
