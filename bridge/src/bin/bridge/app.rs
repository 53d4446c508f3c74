//! The bridge as the file configures it: the verifier, the sinks, one
//! route per `[[route]]` (publishing in the request, or storing in an
//! inbox whose workers publish), health, readiness and metrics.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use gemini_webhooks::replay::{MemoryReplayStore, RedisReplayStore, ReplayStore};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{ErrorChain, Verifier};
use gemini_webhooks_bridge::sink::Sink;
use gemini_webhooks_bridge::{EventFilter, PublishService, Publisher};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, Verify};

/// What serving needs: the routes, and the outbox's workers (stopped
/// after the server, so what the last requests stored is published).
pub struct Bridge {
    pub router: Router,
    pub workers: JoinSet<()>,
    pub stop_workers: watch::Sender<bool>,
}

pub use crate::config::Problem;

impl Bridge {
    pub async fn build(config: &Config, metrics: crate::metrics::Metrics) -> Result<Self, Problem> {
        let verifier = verifier(&config.verify)?;
        let sinks = crate::sinks::build(&config.sinks).await?;
        let (stop_workers, stopped) = watch::channel(false);
        let mut bridge = Self {
            router: Router::new(),
            workers: JoinSet::new(),
            stop_workers,
        };
        let publishers = publishers(config, &sinks)?;
        let mut ready = Readiness {
            sinks: sinks.values().cloned().collect(),
            inboxes: Vec::new(),
        };
        match (&config.inbox, &config.dedup) {
            (Some(_), _) => {
                ready.inboxes = bridge.outbox(config, &verifier, publishers, stopped, &metrics)?;
            }
            (None, Some(dedup)) if dedup.redis_url.is_some() => {
                let url = dedup.redis_url.clone().unwrap_or_default();
                let store = RedisReplayStore::builder(url)
                    .build()
                    .map_err(|err| ("dedup.redis_url".to_owned(), err.to_string()))?;
                bridge.in_request(WebhookLayer::new(verifier).replay_store(store), publishers);
            }
            #[cfg(feature = "inbox")]
            (None, Some(dedup)) if dedup.postgres_url.is_some() => {
                let url = dedup.postgres_url.clone().unwrap_or_default();
                let store = gemini_webhooks_postgres::replay::PostgresReplayStore::builder(url)
                    .build()
                    .map_err(|err| ("dedup.postgres_url".to_owned(), err.to_string()))?;
                bridge.in_request(WebhookLayer::new(verifier).replay_store(store), publishers);
            }
            (None, Some(dedup)) if dedup.postgres_url.is_some() => {
                return Err((
                    "dedup.postgres_url".to_owned(),
                    crate::sinks::unbuilt("inbox"),
                ));
            }
            (None, _) => {
                let store = MemoryReplayStore::new();
                bridge.in_request(WebhookLayer::new(verifier).replay_store(store), publishers);
            }
        }
        let ready = Arc::new(ready);
        bridge.router = std::mem::take(&mut bridge.router)
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(move || readyz(Arc::clone(&ready))))
            .route(
                "/metrics",
                get(move || std::future::ready(metrics.render())),
            );
        Ok(bridge)
    }

    /// Each route publishes in the request, behind one receiver (one
    /// replay store for all routes).
    fn in_request<R: ReplayStore>(
        &mut self,
        layer: WebhookLayer<R>,
        publishers: Vec<(String, Publisher)>,
    ) {
        for (path, publisher) in publishers {
            let service = tower::ServiceBuilder::new()
                .layer(layer.clone())
                .service(PublishService::new(publisher));
            self.router = std::mem::take(&mut self.router).route_service(&path, service);
        }
    }

    #[cfg(feature = "inbox")]
    fn outbox(
        &mut self,
        config: &Config,
        verifier: &Verifier,
        publishers: Vec<(String, Publisher)>,
        stopped: watch::Receiver<bool>,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Vec<gemini_webhooks_postgres::inbox::Inbox>, Problem> {
        let settings = config.inbox.as_ref().expect("outbox mode has [inbox]");
        let mut inboxes = Vec::new();
        for ((path, publisher), route) in publishers.into_iter().zip(&config.routes) {
            let inbox =
                gemini_webhooks_postgres::inbox::Inbox::builder(settings.database_url.clone())
                    .table(config.table(route))
                    .build()
                    .map_err(|err| ("inbox.database_url".to_owned(), err.to_string()))?;
            self.router = std::mem::take(&mut self.router)
                .route_service(&path, inbox.service(verifier.clone()));
            if let Some(token) = settings.dashboard_token() {
                let dashboard = gemini_webhooks_postgres::dashboard::Dashboard::new(&inbox)
                    .token(token)
                    .router();
                self.router = std::mem::take(&mut self.router)
                    .nest_service(&format!("/inbox/{}", inbox.table()), dashboard);
            }
            let worker = inbox
                .worker(publisher.handler())
                .complete_in_batches()
                .concurrency(settings.concurrency.unwrap_or(16))
                // A broker down for hours: retried, at most a minute apart,
                // for about a week before a job is a dead letter.
                .max_attempts(10_000)
                .backoff(
                    std::time::Duration::from_secs(1),
                    std::time::Duration::from_secs(60),
                );
            let mut stop = stopped.clone();
            self.workers.spawn(worker.run_until(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            }));
            metrics.watch_inbox(path, inbox.clone(), stopped.clone());
            if let Some(reconcile) = &config.reconcile {
                let mut stop = stopped.clone();
                let reconciler = crate::reconcile::reconciler(reconcile, &inbox)?;
                self.workers.spawn(reconciler.run_until(async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                }));
            }
            inboxes.push(inbox);
        }
        Ok(inboxes)
    }

    #[cfg(not(feature = "inbox"))]
    fn outbox(
        &mut self,
        _: &Config,
        _: &Verifier,
        _: Vec<(String, Publisher)>,
        _: watch::Receiver<bool>,
        _: &crate::metrics::Metrics,
    ) -> Result<Vec<Inbox>, Problem> {
        Err(("inbox".to_owned(), crate::sinks::unbuilt("inbox")))
    }
}

