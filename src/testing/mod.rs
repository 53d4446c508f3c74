//! Test helpers: sign deliveries exactly as Gemini does (feature `test-util`).
//!
//! [`Signer`] produces the `webhook-*` headers for a body, so you can test
//! your own handlers end to end without Google; [`generate_secret`] and
//! [`generate_ed25519_key`] make fresh keys. [`replay_store_contract`]
//! checks a [`ReplayStore`](crate::replay::ReplayStore), this crate's or
//! your own, against the trait's contract.
//!
//! ```
//! use gemini_webhooks::testing::{Signer, generate_secret};
//! use gemini_webhooks::Verifier;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = generate_secret();
//! let body = br#"{"type":"batch.cancelled","timestamp":"2026-01-01T00:00:00Z","data":{"id":"batches/1"}}"#;
//! let headers = Signer::hmac(&secret)?.id("msg_1").sign(body);
//!
//! let verifier = Verifier::builder().secret(&secret)?.build()?;
//! let delivery = verifier.verify(&headers, &body[..])?;
//! assert_eq!(delivery.id(), "msg_1");
//! assert_eq!(delivery.event()?.event_type(), "batch.cancelled");
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "receiver")]
mod store_contract;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use http::{HeaderMap, HeaderValue};

use crate::keys::{HmacSecret, KeyError, SignedContent, parse_private_key};
use crate::verify::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};

#[cfg(feature = "receiver")]
#[cfg_attr(docsrs, doc(cfg(feature = "receiver")))]
pub use store_contract::replay_store_contract;

/// A fresh random `whsec_` secret (32 bytes).
pub fn generate_secret() -> String {
    format!("whsec_{}", STANDARD.encode(random::<32>()))
}

/// A fresh Ed25519 key pair: the `whsk_` private key (libsodium layout,
/// seed‖public) for a [`Signer`] and the `whpk_` public key for a
/// [`VerifierBuilder`](crate::VerifierBuilder).
pub fn generate_ed25519_key() -> Ed25519KeyPair {
    let signing = SigningKey::from_bytes(&random::<32>());
    Ed25519KeyPair {
        private_key: format!("whsk_{}", STANDARD.encode(signing.to_keypair_bytes())),
        public_key: format!(
            "whpk_{}",
            STANDARD.encode(signing.verifying_key().as_bytes())
        ),
    }
}

/// An Ed25519 key pair in Standard Webhooks' text form.
#[derive(Clone)]
pub struct Ed25519KeyPair {
    /// `whsk_` + base64: keep it secret.
    pub private_key: String,
    /// `whpk_` + base64: give it to the verifier.
    pub public_key: String,
}

impl Ed25519KeyPair {
    /// The public key as a JWK (`kty: OKP`, `crv: Ed25519`), as Google
    /// publishes its keys, for a test JWKS.
    pub fn jwk(&self, kid: Option<&str>) -> serde_json::Value {
        let raw = STANDARD
            .decode(&self.public_key["whpk_".len()..])
            .unwrap_or_default();
        let mut jwk = serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(raw),
        });
        if let Some(kid) = kid {
            jwk["kid"] = kid.into();
        }
        jwk
    }
}

impl fmt::Debug for Ed25519KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519KeyPair")
            .field("private_key", &"<redacted>")
            .field("public_key", &self.public_key)
            .finish()
    }
}

/// Signs deliveries like Gemini: `v1` (HMAC-SHA256) or `v1a` (Ed25519).
///
/// Without [`id`](Signer::id) each call of [`sign`](Signer::sign) makes a new
/// random `msg_…` id; without [`timestamp`](Signer::timestamp) it uses the
/// current time.
#[derive(Clone)]
pub struct Signer {
    key: SigningSecret,
    id: Option<String>,
    timestamp: Option<SystemTime>,
}

#[derive(Clone)]
enum SigningSecret {
    Hmac(HmacSecret),
    Ed25519(Box<SigningKey>),
}

