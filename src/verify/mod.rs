//! Verification of Standard Webhooks deliveries: the framework-free core.
//!
//! This module owns the decision "is this request a genuine, fresh delivery?":
//! it parses the three `webhook-*` headers, checks the timestamp window
//! (overflow-safe, clock injectable), and checks every signature entry
//! against every configured key in constant time. It never copies or
//! re-serializes the body, never logs, and imports no web framework.

mod builder;
mod error;
mod headers;
mod jwt;
mod signature;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use subtle::ConstantTimeEq;

pub use builder::VerifierBuilder;
pub use error::VerifyError;
pub use headers::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
pub use jwt::DEFAULT_JWT_MAX_LIFETIME;
use signature::ENCODED_TAG_LEN;
pub use signature::{MAX_ED25519_VERIFICATIONS, MAX_SIGNATURE_ENTRIES, MAX_V1A_ENTRIES};

use crate::delivery::{Delivery, JwtDelivery, VerifiedBy};
use crate::keys::jwks::{JwksKeys, JwksSource};
use crate::keys::{Ed25519Keys, HmacSecret, SignedContent, VerifyBudget};
use crate::raw_body::RawBody;
use headers::WebhookHeaders;
use jwt::JwtPolicy;
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
    inner: Arc<VerifierConfig>,
}

struct VerifierConfig {
    secrets: Vec<HmacSecret>,
    ed25519: Ed25519Keys,
    jwks: Option<JwksSource>,
    jwt: Option<JwtPolicy>,
    tolerance: Duration,
}

/// What a successful check found; the id stays borrowed from the headers
/// until the `Delivery` is built, so nothing is parsed twice.
struct Checked<'h> {
    id: &'h str,
    timestamp: SystemTime,
    verified_by: VerifiedBy,
    jwt: Option<Arc<JwtDelivery>>,
}

impl<'h> Checked<'h> {
    fn by(id: &'h str, timestamp: SystemTime, verified_by: VerifiedBy) -> Self {
        Self {
            id,
            timestamp,
            verified_by,
            jwt: None,
        }
    }
}

/// A failed check, and the JWKS load it saw if a refresh could change the
/// answer (a `v1a` entry or a JWT `kid` the cached keys do not cover).
struct CheckFailure {
    error: VerifyError,
    #[cfg_attr(not(feature = "jwks-fetch"), allow(dead_code))]
    refresh_after: Option<u64>,
}

impl From<VerifyError> for CheckFailure {
    fn from(error: VerifyError) -> Self {
        Self {
            error,
            refresh_after: None,
        }
    }
}

/// A request's `webhook-*` headers, checked by
/// [`Verifier::check_headers`] before the body arrived: what
/// [`Verifier::verify_checked`] needs once it has, so the headers are
/// parsed once per delivery. It borrows the headers and the verifier.
pub struct CheckedHeaders<'h> {
    pre: Prechecked<'h>,
    now: SystemTime,
}

impl CheckedHeaders<'_> {
    /// The `webhook-id` (not yet verified).
    pub fn id(&self) -> &str {
        match &self.pre {
            Prechecked::Jwt { id, .. } => id,
            Prechecked::Entries { headers, .. } => headers.id,
        }
    }
}

