use thiserror::Error;

/// A key or secret given to [`VerifierBuilder`](crate::VerifierBuilder) (or a
/// `Signer`) could not be used.
///
/// The message names the kind of key and what was wrong with it, never the
/// key material itself.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is empty (for example `"whsec_"` alone).
    #[error("the {kind} is empty")]
    Empty {
        /// What kind of key it was, e.g. `"HMAC secret"`.
        kind: &'static str,
    },
    /// The key does not start with the prefix its kind uses.
    #[error("the {kind} must start with `{expected}`{}", prefix_hint(.expected))]
    WrongPrefix {
        /// What kind of key it was.
        kind: &'static str,
        /// The prefix it must start with, e.g. `"whsec_"`.
        expected: &'static str,
    },
    /// The part after the prefix is not valid standard base64.
    #[error("the {kind} is not valid base64 after its prefix")]
    InvalidBase64 {
        /// What kind of key it was.
        kind: &'static str,
    },
    /// The decoded key has the wrong number of bytes.
    #[error("the {kind} must decode to {expected} bytes, not {actual}")]
    WrongLength {
        /// What kind of key it was.
        kind: &'static str,
        /// The accepted length(s), in words, e.g. `"32"` or `"32 or 64"`.
        expected: &'static str,
        /// The decoded length.
        actual: usize,
    },
    /// The secret is shorter than the Standard Webhooks spec allows (24
    /// bytes): guessable. Gemini's secrets are longer; for a test fixture
    /// signed with a short one, use `VerifierBuilder::danger_short_secret`.
    #[error(
        "the {kind} is {actual} bytes, shorter than the {min} the Standard Webhooks spec requires \
         (for a test fixture, use `VerifierBuilder::danger_short_secret`)"
    )]
    TooShort {
        /// What kind of key it was.
        kind: &'static str,
        /// The shortest accepted, in bytes.
        min: usize,
        /// The decoded length.
        actual: usize,
    },
    /// The Ed25519 key is not a usable curve point (or a weak, small-order one).
    #[error("the {kind} is not a valid Ed25519 key")]
    InvalidKey {
        /// What kind of key it was.
        kind: &'static str,
    },
    /// `build()` was called with no secret and no public key: nothing could
    /// ever verify.
    #[error("no secret or public key configured: nothing could verify a delivery")]
    NoKeys,
    /// A JSON Web Key Set, or the URL to fetch it from, cannot be used.
    #[error("the JWKS {reason}")]
    Jwks {
        /// What is wrong, e.g. `"holds no usable key"`.
        reason: &'static str,
    },
    /// The JWT settings cannot work together.
    #[error("JWT configuration: {reason}")]
    Jwt {
        /// What is missing or contradictory.
        reason: &'static str,
    },
}

/// What to do instead when a key lacks its prefix.
fn prefix_hint(expected: &str) -> &'static str {
    match expected {
        "whsec_" => " (for raw secret bytes, use `VerifierBuilder::secret_bytes`)",
        _ => "",
    }
}
