//! `[reconcile]`: a reconciler beside each route's inbox, so a tracked
//! Gemini job whose webhook never came is polled, and its completion
//! stored and published like a delivery.

use crate::app::Problem;
use crate::config::ReconcileConfig;

/// The reconciler of `inbox`, as `[reconcile]` configures it.
#[cfg(feature = "reconcile")]
pub fn reconciler(
    config: &ReconcileConfig,
    inbox: &gemini_webhooks_postgres::inbox::Inbox,
) -> Result<gemini_webhooks_postgres::reconcile::Reconciler, Problem> {
    use std::time::Duration;

    use gemini_webhooks_api::GeminiClient;
    use gemini_webhooks_postgres::reconcile::Reconciler;

    let variable = &config.api_key_env;
    let key = std::env::var(variable)
        .ok()
        .filter(|key| !key.trim().is_empty())
        .ok_or_else(|| {
            (
                "reconcile.api_key_env".to_owned(),
                format!("the variable {variable} is not set"),
            )
        })?;
    let mut client = GeminiClient::builder(key);
    if let Some(base) = &config.api_base {
        client = client.host(base.clone());
    }
    let client = client
        .build()
        .map_err(|err| ("reconcile.api_base".to_owned(), err.to_string()))?;
    let poll = Duration::from_secs(config.poll_interval_secs.unwrap_or(300).max(1));
    let mut reconciler = Reconciler::new(inbox, client)
        .poll_interval(poll)
        .max_poll_interval(poll);
    if let Some(webhook) = &config.webhook_id {
        reconciler = reconciler.watch_webhook(webhook.clone());
    }
    Ok(reconciler)
}

/// Without the feature `[reconcile]` is a configuration error.
#[cfg(not(feature = "reconcile"))]
pub fn reconciler(_: &ReconcileConfig, _: &crate::app::Inbox) -> Result<Never, Problem> {
    Err(("reconcile".to_owned(), crate::sinks::unbuilt("reconcile")))
}

/// What a reconciler is without the feature: none can be made.
#[cfg(not(feature = "reconcile"))]
pub enum Never {}

#[cfg(not(feature = "reconcile"))]
impl Never {
    pub async fn run_until(self, _: impl std::future::Future<Output = ()>) {
        match self {}
    }
}
