use thiserror::Error;

/// A JWKS could not be loaded.
///
/// While a fetched set has cached keys younger than its maximum staleness,
/// these errors are logged and the cached keys keep serving; with no usable
/// keys at all, deliveries are answered `503` so Gemini retries.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The request failed: connection, timeout, or TLS.
    #[error("JWKS request failed: {0}")]
    Request(String),
    /// The server answered with a non-success status.
    #[error("JWKS server answered {0}")]
    Status(http::StatusCode),
    /// The document is larger than the configured limit.
    #[error("JWKS document larger than {0} bytes")]
    TooLarge(usize),
    /// The document is not a JSON Web Key Set.
    #[error("the document is not a JWKS")]
    NotAJwks,
    /// The set holds no key this crate can use.
    #[error("the JWKS holds no usable key")]
    NoUsableKeys,
    /// The URL cannot be used: it does not parse, or is not `https://`
    /// (`http://` only for a loopback host).
    #[error("JWKS {0}")]
    InvalidUrl(&'static str),
}

impl JwksError {
    /// A short reason for [`KeyError::Jwks`](crate::KeyError::Jwks) when
    /// building a fetcher fails.
    #[cfg(feature = "jwks-fetch")]
    pub(crate) fn build_reason(&self) -> &'static str {
        match self {
            Self::InvalidUrl(reason) => reason,
            _ => "fetcher could not be built (its TLS backend failed)",
        }
    }
}
