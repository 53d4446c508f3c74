//! Key material the verifier checks signatures against.
//!
//! This module owns parsing and holding keys: HMAC-SHA256 secrets (`whsec_`,
//! static project webhooks, `v1` entries) and Ed25519 public keys (`whpk_`,
//! `v1a` entries). It never logs, prints or returns key bytes: `Debug` output
//! is redacted and errors name only what kind of key was wrong.

mod ed25519;
mod error;
mod hmac_secret;
pub mod jwks;
mod signed_content;

#[cfg(feature = "test-util")]
pub(crate) use ed25519::parse_private_key;
pub(crate) use ed25519::parse_public_key;
pub(crate) use ed25519::{Ed25519Keys, VerifyBudget};
pub use error::KeyError;
pub(crate) use hmac_secret::HmacSecret;
pub(crate) use signed_content::SignedContent;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Strips `prefix` and decodes the standard-base64 rest, naming `kind` in errors.
fn decode_prefixed(
    value: &str,
    prefix: &'static str,
    kind: &'static str,
) -> Result<Vec<u8>, KeyError> {
    let encoded = value
        .trim()
        .strip_prefix(prefix)
        .ok_or(KeyError::WrongPrefix {
            kind,
            expected: prefix,
        })?;
    if encoded.is_empty() {
        return Err(KeyError::Empty { kind });
    }
    STANDARD
        .decode(encoded)
        .map_err(|_| KeyError::InvalidBase64 { kind })
}