impl Signer {
    /// A signer for `v1` entries with a `whsec_` secret.
    pub fn hmac(secret: &str) -> Result<Self, KeyError> {
        Ok(Self::with_key(SigningSecret::Hmac(HmacSecret::parse(
            secret,
        )?)))
    }

    /// A signer for `v1a` entries with a `whsk_` Ed25519 private key (32-byte
    /// seed, or 64-byte seed‖public key).
    pub fn ed25519(private_key: &str) -> Result<Self, KeyError> {
        Ok(Self::with_key(SigningSecret::Ed25519(Box::new(
            parse_private_key(private_key)?,
        ))))
    }

    fn with_key(key: SigningSecret) -> Self {
        Self {
            key,
            id: None,
            timestamp: None,
        }
    }

    /// Uses this `webhook-id` for every delivery (a retry keeps its id).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Signs as of this time instead of now (e.g. to make a stale delivery).
    pub fn timestamp(mut self, timestamp: SystemTime) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The signature entry (`v1,…` or `v1a,…`) for this id, unix timestamp and body.
    pub fn signature(&self, id: &str, unix_timestamp: u64, body: &[u8]) -> String {
        let timestamp = unix_timestamp.to_string();
        let content = SignedContent {
            id,
            timestamp: &timestamp,
            body,
        };
        match &self.key {
            SigningSecret::Hmac(secret) => format!("v1,{}", STANDARD.encode(content.hmac(secret))),
            SigningSecret::Ed25519(key) => {
                format!(
                    "v1a,{}",
                    STANDARD.encode(content.sign_ed25519(key).to_bytes())
                )
            }
        }
    }

    /// The three `webhook-*` headers for `body`.
    ///
    /// # Panics
    ///
    /// If the configured id is not a valid header value (test code only).
    pub fn sign(&self, body: &[u8]) -> HeaderMap {
        let id = self.id.clone().unwrap_or_else(random_id);
        let unix_timestamp = self
            .timestamp
            .unwrap_or_else(crate::clock::now)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let signature = self.signature(&id, unix_timestamp, body);
        let mut headers = HeaderMap::with_capacity(3);
        headers.insert(
            WEBHOOK_ID,
            HeaderValue::try_from(id).expect("webhook id must be a valid header value"),
        );
        headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(unix_timestamp));
        headers.insert(
            WEBHOOK_SIGNATURE,
            HeaderValue::try_from(signature).expect("base64 is a valid header value"),
        );
        headers
    }
}

