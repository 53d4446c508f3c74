//! Verification of Standard Webhooks deliveries: the framework-free core.
//!
//! This module owns the decision "is this request a genuine, fresh delivery?":
//! it parses the three `webhook-*` headers, checks the timestamp window
//! (overflow-safe, clock injectable), and checks every signature entry
//! against every configured key in constant time. It never copies or
//! re-serializes the body, never logs, and imports no web framework.

mod content;
mod error;
mod headers;
mod signature;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use subtle::ConstantTimeEq;

pub(crate) use content::SignedContent;
pub use error::VerifyError;
pub use headers::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
pub use signature::MAX_SIGNATURE_ENTRIES;

use crate::delivery::{Delivery, VerifiedBy};
use crate::keys::{Ed25519Keys, HmacSecret, KeyError, parse_public_key};
use crate::raw_body::RawBody;
use headers::WebhookHeaders;
use signature::SignatureEntries;

/// The default timestamp tolerance: five minutes either way, as Gemini's docs
/// and the Standard Webhooks reference libraries use.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Verifies Gemini (Standard Webhooks) deliveries.
///
/// Built once with [`Verifier::builder`], then shared: cloning is cheap (one
/// `Arc`), and [`verify`](Verifier::verify) takes `&self`.
///
/// ```
/// use gemini_webhooks::{Verifier, VerifyError};
/// use http::HeaderMap;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::builder()
///     .secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?
///     .build()?;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk".parse()?);
/// headers.insert("webhook-timestamp", "1649367553".parse()?);
/// headers.insert(
///     "webhook-signature",
///     "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=".parse()?,
/// );
/// let body = br#"{"email":"test@example.com","username":"test_user"}"#;
///
/// // That delivery is from 2022: at the current time it is stale...
/// assert_eq!(verifier.verify(&headers, &body[..]).unwrap_err(), VerifyError::TimestampTooOld);
///
/// // ...and genuine when checked at the time it was sent.
/// let sent = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1649367553);
/// let delivery = verifier.verify_at(&headers, &body[..], sent)?;
/// assert_eq!(delivery.id(), "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Keys>,
}

struct Keys {
    secrets: Vec<HmacSecret>,
    ed25519: Ed25519Keys,
    tolerance: Duration,
}

impl Verifier {
    /// Starts a [`VerifierBuilder`]: no keys yet, tolerance
    /// [`DEFAULT_TOLERANCE`] (300 s).
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// The accepted clock difference between the delivery's timestamp and now.
    pub fn tolerance(&self) -> Duration {
        self.inner.tolerance
    }

    /// Verifies a delivery against the system clock.
    ///
    /// `body` is the raw request body exactly as received: pass `Bytes` (or
    /// `&Bytes`) to keep it zero-copy into the [`Delivery`]; a borrowed slice
    /// is copied once, and only when verification succeeds.
    pub fn verify(&self, headers: &HeaderMap, body: impl RawBody) -> Result<Delivery, VerifyError> {
        self.verify_at(headers, body, SystemTime::now())
    }

    /// Verifies a delivery as if the time were `now` (for tests and replays of
    /// recorded traffic).
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: impl RawBody,
        now: SystemTime,
    ) -> Result<Delivery, VerifyError> {
        let parsed = WebhookHeaders::parse(headers)?;
        let timestamp = parsed.check_window(now, self.inner.tolerance)?;
        let entries = SignatureEntries::parse(parsed.signature)?;
        let content = SignedContent {
            id: parsed.id,
            timestamp: parsed.timestamp,
            body: body.as_bytes(),
        };
        let verified_by = self
            .inner
            .check_signatures(&content, &entries)
            .ok_or(VerifyError::NoMatchingSignature)?;
        Ok(Delivery::new(
            parsed.id.to_owned(),
            timestamp,
            body.into_bytes(),
            verified_by,
        ))
    }
}

