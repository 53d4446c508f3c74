//! Webhooks: the resource, its enums, and the calls that manage it
//! (`/v1beta/webhooks`, as the API reference and Google's SDKs have them).

use std::fmt;

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::GeminiClient;
use super::error::ApiError;
use super::names::{segment, strip_collection};

/// A webhook, as the API describes it. Unknown fields are ignored.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct Webhook {
    /// The handle every call takes (output only). Read from `name` when an
    /// answer in the guide's older form has `name: "webhooks/…"` only.
    #[serde(default)]
    pub id: String,
    /// A free label of yours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where Gemini delivers.
    #[serde(default)]
    pub uri: String,
    /// The event types delivered (`batch.succeeded`, …).
    #[serde(default, alias = "subscribedEvents")]
    pub subscribed_events: Vec<String>,
    /// Whether deliveries are sent.
    #[serde(default)]
    pub state: WebhookState,
    /// The signing secrets in force, truncated, with their expiry.
    #[serde(default, alias = "signingSecrets")]
    pub signing_secrets: Vec<SigningSecretInfo>,
    /// The signing secret, in the answer to `create` only.
    #[serde(
        default,
        alias = "newSigningSecret",
        skip_serializing_if = "Option::is_none"
    )]
    pub new_signing_secret: Option<SigningSecret>,
    /// When it was created (RFC 3339).
    #[serde(default, alias = "createTime", skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// When it last changed (RFC 3339).
    #[serde(default, alias = "updateTime", skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

impl Webhook {
    /// Fills `id` from a `webhooks/…` name when the answer had no `id`.
    fn normalized(mut self) -> Self {
        if self.id.is_empty()
            && let Some(id) = self
                .name
                .as_deref()
                .and_then(|name| name.strip_prefix("webhooks/"))
        {
            self.id = id.to_owned();
        }
        self
    }
}

/// Whether a webhook delivers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum WebhookState {
    /// Deliveries are sent.
    Enabled,
    /// Turned off by you.
    Disabled,
    /// Turned off by Gemini after failed deliveries: fix the endpoint, then
    /// [`GeminiClient::set_webhook_state`] it back to `Enabled`.
    DisabledDueToFailedDeliveries,
    /// Not in the answer.
    #[default]
    Unspecified,
    /// A state this version does not know, as the API spelled it.
    Other(String),
}

impl From<String> for WebhookState {
    fn from(state: String) -> Self {
        // The reference's lowercase, or the guide's uppercase.
        match state.to_ascii_lowercase().as_str() {
            "enabled" => Self::Enabled,
            "disabled" => Self::Disabled,
            "disabled_due_to_failed_deliveries" => Self::DisabledDueToFailedDeliveries,
            "" | "state_unspecified" => Self::Unspecified,
            _ => Self::Other(state),
        }
    }
}

impl From<WebhookState> for String {
    fn from(state: WebhookState) -> Self {
        state.as_str().to_owned()
    }
}

impl WebhookState {
    /// As the API reference spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::DisabledDueToFailedDeliveries => "disabled_due_to_failed_deliveries",
            Self::Unspecified => "state_unspecified",
            Self::Other(state) => state,
        }
    }
}

impl fmt::Display for WebhookState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signing secret in force, as the API shows it: truncated.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct SigningSecretInfo {
    /// The secret's first characters.
    #[serde(default, alias = "truncatedSecret")]
    pub truncated_secret: String,
    /// When it stops being accepted (RFC 3339), after a rotation.
    #[serde(default, alias = "expireTime", skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
}

/// A whole signing secret (`whsec_…`), shown by the API once. `Debug` and
/// `Display` redact it; [`expose`](Self::expose) gives it.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// The secret, to store (and give to [`Verifier`](gemini_webhooks::Verifier)).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

/// What happens to the previous signing secrets on a rotation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// Still accepted for 24 hours: configure both meanwhile (the default).
    #[default]
    After24Hours,
    /// Revoked at once: deliveries signed with them fail from now on.
    Immediately,
}

impl Revocation {
    /// As the API reference spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::After24Hours => "revoke_previous_secrets_after_h24",
            Self::Immediately => "revoke_previous_secrets_immediately",
        }
    }
}

/// A new webhook: where, and which events.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct NewWebhook {
    /// A label of yours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where Gemini delivers (https).
    pub uri: String,
    /// The event types to deliver.
    pub subscribed_events: Vec<String>,
}

impl NewWebhook {
    /// A webhook delivering `events` to `uri`.
    pub fn new(
        uri: impl Into<String>,
        events: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            name: None,
            uri: uri.into(),
            subscribed_events: events.into_iter().map(Into::into).collect(),
        }
    }

    /// With a label.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// The fields to change on a webhook; only those set are sent, and named
