use thiserror::Error;

/// The inbox could not do what was asked: the database is unreachable,
/// timed out or refused a statement. (A misconfigured inbox fails
/// `build()` with a [`ConfigError`](gemini_webhooks::ConfigError) instead.)
///
/// At ingest the receiver answers `503 Service Unavailable`: the delivery
/// was not stored, so Gemini must retry. The message never contains the
/// database URL's password or a delivery's body.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum InboxError {
    /// PostgreSQL failed or could not be reached.
    #[error("inbox unavailable: {what} failed: {source}")]
    Database {
        /// What the inbox was doing (`"ingest"`, `"claim"`, …).
        what: &'static str,
        /// The driver's or the pool's error.
        #[source]
        source: std::sync::Arc<dyn std::error::Error + Send + Sync>,
    },
    /// PostgreSQL did not answer within the inbox's timeout.
    #[error("inbox unavailable: {what} timed out")]
    TimedOut {
        /// What the inbox was doing.
        what: &'static str,
    },
    /// An argument the call cannot be made with (a wait the database
    /// cannot hold); refused before any statement.
    #[error("{0}")]
    InvalidArgument(String),
}

impl InboxError {
    pub(crate) fn database(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Database {
            what,
            source: std::sync::Arc::new(source),
        }
    }
}