impl Signer {
    /// A ready `POST uri` request carrying `body`, signed: what Gemini would
    /// send. The body type is yours (`axum::body::Body`, `String`, …).
    ///
    /// ```
    /// use axum::{Router, body::Body, http::StatusCode, routing::post};
    /// use gemini_webhooks::testing::{Signer, generate_secret, sample_event};
    /// use gemini_webhooks::{GeminiEvent, Verifier, tower::WebhookLayer};
    /// use tower::ServiceExt;
    ///
    /// async fn handle(event: GeminiEvent) -> StatusCode {
    ///     assert_eq!(event.event_type(), "batch.succeeded");
    ///     StatusCode::OK
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let secret = generate_secret();
    /// let verifier = Verifier::builder().secret(&secret)?.build()?;
    /// let app: Router = Router::new()
    ///     .route("/hook", post(handle).route_layer(WebhookLayer::new(verifier)));
    ///
    /// let request = Signer::hmac(&secret)?.request::<Body>("/hook", sample_event("batch.succeeded"));
    /// let response = app.oneshot(request).await?;
    /// assert_eq!(response.status(), StatusCode::OK);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If `uri` is not a valid URI (test code only).
    pub fn request<B: From<Bytes>>(&self, uri: &str, body: impl Into<Bytes>) -> http::Request<B> {
        let body = body.into();
        let mut request = http::Request::post(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(B::from(body.clone()))
            .expect("a valid request URI");
        request.headers_mut().extend(self.sign(&body));
        request
    }

    /// The same as [`request`](Self::request), for actix-web's test tools
    /// (actix-web has its own `http` types).
    ///
    /// ```
    /// use actix_web::{App, HttpResponse, test, web};
    /// use gemini_webhooks::testing::{Signer, generate_secret, sample_event};
    /// use gemini_webhooks::{GeminiEvent, Verifier, actix::GeminiWebhooks};
    ///
    /// async fn handle(event: GeminiEvent) -> HttpResponse {
    ///     HttpResponse::Ok().body(event.event_type().to_owned())
    /// }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # actix_web::rt::System::new().block_on(async { // #[actix_web::test] in your tests
    /// let secret = generate_secret();
    /// let webhooks = GeminiWebhooks::new(Verifier::builder().secret(&secret)?.build()?);
    /// let app = test::init_service(App::new().service(
    ///     web::resource("/hook").wrap(webhooks).route(web::post().to(handle)),
    /// ))
    /// .await;
    ///
    /// let request = Signer::hmac(&secret)?.actix_request("/hook", sample_event("video.generated"));
    /// let response = test::call_service(&app, request.to_request()).await;
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(test::read_body(response).await, "video.generated");
    /// # Ok(())
    /// # })
    /// # }
    /// ```
    #[cfg(feature = "actix")]
    #[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
    pub fn actix_request(&self, uri: &str, body: impl Into<Bytes>) -> actix_web::test::TestRequest {
        let body = body.into();
        let mut request = actix_web::test::TestRequest::post()
            .uri(uri)
            .insert_header(("content-type", "application/json"));
        for (name, value) in &self.sign(&body) {
            request = request.insert_header((name.as_str(), value.as_bytes()));
        }
        request.set_payload(body)
    }
}

/// A sample envelope of a Gemini event type, as the docs show it, with the
/// current time as its timestamp: handler tests need no hand-written JSON.
///
/// The nine types are `batch.succeeded`, `batch.cancelled`, `batch.expired`,
/// `batch.failed`, `interaction.requires_action`, `interaction.completed`,
/// `interaction.failed`, `interaction.cancelled` and `video.generated`
/// ([`SAMPLE_EVENT_TYPES`]), and `video.failed` (a reconciler's, never
/// Gemini's): every type of [`EventType::ALL`](crate::event::EventType::ALL).
/// Any other type gives an envelope with an empty
/// `data` object, which parses as [`GeminiEvent::Unknown`](crate::GeminiEvent::Unknown).
///
/// ```
/// use gemini_webhooks::GeminiEvent;
/// use gemini_webhooks::testing::{SAMPLE_EVENT_TYPES, sample_event};
///
/// for event_type in SAMPLE_EVENT_TYPES {
///     let event = GeminiEvent::from_slice(&sample_event(event_type))?;
///     assert_eq!(event.event_type(), event_type);
///     assert!(!matches!(event, GeminiEvent::Unknown(_)));
/// }
/// # Ok::<(), gemini_webhooks::EventError>(())
/// ```
pub fn sample_event(event_type: &str) -> Bytes {
    use crate::event::EventType as T;
    // Matched on the catalogue: a type added to it needs its sample here.
    let data = match T::parse(event_type) {
        Some(T::BatchSucceeded) => {
            serde_json::json!({"id": "batches/123", "output_file_uri": "files/batch-123-output"})
        }
        Some(T::BatchFailed) => failure("batches/123"),
        Some(T::InteractionFailed) => failure("interactions/456"),
        Some(T::VideoFailed) => failure("operations/789"),
        Some(T::BatchCancelled | T::BatchExpired) => serde_json::json!({"id": "batches/123"}),
        Some(T::InteractionRequiresAction | T::InteractionCompleted | T::InteractionCancelled) => {
            serde_json::json!({"id": "interactions/456"})
        }
        Some(T::VideoGenerated) => {
            serde_json::json!({"id": "operations/789", "video_uri": "files/video-789"})
        }
        None => serde_json::json!({}),
    };
    // The crate's clock, not `now_utc` (std's clock panics on wasm32).
    let timestamp = time::OffsetDateTime::from(crate::clock::now())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "2026-01-01T00:00:00Z".to_owned());
    let envelope = serde_json::json!({
        "type": event_type,
        "version": "v1",
        "timestamp": timestamp,
        "data": data,
    });
    Bytes::from(envelope.to_string())
}

