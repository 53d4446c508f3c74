//! [`VerifierBuilder`]: the keys, JWT policy and tolerance a [`Verifier`]
//! checks with, each checked as it is added.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::jwt::{DEFAULT_JWT_MAX_LIFETIME, JwtPolicy};
use super::{DEFAULT_TOLERANCE, Verifier, VerifierConfig};
use crate::keys::jwks::{JwksKeys, JwksSource};
use crate::keys::{Ed25519Keys, HmacSecret, KeyError, parse_public_key};

/// Configures a [`Verifier`]: its secrets, public keys and tolerance.
///
/// Each key method checks its input at once and returns a [`KeyError`]
/// naming what is wrong (never the key itself), so the builder chains with
/// `?`.
#[derive(Default)]
pub struct VerifierBuilder {
    secrets: Vec<HmacSecret>,
    ed25519: Ed25519Keys,
    jwks: Option<JwksSource>,
    jwt_audience: Option<String>,
    jwt_issuer: Option<String>,
    jwt_max_lifetime: Option<Duration>,
    jwt_without_body_hash: bool,
    tolerance: Option<Duration>,
}

impl VerifierBuilder {
    /// Adds an HMAC-SHA256 secret, `whsec_` + base64, as shown in the Gemini
    /// console. Repeat it to accept several during a rotation. A secret
    /// shorter than 24 bytes (the Standard Webhooks minimum) is refused
    /// ([`KeyError::TooShort`]).
    pub fn secret(mut self, secret: &str) -> Result<Self, KeyError> {
        self.secrets.push(HmacSecret::parse_strict(secret)?);
        Ok(self)
    }

    /// Adds an HMAC-SHA256 secret as raw bytes (what `whsec_` wraps), at
    /// least 24 of them.
    pub fn secret_bytes(mut self, secret: &[u8]) -> Result<Self, KeyError> {
        self.secrets.push(HmacSecret::from_bytes_strict(secret)?);
        Ok(self)
    }

    /// Adds a `whsec_` secret of any length, even shorter than the spec's
    /// 24 bytes: only for tests against fixtures signed with such a secret
    /// (a short secret can be guessed). Never for a production secret.
    pub fn danger_short_secret(mut self, secret: &str) -> Result<Self, KeyError> {
        self.secrets.push(HmacSecret::parse(secret)?);
        Ok(self)
    }

    /// Adds a static Ed25519 public key for `v1a` entries, `whpk_` + base64
    /// of the raw 32-byte key. Repeatable; the key that verified last is
    /// tried first.
    pub fn public_key(mut self, key: &str) -> Result<Self, KeyError> {
        self.ed25519.push(parse_public_key(key)?);
        Ok(self)
    }

    /// Adds a static JSON Web Key Set: its OKP/Ed25519 keys verify `v1a`
    /// entries (every one is a candidate: `v1a` sends no key id), and its
    /// RSA, EC P-256 and Ed25519 keys with a `kid` verify JWTs (see
    /// `jwt_audience`, feature `jwt`). Keys that cannot be used are
    /// skipped with a warning. Replaces any earlier JWKS.
    pub fn jwks(mut self, set: &crate::keys::jwks::JwkSet) -> Self {
        self.jwks = Some(JwksSource::Static(Arc::new(JwksKeys::from_set(set))));
        self
    }

    /// Adds a static JSON Web Key Set from its JSON document, parsed as
    /// leniently as a fetched one: a key that does not parse or cannot be
    /// used is skipped with a warning. Fails only when the document is not a
    /// JWKS or holds no usable key. Replaces any earlier JWKS.
    ///
    /// ```
    /// use gemini_webhooks::Verifier;
    ///
    /// let document = br#"{"keys": [
    ///   {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
    ///   {"kty": "mystery"}
    /// ]}"#;
    /// let verifier = Verifier::builder().jwks_json(document)?.build()?;
    /// # Ok::<(), gemini_webhooks::KeyError>(())
    /// ```
    pub fn jwks_json(mut self, document: &[u8]) -> Result<Self, KeyError> {
        let keys = JwksKeys::from_json(document).map_err(|_| KeyError::Jwks {
            reason: "is not a JSON Web Key Set",
        })?;
        if keys.is_empty() {
            return Err(KeyError::Jwks {
                reason: "holds no usable key",
            });
        }
        self.jwks = Some(JwksSource::Static(Arc::new(keys)));
        Ok(self)
    }

    /// Fetches the JWKS from `url` (cached and refreshed: see
    /// [`RemoteJwks`](crate::keys::jwks::RemoteJwks) for the defaults);
    /// [`GEMINI_JWKS_URL`](crate::keys::jwks::GEMINI_JWKS_URL) is Gemini's.
    /// The URL must be `https://` (`http://` only to a loopback address,
    /// for tests).
    #[cfg(feature = "jwks-fetch")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks-fetch")))]
    pub fn jwks_url(self, url: impl Into<String>) -> Result<Self, KeyError> {
        let remote = crate::keys::jwks::RemoteJwks::builder(url)
            .build()
            .map_err(|err| KeyError::Jwks {
                reason: err.build_reason(),
            })?;
        Ok(self.jwks_remote(remote))
    }

