use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use ed25519_dalek::{Signature, VerifyingKey};

use super::SignedContent;
use super::{KeyError, decode_prefixed};

const PUBLIC_KIND: &str = "Ed25519 public key";

/// Parses `whpk_` + standard base64 of a raw 32-byte Ed25519 public key.
pub(crate) fn parse_public_key(key: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = decode_prefixed(key, "whpk_", PUBLIC_KIND)?;
    public_key_from_bytes(&bytes)
}

/// Checks a raw 32-byte Ed25519 public key: a valid point and not a weak one.
pub(crate) fn public_key_from_bytes(bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
    let raw: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::WrongLength {
        kind: PUBLIC_KIND,
        expected: "32",
        actual: bytes.len(),
    })?;
    let key =
        VerifyingKey::from_bytes(raw).map_err(|_| KeyError::InvalidKey { kind: PUBLIC_KIND })?;
    // A small-order key would accept forged signatures; streaming verification
    // does not check for it, so refuse such keys up front.
    if key.is_weak() {
        return Err(KeyError::InvalidKey { kind: PUBLIC_KIND });
    }
    Ok(key)
}

/// Parses `whsk_` + standard base64 of a 32-byte seed or a 64-byte
/// seed‖public key (libsodium's layout).
#[cfg(feature = "test-util")]
pub(crate) fn parse_private_key(key: &str) -> Result<ed25519_dalek::SigningKey, KeyError> {
    const KIND: &str = "Ed25519 private key";
    let bytes = decode_prefixed(key, "whsk_", KIND)?;
    let seed: &[u8; 32] = bytes
        .get(..32)
        .filter(|_| bytes.len() == 32 || bytes.len() == 64)
        .and_then(|s| s.try_into().ok())
        .ok_or(KeyError::WrongLength {
            kind: KIND,
            expected: "32 or 64",
            actual: bytes.len(),
        })?;
    let signing = ed25519_dalek::SigningKey::from_bytes(seed);
    if bytes.len() == 64 && bytes[32..] != signing.verifying_key().as_bytes()[..] {
        return Err(KeyError::InvalidKey { kind: KIND });
    }
    Ok(signing)
}

/// The Ed25519 keys a `v1a` entry may be signed with.
///
/// `v1a` entries carry no key id, so every key is a candidate. The key that
/// verified last is tried first: with a stable sender that makes the common
/// case one verification, whatever the number of keys.
#[derive(Default)]
pub(crate) struct Ed25519Keys {
    keys: Vec<VerifyingKey>,
    last_verified: AtomicUsize,
}

impl Ed25519Keys {
    pub(crate) fn push(&mut self, key: VerifyingKey) {
        self.keys.push(key);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The index of the key under which `signature` verifies `content`.
    ///
    /// Each key tried spends one unit of `budget` (one Ed25519 verification,
    /// which hashes the whole body); with the budget spent, no more keys are
    /// tried.
    pub(crate) fn verify(
        &self,
        content: &SignedContent<'_>,
        signature: &Signature,
        budget: &mut VerifyBudget,
    ) -> Option<usize> {
        let count = self.keys.len();
        let first = self.last_verified.load(Ordering::Relaxed);
        (0..count)
            .map(|offset| (first + offset) % count)
            .take_while(|_| budget.spend())
            .find(|&index| content.verify_ed25519(&self.keys[index], signature))
            .inspect(|&index| {
                if index != first {
                    self.last_verified.store(index, Ordering::Relaxed);
                }
            })
    }
}

/// How many Ed25519 verifications one delivery may still cost.
///
/// Every `v1a` entry × every candidate key hashes the whole body, and `v1a`
/// sends no key id; the budget bounds what a forged delivery can make us do
/// (see [`MAX_ED25519_VERIFICATIONS`](crate::verify::MAX_ED25519_VERIFICATIONS)).
#[derive(Debug)]
pub(crate) struct VerifyBudget(usize);

impl VerifyBudget {
    pub(crate) fn new(verifications: usize) -> Self {
        Self(verifications)
    }

    /// Takes one verification from the budget; `false` once it is spent.
    fn spend(&mut self) -> bool {
        let available = self.0 > 0;
        self.0 = self.0.saturating_sub(1);
        available
    }
}

impl fmt::Debug for Ed25519Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519Keys")
            .field("count", &self.keys.len())
            .finish()
    }
}
