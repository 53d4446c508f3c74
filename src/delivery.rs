//! [`Delivery`]: a verified webhook delivery and what it carries.

use std::sync::Arc;
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
}

/// A delivery whose signature and timestamp were verified.
///
/// It keeps the raw body exactly as received; parse it with
/// [`event`](Delivery::event) (the Gemini envelope) or
/// [`json`](Delivery::json) (your own type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    id: String,
    timestamp: SystemTime,
    body: Bytes,
    verified_by: VerifiedBy,
    jwt: Option<Arc<JwtDelivery>>,
}

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

    /// Parses the body as a [`GeminiEvent`].
    pub fn event(&self) -> Result<GeminiEvent, EventError> {
        GeminiEvent::from_slice(&self.body)
    }

    /// Parses the body as any JSON type of yours.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, EventError> {
        crate::event::from_slice(&self.body)
    }
}
