//! [`ConfigError`]: what a store's or the inbox's builder refuses. Setup
//! errors are apart from a running receiver's (`ReplayError`,
//! `InboxError`: a 503 per delivery), as a bad table name is a bug to fix,
//! not an outage to wait out.

use thiserror::Error;

/// A builder was given something it cannot use: fix the configuration.
///
/// Returned by `build()` of the Redis and PostgreSQL replay stores and of
/// the inbox, never by a delivery. Its message names the setting and the
/// problem, never a password.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The connection URL does not parse, or asks for what this build
    /// cannot give (e.g. `sslmode=require` without `gemini-webhooks-postgres`'s feature `tls`).
    #[error("invalid {service} URL: {reason}")]
    InvalidUrl {
        /// `"PostgreSQL"`, `"Redis"` or `"Gemini API"`.
        service: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The table name is not one the statements can be built on.
    #[error("invalid table name: {reason}")]
    InvalidTable {
        /// What is wrong with it.
        reason: String,
    },
    /// A setting of the store's own pool, given to a store built on the
    /// application's pool (`from_pool`), which is used as it is.
    #[error(
        "`{setting}` configures a pool of the store's own; one built from_pool uses yours as it is"
    )]
    NotForPool {
        /// The builder method.
        setting: &'static str,
    },
    /// A setting without which nothing can work was left empty.
    #[error("{setting} is missing")]
    MissingSetting {
        /// What to set.
        setting: &'static str,
    },
    /// Two settings that cannot go together.
    #[error("{setting} cannot be used with {other}: {why}")]
    Conflict {
        /// The setting refused.
        setting: &'static str,
        /// The setting it conflicts with.
        other: &'static str,
        /// Why.
        why: &'static str,
    },
    /// The connection pool could not be set up.
    #[error("could not set up the connection pool")]
    Pool(#[source] Box<dyn std::error::Error + Send + Sync>),
}
