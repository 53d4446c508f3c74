use http::StatusCode;
use thiserror::Error;

/// Why a delivery was not accepted.
///
/// Messages are short and safe to send back to the caller: they name the
/// header and the problem, never a secret, a key, a signature or the body.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`) is absent.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A header is present but malformed: not visible ASCII, repeated, empty,
    /// too long, or (for the signature) not a list of `version,base64` entries.
    #[error("invalid header `{header}`: {reason}")]
    InvalidHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `webhook-timestamp` is not a whole number of seconds since the Unix
    /// epoch that a clock can hold (signs, spaces, fractions and overflowing
    /// values all land here).
    #[error("invalid header `webhook-timestamp`: not a unix time in seconds")]
    InvalidTimestamp,
    /// The timestamp is further in the past than the tolerance allows.
    #[error("timestamp too old")]
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance allows.
    #[error("timestamp too far in the future")]
    TimestampInFuture,
    /// No signature entry verifies under any configured secret or key.
    #[error("no matching signature")]
    NoMatchingSignature,
    /// A JWT in `webhook-signature` was refused (the reason says why: an
    /// unknown key id, a disallowed or mismatched algorithm, a wrong
    /// audience, an expired token, a body hash that does not match, …).
    #[error("invalid token: {reason}")]
    InvalidToken {
        /// Why, in a few words.
        reason: &'static str,
    },
    /// The delivery needs JWKS keys and none are usable (never loaded, or
    /// older than the maximum staleness): answered 503 so Gemini retries.
    #[error("signing keys unavailable; retry later")]
    KeysUnavailable,
}

impl VerifyError {
    /// A stable, short name for logs and metrics, e.g. `"timestamp_too_old"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::InvalidHeader { .. } => "invalid_header",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::TimestampInFuture => "timestamp_in_future",
            Self::NoMatchingSignature => "no_matching_signature",
            Self::InvalidToken { .. } => "invalid_token",
            Self::KeysUnavailable => "keys_unavailable",
        }
    }

    /// The HTTP status a receiver answers with (see the table in the crate
    /// docs): `400` for missing or malformed headers, `401` for a timestamp
    /// outside the window or a signature that does not verify, `503` when
    /// the keys to decide are unavailable.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingHeader(_) | Self::InvalidHeader { .. } | Self::InvalidTimestamp => {
                StatusCode::BAD_REQUEST
            }
            Self::TimestampTooOld
            | Self::TimestampInFuture
            | Self::NoMatchingSignature
            | Self::InvalidToken { .. } => StatusCode::UNAUTHORIZED,
            Self::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}