impl fmt::Debug for CheckedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedHeaders")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// What the header checks leave for the signature check.
enum Prechecked<'h> {
    /// A compact JWS, with JWT mode on.
    Jwt {
        id: &'h str,
        token: &'h str,
        policy: &'h JwtPolicy,
    },
    /// Standard Webhooks entries, at least one of which a configured key
    /// could verify.
    Entries {
        headers: WebhookHeaders<'h>,
        timestamp: SystemTime,
        entries: SignatureEntries<'h>,
    },
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

    /// The checks that need no body, against the system clock: the three
    /// headers' presence and form, the timestamp window, and that the
    /// signature header holds an entry some configured key could verify.
    ///
    /// Receivers run it before reading the body, so a stale or unsigned
    /// request is answered (400 or 401) without buffering a byte of it, and
    /// hand what it found to [`verify_checked`](Self::verify_checked) (or
    /// [`verify_checked_async`](Self::verify_checked_async)) once the body
    /// is in: the headers are parsed once.
    pub fn check_headers<'h>(
        &'h self,
        headers: &'h HeaderMap,
    ) -> Result<CheckedHeaders<'h>, VerifyError> {
        let now = crate::clock::now();
        let pre = self
            .inner
            .precheck(headers, now)
            .map_err(|failure| failure.error)?;
        Ok(CheckedHeaders { pre, now })
    }

    /// Verifies the body of a request whose headers passed
    /// [`check_headers`](Self::check_headers), at the time they were
    /// checked, with the JWKS keys as cached (it never fetches).
    pub fn verify_checked(
        &self,
        checked: &CheckedHeaders<'_>,
        body: impl RawBody,
    ) -> Result<Delivery, VerifyError> {
        let verified = self
            .inner
            .check_body(&checked.pre, body.as_bytes(), checked.now)
            .map_err(|f| f.error)?;
        Ok(Self::delivery(body, verified))
    }

    /// Verifies a delivery against the system clock.
    ///
    /// `body` is the raw request body exactly as received: pass `Bytes` (or
    /// `&Bytes`) to keep it zero-copy into the [`Delivery`]; a borrowed slice
    /// is copied once, and only when verification succeeds.
    pub fn verify(&self, headers: &HeaderMap, body: impl RawBody) -> Result<Delivery, VerifyError> {
        self.verify_at(headers, body, crate::clock::now())
    }

    /// Verifies a delivery as if the time were `now` (for tests and replays of
    /// recorded traffic). Uses the JWKS keys as cached: it never fetches.
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: impl RawBody,
        now: SystemTime,
    ) -> Result<Delivery, VerifyError> {
        let verified = self
            .inner
            .check(headers, body.as_bytes(), now)
            .map_err(|f| f.error)?;
        Ok(Self::delivery(body, verified))
    }

    /// Verifies a delivery, first loading or refreshing a fetched JWKS when
    /// the cached keys cannot decide (none loaded yet, or a `v1a` entry or a
    /// JWT key id they do not cover).
    ///
    /// Refreshes are single-flight and rate-limited (see
    /// `keys::jwks::RemoteJwks`); deliveries that verify
    /// with cached keys never wait for one (when the keys are stale, they
    /// start a refresh in the background), and a delivery is checked again
    /// only if the refresh changed the keys. Deliveries with only `v1`
    /// entries never cause a fetch. Without a fetched JWKS this is
    /// [`verify`](Self::verify).
    pub async fn verify_async(
        &self,
        headers: &HeaderMap,
        body: impl RawBody,
    ) -> Result<Delivery, VerifyError> {
        let checked = self.check_headers(headers)?;
        self.verify_checked_async(&checked, body).await
    }

    /// [`verify_checked`](Self::verify_checked), first loading or
    /// refreshing a fetched JWKS when the cached keys cannot decide, as
    /// [`verify_async`](Self::verify_async) does.
    pub async fn verify_checked_async(
        &self,
        checked: &CheckedHeaders<'_>,
        body: impl RawBody,
    ) -> Result<Delivery, VerifyError> {
        #[cfg(feature = "jwks-fetch")]
        if let Some(JwksSource::Remote(remote)) = &self.inner.jwks {
            let verified = match self
                .inner
                .check_body(&checked.pre, body.as_bytes(), checked.now)
            {
                Ok(verified) => {
                    // Deliveries that use the keys keep them fresh; `v1`
                    // deliveries never cause a fetch.
                    if matches!(
                        verified.verified_by,
                        VerifiedBy::JwksKey { .. } | VerifiedBy::Jwt { .. }
                    ) {
                        remote.refresh_in_background();
                    }
                    verified
                }
                Err(CheckFailure {
                    error,
                    refresh_after: Some(generation),
                }) => {
                    // A refresh that changed nothing (rate-limited, or the
                    // same keys) cannot change the answer: no second check.
                    if !remote.refresh(generation).await {
                        return Err(error);
                    }
                    self.inner
                        .check_body(&checked.pre, body.as_bytes(), checked.now)
                        .map_err(|f| f.error)?
                }
                Err(failure) => return Err(failure.error),
            };
            return Ok(Self::delivery(body, verified));
        }
        self.verify_checked(checked, body)
    }

    /// Loads a fetched JWKS now, so the first delivery does not wait for it.
    /// Does nothing without one.
    #[cfg(feature = "jwks-fetch")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks-fetch")))]
    pub async fn prefetch(&self) -> Result<(), crate::keys::jwks::JwksError> {
        match &self.inner.jwks {
            Some(JwksSource::Remote(remote)) => remote.prefetch().await,
            _ => Ok(()),
        }
    }

    fn delivery(body: impl RawBody, verified: Checked<'_>) -> Delivery {
        Delivery::new(
            verified.id.to_owned(),
            verified.timestamp,
            body.into_bytes(),
            verified.verified_by,
            verified.jwt,
        )
    }
}

