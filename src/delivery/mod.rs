//! [`Delivery`]: a verified webhook delivery and what it carries.

mod record;

pub use record::DeliveryRecord;

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::event::{EventError, GeminiEvent};

/// Which configured key verified a delivery.
///
/// Indexes count in the order the keys were added to the
/// [`VerifierBuilder`](crate::VerifierBuilder), so during a rotation you can
/// see when the old secret stops being used.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VerifiedBy {
    /// A `v1` entry matched the HMAC secret at this index.
    Secret(usize),
    /// A `v1a` entry verified under the static Ed25519 public key at this index.
    PublicKey(usize),
    /// A `v1a` entry verified under an Ed25519 key of the JWKS (its `kid`,
    /// if it has one).
    JwksKey {
        /// The key's `kid`.
        kid: Option<Arc<str>>,
    },
    /// A JWT verified under the JWKS key with this `kid`.
    Jwt {
        /// The key's `kid`.
        kid: Arc<str>,
    },
    /// Not a webhook: an inbox's reconciler read this completion from the
    /// Gemini API (over TLS, with the application's API key) because its
    /// webhook had not come; no signature was involved. Its
    /// [`id`](Delivery::id) is `poll:` and the completion's key.
    Poll,
}

/// A delivery whose signature and timestamp were verified.
///
/// It keeps the raw body exactly as received; parse it with
/// [`event`](Delivery::event) (the Gemini envelope) or
/// [`json`](Delivery::json) (your own type).
#[derive(Debug, Clone)]
pub struct Delivery {
    id: String,
    timestamp: SystemTime,
    body: Bytes,
    verified_by: VerifiedBy,
    jwt: Option<Arc<JwtDelivery>>,
    /// The event, when the receiver parsed it already (for its span), so
    /// the handler's [`event`](Delivery::event) does not parse it again.
    /// Boxed: a delivery is moved several times per request, and unboxed
    /// the event made each move a larger copy (callgrind, BENCHMARKS.md).
    parsed: OnceLock<Box<GeminiEvent>>,
}

// By what was delivered; whether the event was parsed yet does not count.
impl PartialEq for Delivery {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.id,
            self.timestamp,
            &self.body,
            &self.verified_by,
            &self.jwt,
        ) == (
            &other.id,
            other.timestamp,
            &other.body,
            &other.verified_by,
            &other.jwt,
        )
    }
}

impl Eq for Delivery {}

/// What a delivery in the JWT form adds: its claims and its replay key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct JwtDelivery {
    pub(crate) claims: Map<String, Value>,
    pub(crate) replay_key: String,
}

impl Delivery {
    pub(crate) fn new(
        id: String,
        timestamp: SystemTime,
        body: Bytes,
        verified_by: VerifiedBy,
        jwt: Option<Arc<JwtDelivery>>,
    ) -> Self {
        Self {
            id,
            timestamp,
            body,
            verified_by,
            jwt,
            parsed: OnceLock::new(),
        }
    }

    /// The `webhook-id`: the same on every retry of this delivery.
    ///
    /// For `v1` and `v1a` deliveries it is signed. In the JWT form it is
    /// not (the token signs neither header): use it for logs, and
    /// [`replay_key`](Self::replay_key) for anything that must hold.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key replay protection records this delivery under: the
    /// [`id`](Self::id) for `v1` and `v1a` deliveries; for a JWT delivery,
    /// `jwt:` and the token's `jti`, or `jwt:sha256:` and a digest of the
    /// token when it has none. So one token runs the handler at most once,
    /// whatever `webhook-id` or body it is sent with.
    pub fn replay_key(&self) -> &str {
        self.jwt.as_ref().map_or(&self.id, |jwt| &jwt.replay_key)
    }

    /// The verified claims of a JWT delivery (`aud`, `iss`, `iat`, `exp`,
    /// the body hash and whatever else the sender put in); `None` for `v1`
    /// and `v1a` deliveries.
    pub fn jwt_claims(&self) -> Option<&Map<String, Value>> {
        self.jwt.as_ref().map(|jwt| &jwt.claims)
    }

    /// When this attempt was signed: the `webhook-timestamp`, or for a JWT
    /// delivery the token's `iat` (the header is not signed in that form).
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }

    /// The `webhook-timestamp` in seconds since the Unix epoch.
    pub fn unix_timestamp(&self) -> u64 {
        self.timestamp
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    }

    /// The raw body, byte for byte as signed.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Takes the raw body out.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// Which key verified this delivery.
    pub fn verified_by(&self) -> &VerifiedBy {
        &self.verified_by
    }

    /// Parses the body as a [`GeminiEvent`] (or hands back a copy of the
    /// event the receiver parsed already for its log span).
    pub fn event(&self) -> Result<GeminiEvent, EventError> {
        match self.parsed.get() {
            Some(event) => Ok(GeminiEvent::clone(event)),
            None => GeminiEvent::from_slice(&self.body),
        }
    }

    /// The event, parsed once and kept for later [`event`](Self::event)
    /// calls (a receiver parses it for its log span already, so then this
    /// costs nothing); `None` if the body is not one.
    pub fn parsed_event(&self) -> Option<&GeminiEvent> {
        if let Some(event) = self.parsed.get() {
            return Some(event);
        }
        let event = GeminiEvent::from_slice(&self.body).ok()?;
        Some(self.parsed.get_or_init(|| Box::new(event)))
    }

    /// Parses the body as any JSON type of yours.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, EventError> {
        crate::event::from_slice(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(body: &'static [u8]) -> Delivery {
        Delivery::new(
            "msg_1".to_owned(),
            UNIX_EPOCH,
            Bytes::from_static(body),
            VerifiedBy::Secret(0),
            None,
        )
    }

    #[test]
    fn an_event_parsed_for_the_span_is_the_one_handed_on() {
        let body = br#"{"type":"batch.succeeded","timestamp":"2026-01-01T00:00:00Z","data":{"id":"batches/1"}}"#;
        let delivery = delivery(body);
        let fresh = delivery.event().unwrap();
        assert!(
            delivery.parsed.get().is_none(),
            "event() alone keeps nothing"
        );
        let kept = delivery.parsed_event().unwrap().clone();
        assert_eq!(kept, fresh);
        assert_eq!(delivery.parsed.get().map(|event| &**event), Some(&fresh));
        assert_eq!(delivery.event().unwrap(), fresh);
        // Whether it was parsed does not make two deliveries differ.
        assert_eq!(delivery, self::delivery(body));
        assert_ne!(delivery, self::delivery(b"{}"));
        assert!(self::delivery(b"not json").parsed_event().is_none());
    }
}