#[cfg(feature = "inbox")]
pub use gemini_webhooks_postgres::inbox::Inbox;
/// No inbox without the feature: nothing to check.
#[cfg(not(feature = "inbox"))]
pub enum Inbox {}

/// Each route's path and publisher.
fn publishers(
    config: &Config,
    sinks: &BTreeMap<String, Arc<dyn Sink>>,
) -> Result<Vec<(String, Publisher)>, Problem> {
    config
        .routes
        .iter()
        .enumerate()
        .map(|(index, route)| {
            let filter = EventFilter::new(&route.events)
                .map_err(|err| (format!("route[{index}].events"), err.to_string()))?;
            let sink = Arc::clone(&sinks[&route.sink]);
            Ok((route.path.clone(), Publisher::new(sink).only(filter)))
        })
        .collect()
}

/// The verifier the `[verify]` table describes.
fn verifier(verify: &Verify) -> Result<Verifier, Problem> {
    let mut secrets = verify.secrets.clone().unwrap_or_default();
    if let Some(variable) = &verify.secrets_env {
        let value = std::env::var(variable).map_err(|_| {
            (
                "verify.secrets_env".to_owned(),
                format!("the variable {variable} is not set"),
            )
        })?;
        secrets.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    let mut builder = Verifier::builder();
    for (index, secret) in secrets.iter().enumerate() {
        // The error says what is wrong, never the secret.
        builder = builder.secret(secret).map_err(|err| {
            (
                "verify.secrets".to_owned(),
                format!("secret {} of {}: {err}", index + 1, secrets.len()),
            )
        })?;
    }
    if let Some(url) = &verify.jwks_url {
        builder = builder
            .jwks_url(url.clone())
            .map_err(|err| ("verify.jwks_url".to_owned(), err.to_string()))?;
    }
    builder
        .build()
        .map_err(|err| ("verify".to_owned(), err.to_string()))
}

/// What `/readyz` asks.
struct Readiness {
    sinks: Vec<Arc<dyn Sink>>,
    inboxes: Vec<Inbox>,
}

/// 200 when every sink (and inbox) answers; 503 naming those that do not.
async fn readyz(ready: Arc<Readiness>) -> (StatusCode, String) {
    let mut failures = Vec::new();
    for sink in &ready.sinks {
        if let Err(err) = sink.ready().await {
            failures.push(ErrorChain(&err).to_string());
        }
    }
    #[cfg(feature = "inbox")]
    for inbox in &ready.inboxes {
        if let Err(err) = inbox.check().await {
            failures.push(format!("inbox {}: {}", inbox.table(), ErrorChain(&err)));
        }
    }
    #[cfg(not(feature = "inbox"))]
    let _ = &ready.inboxes;
    if failures.is_empty() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", failures.join("; ")),
        )
    }
}