/// [`sample_event`] about the job `id` (its `data.id`): deliveries about
/// different jobs. An inbox stores one completion per job whatever its
/// webhook ids, so a test that stores many completions gives each a job of
/// its own.
///
/// ```
/// use gemini_webhooks::GeminiEvent;
/// use gemini_webhooks::testing::sample_event_for;
///
/// let event = GeminiEvent::from_slice(&sample_event_for("batch.succeeded", "batches/7"))?;
/// assert_eq!(event.resource_id(), Some("batches/7"));
/// # Ok::<(), gemini_webhooks::EventError>(())
/// ```
pub fn sample_event_for(event_type: &str, id: &str) -> Bytes {
    let mut event: serde_json::Value =
        serde_json::from_slice(&sample_event(event_type)).unwrap_or_default();
    event["data"]["id"] = id.into();
    Bytes::from(event.to_string())
}

/// [`sample_event`] padded to `len` bytes with a string in its
/// `data.user_metadata` (where a dynamic webhook's metadata travels), to
/// measure a receiver at a realistic body size. A `len` shorter than the
/// envelope gives the envelope with the shortest padding.
///
/// ```
/// use gemini_webhooks::GeminiEvent;
/// use gemini_webhooks::testing::sample_event_of_len;
///
/// let body = sample_event_of_len("batch.succeeded", 1024);
/// assert_eq!(body.len(), 1024);
/// let event = GeminiEvent::from_slice(&body)?;
/// assert_eq!(event.resource_id(), Some("batches/123"));
///
/// // Too short a length: the envelope with empty padding.
/// let shortest = sample_event_of_len("batch.succeeded", 0);
/// assert!(shortest.len() < 1024);
/// GeminiEvent::from_slice(&shortest)?;
/// # Ok::<(), gemini_webhooks::EventError>(())
/// ```
pub fn sample_event_of_len(event_type: &str, len: usize) -> Bytes {
    let mut event: serde_json::Value =
        serde_json::from_slice(&sample_event(event_type)).unwrap_or_default();
    event["data"]["user_metadata"] = serde_json::json!({ "pad": "" });
    let shortest = event.to_string().len();
    event["data"]["user_metadata"]["pad"] = "x".repeat(len.saturating_sub(shortest)).into();
    Bytes::from(event.to_string())
}

/// A failure event's `data` about `id`.
fn failure(id: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "error_code": 3,
        "error_message": "The request was invalid."
    })
}

/// The nine event types Gemini sends, each with a sample in
/// [`sample_event`] (which also knows `video.failed`, a reconciler's).
pub const SAMPLE_EVENT_TYPES: [&str; 9] = [
    "batch.succeeded",
    "batch.cancelled",
    "batch.expired",
    "batch.failed",
    "interaction.requires_action",
    "interaction.completed",
    "interaction.failed",
    "interaction.cancelled",
    "video.generated",
];

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.key {
            SigningSecret::Hmac(_) => "v1",
            SigningSecret::Ed25519(_) => "v1a",
        };
        f.debug_struct("Signer")
            .field("version", &kind)
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// A random `msg_` id, as Standard Webhooks senders make them.
pub fn random_id() -> String {
    format!("msg_{}", URL_SAFE_NO_PAD.encode(random::<16>()))
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventType;

    #[test]
    fn the_samples_are_the_catalogues_types_gemini_sends() {
        let sent: Vec<&str> = EventType::ALL
            .iter()
            .filter(|t| **t != EventType::VideoFailed)
            .map(|t| t.as_str())
            .collect();
        assert_eq!(sent, SAMPLE_EVENT_TYPES);
        for event_type in EventType::ALL {
            let event = crate::GeminiEvent::from_slice(&sample_event(event_type.as_str())).unwrap();
            assert_eq!(event.known_type(), Some(*event_type));
        }
    }
}
