//! JSON Web Key Sets: Google's published keys for dynamic webhooks.
//!
//! This module owns turning a JWKS into keys the verifier can use
//! ([`JwksKeys`]), and where those keys come from: a static
//! set, or (feature `jwks-fetch`) a URL fetched, cached and refreshed by
//! `RemoteJwks`. A key that cannot be used is skipped with a warning; it
//! never fails the whole set.

mod error;
#[cfg(feature = "jwks-fetch")]
mod remote;
mod source;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

pub use error::JwksError;
/// A JSON Web Key Set, as parsed by `jsonwebtoken` (re-exported so you name
/// it through this crate and never need `jsonwebtoken` at the same major
/// version): deserialize one with `serde_json`, hand it to
/// [`VerifierBuilder::jwks`](crate::VerifierBuilder::jwks).
pub use jsonwebtoken::jwk::JwkSet;
#[cfg(feature = "jwks-fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks-fetch")))]
pub use remote::{GEMINI_JWKS_URL, RemoteJwks, RemoteJwksBuilder};
pub(crate) use source::JwksSource;

use super::Ed25519Keys;
use super::ed25519::public_key_from_bytes;

/// A key usable for JWT verification, with the one algorithm it allows.
pub(crate) struct JwtKey {
    pub(crate) decoding: DecodingKey,
    pub(crate) algorithm: Algorithm,
}

/// The usable keys of one JWKS.
#[derive(Default)]
pub struct JwksKeys {
    /// OKP/Ed25519 keys: candidates for `v1a` entries (no key id is sent).
    pub(crate) ed25519: Ed25519Keys,
    /// Ed25519 key ids, in the same order as `ed25519`.
    pub(crate) ed25519_ids: Vec<Option<Arc<str>>>,
    /// Keys by `kid` for JWTs: RSA (RS256), EC P-256 (ES256), Ed25519 (EdDSA).
    pub(crate) by_kid: HashMap<Arc<str>, JwtKey>,
}

impl JwksKeys {
    /// Takes the usable keys of a parsed set, skipping (with a warning) any
    /// that cannot be used.
    pub fn from_set(set: &JwkSet) -> Self {
        let mut keys = Self::default();
        for jwk in &set.keys {
            keys.add(jwk);
        }
        keys
    }

    /// Parses a JWKS document leniently: a key that does not even parse is
    /// skipped like one that cannot be used. Fails only when the document is
    /// not a JWKS at all.
    pub fn from_json(document: &[u8]) -> Result<Self, JwksError> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document =
            serde_json::from_slice(document).map_err(|_| JwksError::NotAJwks)?;
        let mut keys = Self::default();
        for value in document.keys {
            match serde_json::from_value::<Jwk>(value) {
                Ok(jwk) => keys.add(&jwk),
                Err(err) => {
                    tracing::warn!(error = %crate::error_chain::ErrorChain(&err), "skipping a JWK that does not parse")
                }
            }
        }
        Ok(keys)
    }

    /// How many keys are usable (Ed25519 ones count once).
    pub fn len(&self) -> usize {
        let jwt_only = self
            .by_kid
            .values()
            .filter(|key| key.algorithm != Algorithm::EdDSA)
            .count();
        self.ed25519.len() + jwt_only
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add(&mut self, jwk: &Jwk) {
        let kid: Option<Arc<str>> = jwk.common.key_id.as_deref().map(Arc::from);
        let label = jwk.common.key_id.as_deref().unwrap_or("-");
        let skip = |why: &str| {
            tracing::warn!(kid = label, reason = why, "skipping unusable JWK");
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return skip("its use is encryption");
        }
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            AlgorithmParameters::OctetKey(_) => {
                return skip("symmetric keys are never taken from a JWKS");
            }
            _ => return skip("unsupported key type or curve"),
        };
        if let Some(declared) = jwk.common.key_algorithm
            && !declares(declared, algorithm)
        {
            return skip("its `alg` does not match its key type");
        }
        if let AlgorithmParameters::OctetKeyPair(okp) = &jwk.algorithm {
            let Some(key) = URL_SAFE_NO_PAD
                .decode(okp.x.trim_end_matches('='))
                .ok()
                .and_then(|raw| public_key_from_bytes(&raw).ok())
            else {
                return skip("not a valid Ed25519 public key");
            };
            self.ed25519.push(key);
            self.ed25519_ids.push(kid.clone());
        }
        let Some(kid) = kid else {
            if algorithm != Algorithm::EdDSA {
                skip("no `kid`, so no JWT can name it");
            }
            return;
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(decoding) => {
                self.by_kid.insert(
                    kid,
                    JwtKey {
                        decoding,
                        algorithm,
                    },
                );
            }
            Err(_) => skip("its parameters do not form a valid key"),
        }
    }
}

/// Whether a JWK's declared `alg` is the one its key type allows here.
fn declares(declared: KeyAlgorithm, algorithm: Algorithm) -> bool {
    matches!(
        (declared, algorithm),
        (KeyAlgorithm::RS256, Algorithm::RS256)
            | (KeyAlgorithm::ES256, Algorithm::ES256)
            | (KeyAlgorithm::EdDSA, Algorithm::EdDSA)
    )
}

impl fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<_> = self.by_kid.keys().map(|k| &**k).collect();
        kids.sort_unstable();
        f.debug_struct("JwksKeys")
            .field("ed25519", &self.ed25519.len())
            .field("kids", &kids)
            .finish()
    }
}