impl Keys {
    /// Which key verifies any entry, HMAC first (cheap), then Ed25519.
    fn check_signatures(
        &self,
        content: &SignedContent<'_>,
        entries: &SignatureEntries<'_>,
    ) -> Option<VerifiedBy> {
        if !self.secrets.is_empty() && entries.has_v1() {
            for (index, secret) in self.secrets.iter().enumerate() {
                let expected = content.hmac(secret);
                // Every tag is compared in full and in constant time; only
                // the final yes/no is allowed to branch.
                let matched = entries.v1().fold(subtle::Choice::from(0), |any, tag| {
                    any | tags_equal(&expected, &tag)
                });
                if bool::from(matched) {
                    return Some(VerifiedBy::Secret(index));
                }
            }
        }
        if !self.ed25519.is_empty() {
            for signature in entries.v1a() {
                if let Some(index) = self.ed25519.verify(content, &signature) {
                    return Some(VerifiedBy::PublicKey(index));
                }
            }
        }
        None
    }
}

/// Constant-time equality of two HMAC tags.
///
/// Folds the difference into one word with branch-free XOR/OR and lets
/// `subtle` make the single final comparison opaque to the optimizer; a
/// byte-by-byte `ct_eq` costs about as much as hashing a small body.
fn tags_equal(a: &[u8; 32], b: &[u8; 32]) -> subtle::Choice {
    let word = |tag: &[u8; 32], i: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&tag[i * 8..i * 8 + 8]);
        u64::from_ne_bytes(bytes)
    };
    let difference = (0..4).fold(0u64, |acc, i| acc | (word(a, i) ^ word(b, i)));
    difference.ct_eq(&0)
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.inner.secrets.len())
            .field("public_keys", &self.inner.ed25519.len())
            .field("tolerance", &self.inner.tolerance)
            .finish()
    }
}

/// Configures a [`Verifier`]: its secrets, public keys and tolerance.
///
/// Each key method checks its input at once and returns a [`KeyError`]
/// naming what is wrong (never the key itself), so the builder chains with
/// `?`.
#[derive(Default)]
pub struct VerifierBuilder {
    secrets: Vec<HmacSecret>,
    ed25519: Ed25519Keys,
    tolerance: Option<Duration>,
}

impl VerifierBuilder {
    /// Adds an HMAC-SHA256 secret, `whsec_` + base64, as shown in the Gemini
    /// console. Repeat it to accept several during a rotation.
    pub fn secret(mut self, secret: &str) -> Result<Self, KeyError> {
        self.secrets.push(HmacSecret::parse(secret)?);
        Ok(self)
    }

    /// Adds an HMAC-SHA256 secret as raw bytes (what `whsec_` wraps).
    pub fn secret_bytes(mut self, secret: &[u8]) -> Result<Self, KeyError> {
        self.secrets.push(HmacSecret::from_bytes(secret)?);
        Ok(self)
    }

    /// Adds a static Ed25519 public key for `v1a` entries, `whpk_` + base64
    /// of the raw 32-byte key. Repeatable; the key that verified last is
    /// tried first.
    pub fn public_key(mut self, key: &str) -> Result<Self, KeyError> {
        self.ed25519.push(parse_public_key(key)?);
        Ok(self)
    }

    /// Sets how far a delivery's timestamp may be from now, in the past or
    /// the future (default [`DEFAULT_TOLERANCE`], 300 s). Whole seconds count.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = Some(tolerance);
        self
    }

    /// Builds the [`Verifier`]; fails with [`KeyError::NoKeys`] when no secret
    /// or key was given.
    pub fn build(self) -> Result<Verifier, KeyError> {
        if self.secrets.is_empty() && self.ed25519.is_empty() {
            return Err(KeyError::NoKeys);
        }
        Ok(Verifier {
            inner: Arc::new(Keys {
                secrets: self.secrets,
                ed25519: self.ed25519,
                tolerance: self.tolerance.unwrap_or(DEFAULT_TOLERANCE),
            }),
        })
    }
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("secrets", &self.secrets.len())
            .field("public_keys", &self.ed25519.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}
