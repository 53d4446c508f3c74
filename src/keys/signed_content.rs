//! [`SignedContent`]: the bytes a Standard Webhooks signature covers, and
//! the one place that feeds them to a MAC or an Ed25519 check. It lives in
//! `keys`, below `verify` and `testing`, so the core's imports run one way.

use ed25519_dalek::{Signature, VerifyingKey};
use hmac::Mac;

use super::HmacSecret;

/// The bytes a Standard Webhooks signature covers: `{id}.{timestamp}.{body}`.
///
/// Never concatenated: each part is streamed into the MAC or hash in turn, so
/// the body is neither copied nor re-serialized, and need not be UTF-8.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignedContent<'a> {
    pub(crate) id: &'a str,
    pub(crate) timestamp: &'a str,
    pub(crate) body: &'a [u8],
}

impl SignedContent<'_> {
    /// The parts in order, dots included.
    fn parts(&self) -> [&[u8]; 5] {
        [
            self.id.as_bytes(),
            b".",
            self.timestamp.as_bytes(),
            b".",
            self.body,
        ]
    }

    /// HMAC-SHA256 of the content under `secret`.
    pub(crate) fn hmac(&self, secret: &HmacSecret) -> [u8; 32] {
        let mut mac = secret.mac();
        for part in self.parts() {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `signature` is a valid Ed25519 signature of the content by `key`.
    pub(crate) fn verify_ed25519(&self, key: &VerifyingKey, signature: &Signature) -> bool {
        let Ok(mut verifier) = key.verify_stream(signature) else {
            return false;
        };
        for part in self.parts() {
            verifier.update(part);
        }
        verifier.finalize_and_verify().is_ok()
    }

    /// Ed25519 signature of the content (signing needs the message whole).
    #[cfg(feature = "test-util")]
    pub(crate) fn sign_ed25519(&self, key: &ed25519_dalek::SigningKey) -> Signature {
        use ed25519_dalek::Signer as _;
        key.sign(&self.parts().concat())
    }
}
