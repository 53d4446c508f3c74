use std::fmt;

use hmac::{Hmac, KeyInit};
use sha2::Sha256;

use super::{KeyError, decode_prefixed};

/// HMAC-SHA256 with a key set up once.
pub(crate) type HmacSha256 = Hmac<Sha256>;

const KIND: &str = "HMAC secret";

/// The shortest secret the Standard Webhooks spec allows: 24 bytes (192
/// bits; it allows up to 64).
pub(crate) const MIN_SECRET_BYTES: usize = 24;

/// A `whsec_` secret, kept as a keyed HMAC state.
///
/// Keying HMAC costs two SHA-256 blocks; doing it once here and cloning the
/// state per delivery keeps that off the hot path.
#[derive(Clone)]
pub(crate) struct HmacSecret {
    keyed: HmacSha256,
}

impl HmacSecret {
    /// Parses `whsec_` + standard base64.
    pub(crate) fn parse(secret: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&decode_prefixed(secret, "whsec_", KIND)?)
    }

    /// Uses raw secret bytes (what `whsec_` wraps).
    pub(crate) fn from_bytes(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::Empty { kind: KIND });
        }
        // HMAC accepts keys of any length, so this cannot fail; map it anyway
        // rather than unwrap on an input path.
        let keyed =
            HmacSha256::new_from_slice(secret).map_err(|_| KeyError::Empty { kind: KIND })?;
        Ok(Self { keyed })
    }

    /// Parses `whsec_` + standard base64, refusing a secret shorter than
    /// [`MIN_SECRET_BYTES`].
    pub(crate) fn parse_strict(secret: &str) -> Result<Self, KeyError> {
        Self::from_bytes_strict(&decode_prefixed(secret, "whsec_", KIND)?)
    }

    /// Raw secret bytes, refused if shorter than [`MIN_SECRET_BYTES`].
    pub(crate) fn from_bytes_strict(secret: &[u8]) -> Result<Self, KeyError> {
        if !secret.is_empty() && secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::TooShort {
                kind: KIND,
                min: MIN_SECRET_BYTES,
                actual: secret.len(),
            });
        }
        Self::from_bytes(secret)
    }

    /// A fresh MAC state keyed with this secret.
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }
}

impl fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSecret(<redacted>)")
    }
}
