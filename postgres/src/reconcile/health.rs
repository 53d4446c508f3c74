//! Endpoint health: the watched static webhook's `state`, read on an
//! interval. Gemini disables an endpoint after repeated failed deliveries
//! (`disabled_due_to_failed_deliveries`); from then on no webhook comes, so
//! every tracked job is polled at once instead of at its deadline.

use gemini_webhooks::ErrorChain;
use gemini_webhooks_api::WebhookState;

use super::Reconciler;

/// What the reconciler last saw of its watched webhook.
pub(super) struct EndpointHealth {
    webhook: String,
    /// Whether the last check found it enabled (`None` before the first).
    enabled: Option<bool>,
}

impl EndpointHealth {
    pub(super) fn new(webhook: String) -> Self {
        Self {
            webhook,
            enabled: None,
        }
    }

    /// Reads the webhook's state and acts on it: on finding it not
    /// enabled (after it was, or at the first check) an ERROR, every
    /// tracked job due now, and, if asked and Gemini disabled it, a
    /// re-enable; each check sets the gauge.
    pub(super) async fn check(&mut self, reconciler: &Reconciler) {
        let webhook = self.webhook.as_str();
        let state = match reconciler.client().get_webhook(webhook).await {
            Ok(found) => found.state,
            Err(err) => {
                tracing::warn!(webhook, error = %ErrorChain(&err), "gemini webhook state could not be read");
                return;
            }
        };
        // Kept for the dashboard and the CLI; a failure only logged: the
        // check's own work (the polls) goes on.
        if let Err(err) = reconciler.record_webhook(webhook, state.as_str()).await {
            tracing::warn!(webhook, error = %ErrorChain(&err), "gemini webhook state could not be recorded");
        }
        let enabled = state == WebhookState::Enabled;
        crate::metrics::endpoint_state(webhook, state.as_str(), enabled);
        let was_enabled = self.enabled.replace(enabled);
        if enabled {
            if was_enabled == Some(false) {
                tracing::info!(webhook, "gemini webhook enabled again");
            }
            return;
        }
        tracing::error!(
            webhook,
            state = state.as_str(),
            "gemini webhook is not enabled: no deliveries are coming; polling every tracked job now"
        );
        if was_enabled != Some(false) {
            self.reconcile_all(reconciler).await;
        }
        if reconciler.settings.reenable && state == WebhookState::DisabledDueToFailedDeliveries {
            match reconciler
                .client()
                .set_webhook_state(webhook, WebhookState::Enabled)
                .await
            {
                Ok(_) => {
                    tracing::warn!(
                        webhook,
                        "gemini webhook re-enabled (it was disabled after failed deliveries)"
                    );
                    crate::metrics::endpoint_state(webhook, "enabled", true);
                    self.enabled = Some(true);
                }
                Err(err) => {
                    tracing::error!(webhook, error = %ErrorChain(&err), "gemini webhook could not be re-enabled");
                }
            }
        }
    }

    /// Makes every open tracked job due now.
    async fn reconcile_all(&self, reconciler: &Reconciler) {
        match reconciler.due_now().await {
            Ok(jobs) => {
                tracing::info!(webhook = %self.webhook, jobs, "gemini jobs due for a poll now")
            }
            Err(err) => {
                tracing::warn!(error = %ErrorChain(&err), "gemini jobs could not be made due")
            }
        }
    }
}
