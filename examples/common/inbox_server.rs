//! The HTTP side the inbox examples share: the inbox's endpoint on
//! `POST /webhooks/gemini` at `BIND_ADDR` (and the dashboard at `/inbox/`
//! when `INBOX_DASHBOARD_TOKEN` is set), "listening on …" on stderr (the
//! tests wait for it), until SIGINT or SIGTERM, then the drain of the
//! background tasks (workers, a reconciler).

use axum::Router;
use gemini_webhooks_postgres::dashboard::Dashboard;
use gemini_webhooks_postgres::inbox::Inbox;
use tokio::task::JoinHandle;

/// Serves `inbox` until the shutdown signal, drains the requests in
/// flight, then waits for `tasks` (each stopping on the same signal) to
/// finish: a worker releases its jobs, a reconciler ends its round.
pub async fn serve(
    inbox: &Inbox,
    tasks: Vec<JoinHandle<()>>,
) -> Result<(), Box<dyn std::error::Error>> {
    // Verify, store, answer 202: the handler runs in the workers.
    let mut app = Router::new().route_service(
        "/webhooks/gemini",
        inbox.service(super::verifier_from_env().await?),
    );
    // The operator's dashboard at /inbox/, only when a token is set.
    match std::env::var("INBOX_DASHBOARD_TOKEN") {
        Ok(token) if !token.trim().is_empty() => {
            let dashboard = Dashboard::new(inbox).token(token.trim()).router();
            app = app.nest_service("/inbox", dashboard);
        }
        _ => {}
    }
    let listener = tokio::net::TcpListener::bind(super::bind_addr()).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(super::shutdown_signal())
        .await?;
    for task in tasks {
        task.await?;
    }
    Ok(())
}