/// in the `update_mask`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct WebhookUpdate {
    /// A new label.
    pub name: Option<String>,
    /// A new URI.
    pub uri: Option<String>,
    /// New event types (replacing the old).
    pub subscribed_events: Option<Vec<String>>,
    /// A new state: `Enabled` re-enables a webhook Gemini turned off.
    pub state: Option<WebhookState>,
}

impl WebhookUpdate {
    /// An update that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new label.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A new URI.
    #[must_use]
    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = Some(uri.into());
        self
    }

    /// New event types, replacing the old.
    #[must_use]
    pub fn subscribed_events(
        mut self,
        events: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.subscribed_events = Some(events.into_iter().map(Into::into).collect());
        self
    }

    /// A new state.
    #[must_use]
    pub fn state(mut self, state: WebhookState) -> Self {
        self.state = Some(state);
        self
    }

    /// The body and the mask naming its fields.
    fn body_and_mask(&self) -> (Value, String) {
        let mut body = serde_json::Map::new();
        let mut set = |field: &str, value: Value| {
            body.insert(field.to_owned(), value);
        };
        if let Some(name) = &self.name {
            set("name", json!(name));
        }
        if let Some(uri) = &self.uri {
            set("uri", json!(uri));
        }
        if let Some(events) = &self.subscribed_events {
            set("subscribed_events", json!(events));
        }
        if let Some(state) = &self.state {
            set("state", json!(state.as_str()));
        }
        let mask = body.keys().cloned().collect::<Vec<_>>().join(",");
        (Value::Object(body), mask)
    }
}

/// One page of [`GeminiClient::list_webhooks_page`].
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct WebhookPage {
    /// The webhooks on this page.
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    /// The token of the next page; `None` on the last.
    #[serde(default, alias = "nextPageToken")]
    pub next_page_token: Option<String>,
}

/// At most this many pages are followed: a token that never ends the list
/// is a bug of the server's, not a reason to loop for ever.
const MAX_PAGES: usize = 10_000;

impl GeminiClient {
    /// Creates a webhook; the answer holds its
    /// [`new_signing_secret`](Webhook::new_signing_secret), shown only
    /// this once.
    pub async fn create_webhook(&self, webhook: &NewWebhook) -> Result<Webhook, ApiError> {
        let body = serde_json::to_value(webhook).unwrap_or_default();
        let created: Webhook = self
            .call(Method::POST, "webhooks", &[], Some(&body), "a webhook")
            .await?;
        Ok(created.normalized())
    }

    /// One page of webhooks: `page_size` (the API's default 50, at most
    /// 1,000) after `page_token`.
    pub async fn list_webhooks_page(
        &self,
        page_size: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<WebhookPage, ApiError> {
        let mut query = Vec::new();
        if let Some(size) = page_size {
            query.push(("page_size", size.min(1_000).to_string()));
        }
        if let Some(token) = page_token {
            query.push(("page_token", token.to_owned()));
        }
        let mut page: WebhookPage = self
            .call(Method::GET, "webhooks", &query, None, "a page of webhooks")
            .await?;
        page.webhooks = page.webhooks.into_iter().map(Webhook::normalized).collect();
        page.next_page_token = page.next_page_token.filter(|token| !token.is_empty());
        Ok(page)
    }

    /// Every webhook, following `next_page_token` to the last page.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, ApiError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .list_webhooks_page(Some(1_000), token.as_deref())
                .await?;
            all.extend(page.webhooks);
            match page.next_page_token {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => return Ok(all),
            }
        }
        Ok(all)
    }

    /// The webhook `id` (or `webhooks/{id}`).
    pub async fn get_webhook(&self, id: &str) -> Result<Webhook, ApiError> {
        let path = webhook_path(id)?;
        let webhook: Webhook = self
            .call(Method::GET, &path, &[], None, "a webhook")
            .await?;
        Ok(webhook.normalized())
    }

    /// Changes the fields `update` sets, and nothing else.
    pub async fn update_webhook(
        &self,
        id: &str,
        update: &WebhookUpdate,
    ) -> Result<Webhook, ApiError> {
        let path = webhook_path(id)?;
        let (body, mask) = update.body_and_mask();
        if mask.is_empty() {
            return Err(ApiError::InvalidArgument(
                "nothing to update: set a name, URI, events or state".to_owned(),
            ));
        }
        let query = [("update_mask", mask)];
        let webhook: Webhook = self
            .call(Method::PATCH, &path, &query, Some(&body), "a webhook")
            .await?;
        Ok(webhook.normalized())
    }

    /// Enables or disables a webhook (`Enabled` re-enables one Gemini
    /// disabled after failed deliveries).
    pub async fn set_webhook_state(
        &self,
        id: &str,
        state: WebhookState,
    ) -> Result<Webhook, ApiError> {
        self.update_webhook(id, &WebhookUpdate::new().state(state))
            .await
    }

    /// Deletes the webhook.
    pub async fn delete_webhook(&self, id: &str) -> Result<(), ApiError> {
        let path = webhook_path(id)?;
        let _: Value = self
            .call(Method::DELETE, &path, &[], None, "an empty answer")
            .await?;
        Ok(())
    }

    /// Asks Gemini to send the webhook a test delivery.
    pub async fn ping_webhook(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("{}:ping", webhook_path(id)?);
        let _: Value = self
            .call(
                Method::POST,
                &path,
                &[],
                Some(&json!({})),
                "an empty answer",
            )
            .await?;
        Ok(())
    }

    /// Rotates the webhook's signing secret; the new one is in the answer
    /// only. `revocation` says when the previous ones stop verifying.
    pub async fn rotate_signing_secret(
        &self,
        id: &str,
        revocation: Revocation,
    ) -> Result<SigningSecret, ApiError> {
        #[derive(Deserialize)]
        struct Rotated {
            #[serde(alias = "newSigningSecret", alias = "new_signing_secret")]
            secret: SigningSecret,
        }
        let path = format!("{}:rotateSigningSecret", webhook_path(id)?);
        let body = json!({ "revocation_behavior": revocation.as_str() });
        let rotated: Rotated = self
            .call(Method::POST, &path, &[], Some(&body), "a rotated secret")
            .await?;
        Ok(rotated.secret)
    }
}

