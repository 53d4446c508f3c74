//! `gemini-webhooks-bridge`: receives Gemini API webhooks, verifies them
//! and publishes each to a broker (NATS JetStream, Redis Streams, an HTTP
//! endpoint, …), answering Gemini only once the broker confirmed — or, in
//! outbox mode, once the delivery is stored in PostgreSQL, workers
//! publishing it. Configured by a TOML file: see the crate's README.
//!
//! Exit codes: 0 after a clean shutdown (SIGTERM, Ctrl-C), 1 when serving
//! fails, 2 when the configuration cannot be used.

mod app;
mod config;
mod metrics;
#[cfg(feature = "inbox")]
mod reconcile;
mod sinks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gemini_webhooks::ErrorChain;

/// Receives Gemini API webhooks and publishes them to a broker once
/// verified, acknowledging only what the broker confirmed.
#[derive(Parser)]
#[command(name = "gemini-webhooks-bridge", version)]
struct Args {
    /// The configuration file (TOML).
    #[arg(long, env = "BRIDGE_CONFIG")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let config = match config::Config::load(&args.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("gemini-webhooks-bridge: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("gemini-webhooks-bridge: no runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let Some(metrics) = metrics::Metrics::install() else {
            eprintln!("gemini-webhooks-bridge: a metrics recorder is installed already");
            return ExitCode::FAILURE;
        };
        let bridge = match app::Bridge::build(&config, metrics).await {
            Ok(bridge) => bridge,
            Err((key, problem)) => {
                eprintln!(
                    "gemini-webhooks-bridge: {}",
                    config::ConfigError::new(&args.config, key, problem)
                );
                return ExitCode::from(2);
            }
        };
        match serve(config.listen(), bridge).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("gemini-webhooks-bridge: {}", ErrorChain(&*err));
                ExitCode::FAILURE
            }
        }
    })
}

/// Serves until SIGTERM or Ctrl-C: stops accepting, answers the requests
/// already in, then stops the outbox's workers (each drains what it runs).
async fn serve(
    listen: std::net::SocketAddr,
    mut bridge: app::Bridge,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|err| format!("cannot listen on {listen}: {err}"))?;
    tracing::info!(%listen, "gemini-webhooks-bridge listening");
    let served = axum::serve(listener, bridge.router)
        .with_graceful_shutdown(shutdown())
        .await;
    let _ = bridge.stop_workers.send(true);
    while bridge.workers.join_next().await.is_some() {}
    served?;
    tracing::info!("gemini-webhooks-bridge stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = terminate.recv() => {} }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
