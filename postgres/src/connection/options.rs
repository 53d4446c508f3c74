//! [`Options`]: what the PostgreSQL replay store's builder and the inbox's
//! share (where connections come from, the table, the timeout, whether to
//! create the schema, the pool's size, extra TLS roots), and their setters,
//! written once ([`postgres_options_methods!`]).

use std::fmt;
use std::time::Duration;

use super::{Opened, Source, check_table, configure, pool};
use gemini_webhooks::ConfigError;

/// A PostgreSQL builder's connection settings.
pub(crate) struct Options {
    pub(crate) source: Source,
    pub(crate) table: String,
    pub(crate) timeout: Duration,
    pub(crate) create_schema: bool,
    /// The own pool's size, if one was given.
    pub(crate) pool_size: Option<usize>,
    pub(crate) tls_roots: Vec<Vec<u8>>,
}

impl Options {
    /// The defaults: `table`, 1 s, the schema created on first use.
    pub(crate) fn new(source: Source, table: &str) -> Self {
        Self {
            source,
            table: table.to_owned(),
            timeout: Duration::from_secs(1),
            create_schema: true,
            pool_size: None,
            tls_roots: Vec::new(),
        }
    }

    /// Checks the settings (the table with the `suffixes` of the names
    /// derived from it) and makes the pool: from the URL
    /// (`default_pool_size` connections unless told otherwise), or the
    /// application's pool as it is (then the own pool's settings are
    /// refused, not ignored). Nothing connects yet.
    pub(crate) fn open(
        &self,
        suffixes: &[&str],
        default_pool_size: usize,
    ) -> Result<Opened, ConfigError> {
        match &self.source {
            Source::Url(url) => {
                let (config, connector) = configure(url, &self.tls_roots, &self.table, suffixes)?;
                let size = self.pool_size.unwrap_or(default_pool_size);
                let pool = pool(config.clone(), &connector, size, self.timeout)?;
                Ok((pool, Some((config, connector))))
            }
            Source::Pool(pool) => {
                check_table(&self.table, suffixes)
                    .map_err(|reason| ConfigError::InvalidTable { reason })?;
                let refused = if self.pool_size.is_some() {
                    Some("pool_size")
                } else if !self.tls_roots.is_empty() {
                    Some("tls_root_certificates")
                } else {
                    None
                };
                match refused {
                    Some(setting) => Err(ConfigError::NotForPool { setting }),
                    None => Ok((pool.clone(), None)),
                }
            }
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may hold a password.
        f.debug_struct("Options")
            .field("table", &self.table)
            .field("timeout", &self.timeout)
            .field("create_schema", &self.create_schema)
            .field("pool_size", &self.pool_size)
            .field("own_pool", &matches!(self.source, Source::Url(_)))
            .finish_non_exhaustive()
    }
}

/// The setters of a builder with an `options: Options` field: `table` (its
/// doc's last sentence `$table`), `timeout`, `create_schema` (naming
/// `$schema_sql`, the function giving the DDL), `pool_size` (its doc
/// `$pool_size`) and `tls_root_certificates`.
macro_rules! postgres_options_methods {
    (table: $table:literal, schema_sql: $schema_sql:literal, pool_size: $pool_size:literal $(,)?) => {
        /// The table (default [`DEFAULT_TABLE`]); lower-case letters, digits
        /// and `_`, optionally `schema.table`.
        #[doc = $table]
        pub fn table(mut self, table: impl Into<String>) -> Self {
            self.options.table = table.into();
            self
        }

        /// How long one statement (an ingest, a claim) may take before the
        /// delivery gets 503 (default 1 s).
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.options.timeout = timeout;
            self
        }

        /// Create the table on first use (default `true`); turn it off when
        #[doc = concat!("your migrations run [`", $schema_sql, "`].")]
        pub fn create_schema(mut self, create: bool) -> Self {
            self.options.create_schema = create;
            self
        }

        #[doc = $pool_size]
        pub fn pool_size(mut self, size: usize) -> Self {
            self.options.pool_size = Some(size);
            self
        }

        /// Trusts the PEM certificates in `pem` (a private CA, a cloud
        /// provider's bundle such as Amazon RDS's) beside Mozilla's roots
        /// when the URL asks for TLS (`sslmode=require`, feature
        /// `tls`). Repeatable; `pem` without a certificate, or with
        /// one that does not parse, fails [`build`](Self::build).
        #[cfg(feature = "tls")]
        #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
        pub fn tls_root_certificates(mut self, pem: &[u8]) -> Self {
            self.options.tls_roots.push(pem.to_vec());
            self
        }
    };
}

pub(crate) use postgres_options_methods;