/// `webhooks/{id}` from `id` or `webhooks/{id}`.
fn webhook_path(id: &str) -> Result<String, ApiError> {
    Ok(format!(
        "webhooks/{}",
        segment(strip_collection(id, "webhooks"), "webhook id")?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_either_spelling_and_keep_unknown_ones() {
        for (text, state) in [
            ("enabled", WebhookState::Enabled),
            ("DISABLED", WebhookState::Disabled),
            (
                "disabled_due_to_failed_deliveries",
                WebhookState::DisabledDueToFailedDeliveries,
            ),
            ("STATE_UNSPECIFIED", WebhookState::Unspecified),
            ("paused", WebhookState::Other("paused".into())),
        ] {
            assert_eq!(WebhookState::from(text.to_owned()), state, "{text}");
        }
        assert_eq!(
            WebhookState::DisabledDueToFailedDeliveries.to_string(),
            "disabled_due_to_failed_deliveries"
        );
    }

    #[test]
    fn a_webhook_reads_snake_or_camel_case_and_an_old_name_gives_its_id() {
        let reference: Webhook = serde_json::from_value(json!({
            "id": "abc", "name": "prod", "uri": "https://x/h", "subscribed_events": ["batch.succeeded"],
            "state": "enabled", "signing_secrets": [{"truncated_secret": "whsec_ab", "expire_time": "2026-12-03T00:00:00Z"}],
            "create_time": "2026-12-01T00:00:00Z", "unknown": 1
        }))
        .unwrap();
        assert_eq!(reference.id, "abc");
        assert_eq!(reference.signing_secrets[0].truncated_secret, "whsec_ab");
        let guide: Webhook = serde_json::from_value(json!({
            "name": "webhooks/xyz", "uri": "https://x/h", "subscribedEvents": ["video.generated"],
            "state": "ENABLED", "newSigningSecret": "whsec_secret"
        }))
        .unwrap();
        let guide = guide.normalized();
        assert_eq!(guide.id, "xyz");
        assert_eq!(guide.subscribed_events, ["video.generated"]);
        assert_eq!(guide.state, WebhookState::Enabled);
        assert_eq!(
            guide.new_signing_secret.as_ref().map(SigningSecret::expose),
            Some("whsec_secret")
        );
        assert!(!format!("{guide:?}").contains("whsec_secret"));
    }

    #[test]
    fn an_update_sends_and_masks_only_what_it_sets() {
        let update = WebhookUpdate {
            uri: Some("https://new".into()),
            state: Some(WebhookState::Enabled),
            ..WebhookUpdate::default()
        };
        let (body, mask) = update.body_and_mask();
        assert_eq!(body, json!({"uri": "https://new", "state": "enabled"}));
        assert_eq!(mask, "state,uri");
        assert_eq!(WebhookUpdate::default().body_and_mask().1, "");
    }

    #[test]
    fn ids_become_paths_and_odd_ones_are_refused() {
        assert_eq!(webhook_path("abc").unwrap(), "webhooks/abc");
        assert_eq!(webhook_path("webhooks/abc").unwrap(), "webhooks/abc");
        for bad in ["", "a/b", "a?b", "a:ping", "../x"] {
            assert!(webhook_path(bad).is_err(), "{bad}");
        }
    }
}
