//! The JWT form of dynamic webhooks, as Gemini's docs describe it: a compact
//! JWS in `webhook-signature`, signed with a key of the JWKS named by `kid`.
//!
//! Only RS256, ES256 and EdDSA are accepted, and only with a key of the
//! matching type: `alg: none`, HMAC algorithms (which would turn a public
//! key into a shared secret) and a header naming another algorithm than its
//! key are refused.
//!
//! A token is a bearer credential, so it is held to more than its signature
//! ([`JwtPolicy`]): `aud` must be the configured audience (and `iss` the
//! configured issuer, if one is set); `exp` and `iat` are required, `iat`
//! must be within the verifier's tolerance of now, `nbf` is honoured, and
//! `exp - iat` may not exceed the maximum lifetime. Unless the verifier
//! opted out, the token must bind the body: a SHA-256 of the raw body in
//! `body_sha256`, `payload_sha256` or `sha256` (hex or base64). The docs do
//! not say how Gemini binds the body; these names are our best guess.
//!
//! The `webhook-id` and `webhook-timestamp` headers are not signed in this
//! form, so the replay key comes from the token ([`replay_key`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::VerifyError;
use crate::keys::jwks::JwksKeys;

/// Claims that may carry the body's SHA-256.
const BODY_HASH_CLAIMS: [&str; 3] = ["body_sha256", "payload_sha256", "sha256"];

/// The longest `jti` used as a replay key as it is; a longer one is hashed.
const MAX_JTI_LEN: usize = 200;

/// The default maximum token lifetime (`exp - iat`): 15 minutes.
pub const DEFAULT_JWT_MAX_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// What a JWT must satisfy besides its signature.
#[derive(Debug, Clone)]
pub(crate) struct JwtPolicy {
    pub(crate) audience: String,
    pub(crate) issuer: Option<String>,
    pub(crate) max_lifetime: Duration,
    pub(crate) require_body_hash: bool,
}

/// Whether a `webhook-signature` value is shaped like a compact JWS.
pub(crate) fn looks_like_jwt(signature: &str) -> bool {
    signature.split('.').count() == 3 && !signature.contains([' ', ','])
}

/// A verified token.
pub(crate) struct VerifiedJwt {
    /// The `kid` of the key that signed it.
    pub(crate) kid: Arc<str>,
    /// Its claims.
    pub(crate) claims: Map<String, Value>,
    /// `iat`, when it was issued.
    pub(crate) issued_at: SystemTime,
    /// The key under which its one use is recorded.
    pub(crate) replay_key: String,
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

/// Verifies `token` against `keys` and `policy`.
pub(crate) fn verify(
    token: &str,
    keys: &JwksKeys,
    policy: &JwtPolicy,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<VerifiedJwt, JwtFailure> {
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
    validation.set_audience(&[&policy.audience]);
    if let Some(issuer) = &policy.issuer {
        validation.set_issuer(&[issuer]);
        // Present, not only right when present.
        validation.set_required_spec_claims(&["aud", "iss"]);
    } else {
        validation.set_required_spec_claims(&["aud"]);
    }
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
        .map_err(|err| match err.kind() {
            ErrorKind::InvalidAudience => invalid("wrong audience"),
            ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => invalid("wrong audience"),
            ErrorKind::InvalidIssuer | ErrorKind::MissingRequiredClaim(_) => {
                invalid("wrong issuer")
            }
            ErrorKind::InvalidSignature => invalid("signature does not verify"),
            _ => invalid("malformed token"),
        })?
        .claims;

    let issued_at = check_times(&claims, now, tolerance, policy.max_lifetime)?;
    check_body_hash(&claims, body, policy.require_body_hash)?;
    Ok(VerifiedJwt {
        kid: Arc::clone(kid),
        replay_key: replay_key(token, &claims),
        claims,
        issued_at,
    })
}

/// The key a token's one use is recorded under: `jwt:` and its `jti` when
/// it has a short one, else `jwt:sha256:` and a digest of the whole token.
/// Never the unsigned `webhook-id` header, so neither a new id nor a new
/// body makes an old token run the handler again.
pub(crate) fn replay_key(token: &str, claims: &Map<String, Value>) -> String {
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => format!("jwt:{jti}"),
        _ => format!(
            "jwt:sha256:{}",
            URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
        ),
    }
}

/// Checks `exp`, `iat` (both required), `nbf` and the lifetime; returns `iat`.
fn check_times(
    claims: &Map<String, Value>,
    now: SystemTime,
    tolerance: Duration,
    max_lifetime: Duration,
) -> Result<SystemTime, JwtFailure> {
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => i128::from(since.as_secs()),
        Err(before) => -i128::from(before.duration().as_secs()),
    };
    let tolerance = i128::from(tolerance.as_secs());
    let claim = |name: &str| -> Result<Option<i128>, JwtFailure> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_i64()
                .map(|v| Some(i128::from(v)))
                .ok_or(invalid("a time claim is not a whole number")),
        }
    };
    let exp = claim("exp")?.ok_or(invalid("no expiry (`exp`)"))?;
    let iat = claim("iat")?.ok_or(invalid("no issue time (`iat`)"))?;
    if now - tolerance > exp {
        return Err(invalid("expired"));
    }
    if now + tolerance < iat {
        return Err(invalid("issued in the future"));
    }
    if now - tolerance > iat {
        return Err(invalid("issued too long ago"));
    }
    if claim("nbf")?.is_some_and(|nbf| now + tolerance < nbf) {
        return Err(invalid("not yet valid"));
    }
    if exp - iat > i128::from(max_lifetime.as_secs()) {
        return Err(invalid("lifetime longer than allowed"));
    }
    // Within the window of `now`, so a u64 of seconds holds it.
    let iat_secs = u64::try_from(iat).map_err(|_| invalid("issue time before 1970"))?;
    UNIX_EPOCH
        .checked_add(Duration::from_secs(iat_secs))
        .ok_or(invalid("issue time out of range"))
}

fn check_body_hash(
    claims: &Map<String, Value>,
    body: &[u8],
    required: bool,
) -> Result<(), JwtFailure> {
    let Some(claimed) = BODY_HASH_CLAIMS
        .iter()
        .find_map(|name| claims.get(*name).and_then(Value::as_str))
    else {
        return if required {
            Err(invalid("no body hash claim"))
        } else {
            Ok(())
        };
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
