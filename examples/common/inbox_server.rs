//! The HTTP side the inbox examples share: the inbox's endpoint on
//! `POST /webhooks/gemini` at `BIND_ADDR`, "listening on …" on stderr (the
//! tests wait for it), until SIGINT or SIGTERM, then the worker's drain.

use axum::Router;
use gemini_webhooks::inbox::Inbox;
use tokio::task::JoinHandle;

/// Serves `inbox` until the shutdown signal, drains the requests in
/// flight, then waits for `worker` (if any) to finish or release its jobs.
pub async fn serve(
    inbox: &Inbox,
    worker: Option<JoinHandle<()>>,
) -> Result<(), Box<dyn std::error::Error>> {
    // Verify, store, answer 202: the handler runs in the workers.
    let app = Router::new().route_service(
        "/webhooks/gemini",
        inbox.service(super::verifier_from_env().await?),
    );
    let listener = tokio::net::TcpListener::bind(super::bind_addr()).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(super::shutdown_signal())
        .await?;
    if let Some(worker) = worker {
        worker.await?;
    }
    Ok(())
}
