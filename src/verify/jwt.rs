//! The JWT form of dynamic webhooks, as Gemini's docs describe it: a compact
//! JWS in `webhook-signature`, signed with a key of the JWKS named by `kid`.
//!
//! Only RS256, ES256 and EdDSA are accepted, and only with a key of the
//! matching type: `alg: none`, HMAC algorithms (which would turn a public
//! key into a shared secret) and a header naming another algorithm than its
//! key are refused. `exp`, `nbf` and `iat` are checked against the
//! verifier's clock within its tolerance; `aud` must be the configured
//! audience.
//!
//! Body binding: the docs do not say how the token binds to the body. If it
//! carries a SHA-256 of the raw body (claim `body_sha256`, `payload_sha256`
//! or `sha256`, hex or base64), it must match; without one, the token
//! authenticates the sender and the time but not the body.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::VerifyError;
use crate::keys::jwks::JwksKeys;

/// Claims that may carry the body's SHA-256.
const BODY_HASH_CLAIMS: [&str; 3] = ["body_sha256", "payload_sha256", "sha256"];

/// Whether a `webhook-signature` value is shaped like a compact JWS.
pub(crate) fn looks_like_jwt(signature: &str) -> bool {
    signature.split('.').count() == 3 && !signature.contains([' ', ','])
}

/// Why a JWT was refused, and whether a fresher key set could change that.
pub(crate) enum JwtFailure {
    /// The token names a key id the set does not hold.
    UnknownKey,
    /// The token is refused for good.
    Invalid(VerifyError),
}

fn invalid(reason: &'static str) -> JwtFailure {
    JwtFailure::Invalid(VerifyError::InvalidToken { reason })
}

/// Verifies `token` and returns the `kid` of the key that signed it.
pub(crate) fn verify(
    token: &str,
    keys: &JwksKeys,
    audience: &str,
    body: &[u8],
    now: SystemTime,
    tolerance_secs: u64,
) -> Result<Arc<str>, JwtFailure> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid("malformed or unsupported token header"))?;
    let kid = header.kid.ok_or(invalid("no key id (`kid`)"))?;
    let (kid, key) = keys
        .by_kid
        .get_key_value(kid.as_str())
        .ok_or(JwtFailure::UnknownKey)?;
    if !matches!(
        header.alg,
        Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
    ) {
        return Err(invalid("algorithm not allowed"));
    }
    if header.alg != key.algorithm {
        return Err(invalid("algorithm does not match its key"));
    }

    let mut validation = Validation::new(key.algorithm);
    // Time claims are checked below against the verifier's own clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    // `aud` must be present, not only right when present.
    validation.set_required_spec_claims(&["aud"]);
    validation.set_audience(&[audience]);
    let claims = jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
        .map_err(|err| match err.kind() {
            ErrorKind::InvalidAudience | ErrorKind::MissingRequiredClaim(_) => {
                invalid("wrong audience")
            }
            ErrorKind::InvalidAlgorithm => invalid("algorithm does not match its key"),
            ErrorKind::InvalidSignature => invalid("signature does not verify"),
            _ => invalid("malformed token"),
        })?
        .claims;

    check_times(&claims, now, tolerance_secs)?;
    check_body_hash(&claims, body)?;
    Ok(Arc::clone(kid))
}

fn check_times(claims: &Value, now: SystemTime, tolerance: u64) -> Result<(), JwtFailure> {
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => i128::from(since.as_secs()),
        Err(before) => -i128::from(before.duration().as_secs()),
    };
    let tolerance = i128::from(tolerance);
    let claim = |name: &str| -> Result<Option<i128>, JwtFailure> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_i64()
                .map(|v| Some(i128::from(v)))
                .ok_or(invalid("a time claim is not a number")),
        }
    };
    if claim("exp")?.is_some_and(|exp| now - tolerance > exp) {
        return Err(invalid("expired"));
    }
    if claim("nbf")?.is_some_and(|nbf| now + tolerance < nbf) {
        return Err(invalid("not yet valid"));
    }
    if claim("iat")?.is_some_and(|iat| now + tolerance < iat) {
        return Err(invalid("issued in the future"));
    }
    Ok(())
}

fn check_body_hash(claims: &Value, body: &[u8]) -> Result<(), JwtFailure> {
    let Some(claimed) = BODY_HASH_CLAIMS
        .iter()
        .find_map(|name| claims.get(*name).and_then(Value::as_str))
    else {
        return Ok(());
    };
    let claimed = decode_digest(claimed).ok_or(invalid("body hash is not a SHA-256"))?;
    let actual: [u8; 32] = Sha256::digest(body).into();
    if bool::from(actual.ct_eq(&claimed)) {
        Ok(())
    } else {
        Err(invalid("body hash does not match"))
    }
}

/// A SHA-256 digest written as hex, base64 or base64url.
fn decode_digest(text: &str) -> Option<[u8; 32]> {
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .ok()?
    };
    bytes.try_into().ok()
}