impl VerifierConfig {
    /// Everything that can be decided without the body.
    fn precheck<'h>(
        &'h self,
        headers: &'h HeaderMap,
        now: SystemTime,
    ) -> Result<Prechecked<'h>, CheckFailure> {
        let parsed = WebhookHeaders::parse(headers)?;
        let timestamp = parsed.check_window(now, self.tolerance)?;
        if let Some(policy) = &self.jwt
            && jwt::looks_like_jwt(parsed.signature)
        {
            return Ok(Prechecked::Jwt {
                id: parsed.id,
                token: parsed.signature,
                policy,
            });
        }
        let entries = SignatureEntries::parse(parsed.signature)?;
        let hmac_could = entries.has_v1() && !self.secrets.is_empty();
        let ed25519_could = entries.has_v1a() && (!self.ed25519.is_empty() || self.jwks.is_some());
        if !hmac_could && !ed25519_could {
            return Err(VerifyError::NoMatchingSignature.into());
        }
        Ok(Prechecked::Entries {
            headers: parsed,
            timestamp,
            entries,
        })
    }

    fn check<'h>(
        &'h self,
        headers: &'h HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Checked<'h>, CheckFailure> {
        let pre = self.precheck(headers, now)?;
        self.check_body(&pre, body, now)
    }

    /// The signature checks, on what [`precheck`](Self::precheck) found.
    fn check_body<'h>(
        &self,
        pre: &Prechecked<'h>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Checked<'h>, CheckFailure> {
        let (parsed, timestamp, entries) = match pre {
            Prechecked::Jwt { id, token, policy } => {
                return self.check_jwt(id, token, policy, body, now);
            }
            Prechecked::Entries {
                headers,
                timestamp,
                entries,
            } => (headers, *timestamp, entries),
        };
        let content = SignedContent {
            id: parsed.id,
            timestamp: parsed.timestamp,
            body,
        };
        // One budget for the whole check: static keys and JWKS keys alike.
        let mut budget = VerifyBudget::new(MAX_ED25519_VERIFICATIONS);
        if let Some(verified_by) = self.check_signatures(&content, entries, &mut budget) {
            return Ok(Checked::by(parsed.id, timestamp, verified_by));
        }
        // Only a `v1a` entry can be helped by fresher JWKS keys.
        let Some(jwks) = self.jwks.as_ref().filter(|_| entries.has_v1a()) else {
            return Err(VerifyError::NoMatchingSignature.into());
        };
        let snapshot = jwks.snapshot();
        let Some(keys) = snapshot.keys else {
            return Err(CheckFailure {
                error: VerifyError::KeysUnavailable,
                refresh_after: Some(snapshot.generation),
            });
        };
        match check_v1a(&keys, &content, entries, &mut budget) {
            Some(verified_by) => Ok(Checked::by(parsed.id, timestamp, verified_by)),
            None => Err(CheckFailure {
                error: VerifyError::NoMatchingSignature,
                refresh_after: Some(snapshot.generation),
            }),
        }
    }

    fn check_jwt<'h>(
        &self,
        id: &'h str,
        token: &str,
        policy: &JwtPolicy,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Checked<'h>, CheckFailure> {
        let snapshot = self
            .jwks
            .as_ref()
            .map(JwksSource::snapshot)
            .ok_or(VerifyError::KeysUnavailable)?;
        let Some(keys) = snapshot.keys else {
            return Err(CheckFailure {
                error: VerifyError::KeysUnavailable,
                refresh_after: Some(snapshot.generation),
            });
        };
        match jwt::verify(token, &keys, policy, body, now, self.tolerance) {
            Ok(verified) => Ok(Checked {
                id,
                timestamp: verified.issued_at,
                verified_by: VerifiedBy::Jwt { kid: verified.kid },
                jwt: Some(Arc::new(JwtDelivery {
                    claims: verified.claims,
                    replay_key: verified.replay_key,
                })),
            }),
            Err(jwt::JwtFailure::UnknownKey) => Err(CheckFailure {
                error: VerifyError::InvalidToken {
                    reason: "unknown key id",
                },
                refresh_after: Some(snapshot.generation),
            }),
            Err(jwt::JwtFailure::Invalid(error)) => Err(error.into()),
        }
    }

    /// Which static key verifies any entry, HMAC first (cheap), then Ed25519.
    fn check_signatures(
        &self,
        content: &SignedContent<'_>,
        entries: &SignatureEntries<'_>,
        budget: &mut VerifyBudget,
    ) -> Option<VerifiedBy> {
        // No `v1` entry: no MAC to compute.
        if entries.has_v1() {
            for (index, secret) in self.secrets.iter().enumerate() {
                // Our tag, base64-encoded once, against each entry as sent:
                // the same answer as decoding every entry (the engine only
                // accepts canonical padded base64), at a third of the cost.
                let expected = signature::encode_tag(&content.hmac(secret));
                // Every tag is compared in full and in constant time; only
                // the final yes/no is allowed to branch.
                let matched = entries
                    .v1_encoded()
                    .fold(subtle::Choice::from(0), |any, tag| {
                        any | tags_equal(&expected, tag)
                    });
                if bool::from(matched) {
                    return Some(VerifiedBy::Secret(index));
                }
            }
        }
        if !self.ed25519.is_empty() {
            for signature in entries.v1a() {
                if let Some(index) = self.ed25519.verify(content, &signature, budget) {
                    return Some(VerifiedBy::PublicKey(index));
                }
            }
        }
        None
    }
}

