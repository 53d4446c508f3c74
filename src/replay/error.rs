use thiserror::Error;

/// A replay store could not answer (unreachable, timed out, failed).
///
/// The receiver answers `503 Service Unavailable`: it cannot tell whether the
/// delivery is a duplicate, so Gemini must retry later.
#[derive(Debug, Error)]
#[error("replay store unavailable: {message}")]
pub struct ReplayError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ReplayError {
    /// An error with a short description of what failed (no secrets).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}
