//! [`WebhookConfig`]: the per-request ("dynamic") webhook a job's creation
//! carries.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where Gemini delivers the events of one job, and what it sends back with
/// them: a dynamic webhook, signed with Google's keys (verify with
/// [`VerifierBuilder::jwks_url`](gemini_webhooks::VerifierBuilder)).
///
/// Its place in the request depends on the job, per the API reference:
///
/// | job | call | where |
/// |---|---|---|
/// | batch | `POST /v1beta/models/{m}:batchGenerateContent` | `batch.webhookConfig`, inside the `batch` object |
/// | video | `POST /v1beta/models/{m}:predictLongRunning` | top-level `webhookConfig` |
/// | interaction | `POST /v1beta/interactions` (with `background: true`) | top-level `webhook_config` |
///
/// Google's JSON parsers accept `uris`/`user_metadata` and
/// `uris`/`userMetadata` alike; this type writes snake_case and reads both.
/// Known to go wrong: an open go-genai issue (#779) shows the API rejecting
/// `userMetadata` inside a batch's webhook config; if yours is rejected,
/// create the batch with `uris` only and map events to your records by
/// [`JobName::of_event`](super::JobName::of_event) instead.
///
/// ```
/// use gemini_webhooks_api::WebhookConfig;
///
/// let config = WebhookConfig::new(["https://example.com/webhooks/gemini"])
///     .user_metadata("order", "o-42");
/// let body = serde_json::json!({ "batch": { "display_name": "nightly", "webhookConfig": config } });
/// assert_eq!(body["batch"]["webhookConfig"]["user_metadata"]["order"], "o-42");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// Where to deliver (https).
    pub uris: Vec<String>,
    /// Sent back with each event (a JSON object of yours).
    #[serde(default, alias = "userMetadata", skip_serializing_if = "Map::is_empty")]
    pub user_metadata: Map<String, Value>,
}

impl WebhookConfig {
    /// Deliveries to `uris`.
    pub fn new(uris: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            uris: uris.into_iter().map(Into::into).collect(),
            user_metadata: Map::new(),
        }
    }

    /// With `key: value` in the user metadata.
    #[must_use]
    pub fn user_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.user_metadata.insert(key.into(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_snake_case_reads_both_and_leaves_out_empty_metadata() {
        let bare = serde_json::to_value(WebhookConfig::new(["https://a"])).unwrap();
        assert_eq!(bare, serde_json::json!({"uris": ["https://a"]}));
        let read: WebhookConfig = serde_json::from_value(
            serde_json::json!({"uris": ["https://a"], "userMetadata": {"k": 1}}),
        )
        .unwrap();
        assert_eq!(
            read,
            WebhookConfig::new(["https://a"]).user_metadata("k", 1)
        );
    }
}