/// Which Ed25519 key of a JWKS verifies any `v1a` entry, within `budget`.
fn check_v1a(
    keys: &JwksKeys,
    content: &SignedContent<'_>,
    entries: &SignatureEntries<'_>,
    budget: &mut VerifyBudget,
) -> Option<VerifiedBy> {
    entries.v1a().find_map(|signature| {
        let index = keys.ed25519.verify(content, &signature, budget)?;
        let kid = keys.ed25519_ids.get(index).cloned().flatten();
        Some(VerifiedBy::JwksKey { kid })
    })
}

/// Constant-time equality of our encoded HMAC tag and an entry as sent.
///
/// Lengths are public (every valid tag is 44 characters); contents are
/// folded into one word with branch-free XOR/OR, and `subtle` makes the
/// single final comparison opaque to the optimizer (a byte-by-byte `ct_eq`
/// costs about as much as hashing a small body).
fn tags_equal(expected: &[u8; ENCODED_TAG_LEN], sent: &[u8]) -> subtle::Choice {
    let Ok(sent) = <&[u8; ENCODED_TAG_LEN]>::try_from(sent) else {
        return subtle::Choice::from(0);
    };
    let word = |tag: &[u8; ENCODED_TAG_LEN], i: usize| {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(&tag[i * 4..i * 4 + 4]);
        u32::from_ne_bytes(bytes)
    };
    let difference =
        (0..ENCODED_TAG_LEN / 4).fold(0u32, |acc, i| acc | (word(expected, i) ^ word(sent, i)));
    difference.ct_eq(&0)
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.inner.secrets.len())
            .field("public_keys", &self.inner.ed25519.len())
            .field("jwks", &self.inner.jwks.is_some())
            .field("jwt", &self.inner.jwt)
            .field("tolerance", &self.inner.tolerance)
            .finish()
    }
}