    /// Fetches the JWKS with a configured
    /// [`RemoteJwks`](crate::keys::jwks::RemoteJwks).
    #[cfg(feature = "jwks-fetch")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks-fetch")))]
    pub fn jwks_remote(mut self, remote: crate::keys::jwks::RemoteJwks) -> Self {
        self.jwks = Some(JwksSource::Remote(Arc::new(remote)));
        self
    }

    /// Accepts the JWT form of dynamic webhooks (a compact JWS in
    /// `webhook-signature`, as Gemini's docs describe it) whose `aud` is
    /// `audience`, verified against the JWKS. Off by default.
    ///
    /// A token must also carry `exp` and `iat` (`iat` within the
    /// [tolerance](Self::tolerance) of now, `exp - iat` at most
    /// [`jwt_max_lifetime`](Self::jwt_max_lifetime)), honour `nbf`, and
    /// bind the body with a SHA-256 claim (see
    /// [`danger_accept_jwt_without_body_hash`](Self::danger_accept_jwt_without_body_hash)).
    /// A token runs the handler at most once
    /// ([`Delivery::replay_key`](crate::Delivery::replay_key)). Needs a JWKS: `build()` fails without one.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn jwt_audience(mut self, audience: impl Into<String>) -> Self {
        self.jwt_audience = Some(audience.into());
        self
    }

    /// Requires JWTs to name `issuer` in `iss` (not checked by default).
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn jwt_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.jwt_issuer = Some(issuer.into());
        self
    }

    /// The longest lifetime (`exp - iat`) a JWT may have (default
    /// [`DEFAULT_JWT_MAX_LIFETIME`], 15 minutes): a long-lived token is a
    /// long-lived bearer pass.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn jwt_max_lifetime(mut self, lifetime: Duration) -> Self {
        self.jwt_max_lifetime = Some(lifetime);
        self
    }

    /// Accepts JWTs that carry no hash of the body (`body_sha256`,
    /// `payload_sha256` or `sha256`).
    ///
    /// **Dangerous**: such a token authenticates the sender and the time,
    /// not the content. Whoever sees one delivery (a log, a proxy) can
    /// send any body with it until it expires; replay protection still runs
    /// the handler at most once per token, so the forged body wins only if
    /// it arrives before the genuine one. Use it only for a sender known not
    /// to bind the body, with a short [`jwt_max_lifetime`](Self::jwt_max_lifetime).
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn danger_accept_jwt_without_body_hash(mut self) -> Self {
        self.jwt_without_body_hash = true;
        self
    }

    /// Sets how far a delivery's timestamp may be from now, in the past or
    /// the future (default [`DEFAULT_TOLERANCE`], 300 s). Whole seconds count.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = Some(tolerance);
        self
    }

    /// Builds the [`Verifier`].
    ///
    /// Fails with [`KeyError::NoKeys`] when no secret, key or JWKS was
    /// given, and with [`KeyError::Jwt`] when JWT settings cannot work (an
    /// audience without a JWKS, an issuer or lifetime without an audience).
    pub fn build(self) -> Result<Verifier, KeyError> {
        if self.secrets.is_empty() && self.ed25519.is_empty() && self.jwks.is_none() {
            return Err(KeyError::NoKeys);
        }
        let jwt = match self.jwt_audience {
            Some(_) if self.jwks.is_none() => {
                return Err(KeyError::Jwt {
                    reason: "`jwt_audience` needs a JWKS (`jwks`, `jwks_json` or `jwks_url`)",
                });
            }
            Some(audience) => Some(JwtPolicy {
                audience,
                issuer: self.jwt_issuer,
                max_lifetime: self.jwt_max_lifetime.unwrap_or(DEFAULT_JWT_MAX_LIFETIME),
                require_body_hash: !self.jwt_without_body_hash,
            }),
            None if self.jwt_issuer.is_some()
                || self.jwt_max_lifetime.is_some()
                || self.jwt_without_body_hash =>
            {
                return Err(KeyError::Jwt {
                    reason: "JWT settings given without `jwt_audience`, which turns JWTs on",
                });
            }
            None => None,
        };
        Ok(Verifier {
            inner: Arc::new(VerifierConfig {
                secrets: self.secrets,
                ed25519: self.ed25519,
                jwks: self.jwks,
                jwt,
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
            .field("jwks", &self.jwks.is_some())
            .field("jwt_audience", &self.jwt_audience)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_max_lifetime", &self.jwt_max_lifetime)
            .field("jwt_without_body_hash", &self.jwt_without_body_hash)
            .field("tolerance", &self.tolerance)
            .finish()
    }
}
