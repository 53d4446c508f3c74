//! [`HttpSink`]: any HTTP endpoint, the delivery re-signed with a secret
//! of the bridge's own (Standard Webhooks `v1`).

use std::time::Duration;

use gemini_webhooks::testing::Signer;

use crate::sink::{Message, PublishError, Published};

const KIND: &str = "http";

/// POSTs each message's raw body to a URL with the headers `webhook-id`,
/// `webhook-timestamp` (the delivery's own), `gemini-event-type` and
/// `webhook-signature`: an HMAC-SHA256 `v1` signature under a `whsec_`
/// secret of the bridge's own, so the endpoint verifies it as any
/// Standard Webhooks delivery (with this crate's `Verifier`, or any
/// library). Confirmed by a `2xx`; any other status is not published (the
/// endpoint refused it). The endpoint should de-duplicate on `webhook-id`.
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use gemini_webhooks_bridge::http::HttpSink;
///
/// let secret = std::env::var("BRIDGE_SIGNING_SECRET")?; // whsec_…
/// let sink = HttpSink::new(reqwest::Client::new(), "https://worker.internal/gemini", &secret)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HttpSink {
    client: reqwest::Client,
    url: reqwest::Url,
    signer: Signer,
    timeout: Duration,
}

/// The URL or the secret of an [`HttpSink`] could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpSinkError {
    /// The URL does not parse.
    #[error("the URL does not parse")]
    Url(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The secret is not a `whsec_` secret.
    #[error("the signing secret is not a whsec_ secret")]
    Secret(#[source] gemini_webhooks::KeyError),
}

impl HttpSink {
    /// POSTs to `url` through `client`, signing with `secret` (`whsec_…`),
    /// waiting up to 10 seconds for each answer.
    pub fn new(client: reqwest::Client, url: &str, secret: &str) -> Result<Self, HttpSinkError> {
        let url = reqwest::Url::parse(url).map_err(|err| HttpSinkError::Url(err.into()))?;
        let signer = Signer::hmac(secret).map_err(HttpSinkError::Secret)?;
        Ok(Self {
            client,
            url,
            signer,
            timeout: Duration::from_secs(10),
        })
    }

    /// How long to wait for an answer before the publish ends
    /// [unconfirmed](PublishError::may_have_published).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn post(&self, message: &Message) -> Result<Published, PublishError> {
        let timestamp = message.timestamp().parse().unwrap_or_default();
        let signature = self
            .signer
            .signature(message.id(), timestamp, message.body());
        let mut request = self
            .client
            .post(self.url.clone())
            .timeout(self.timeout)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("webhook-signature", signature)
            .body(message.body().clone());
        for (name, value) in message.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|err| {
            if err.is_connect() || err.is_builder() {
                PublishError::not_published(KIND, "could not connect", err)
            } else {
                PublishError::unconfirmed(KIND, "no answer", err)
            }
        })?;
        if response.status().is_success() {
            Ok(Published::new())
        } else {
            Err(PublishError::refused(KIND, status_text(response.status())))
        }
    }
}

/// The refusal's text, by class: a status is not worth an allocation per
/// failure, and the endpoint's body is never shown.
fn status_text(status: http::StatusCode) -> &'static str {
    if status.is_client_error() {
        "the endpoint refused the message (4xx)"
    } else if status.is_server_error() {
        "the endpoint failed (5xx)"
    } else {
        "the endpoint answered neither 2xx nor an error"
    }
}

crate::sink::macros::sink_impl!(HttpSink, post {
    /// The endpoint answers a `HEAD` with any status: it is reachable
    /// (whether it takes a `HEAD` is its business; an unsigned request
    /// publishes nothing).
    fn ready(&self) -> crate::sink::BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(crate::sink::answers_within(
            KIND,
            self.client.head(self.url.clone()).send(),
        ))
    }
});
