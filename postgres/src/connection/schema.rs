//! [`Schema`]: a table created once on first use, and the one way the
//! replay store and the inbox run a statement: a pooled connection, the
//! schema first, all within a timeout.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Object, Pool, PoolError};
use tokio::sync::OnceCell;

/// Why a statement did not run; each caller names it in its own error.
#[derive(Debug)]
pub(crate) enum RunError {
    /// No connection from the pool (unreachable, refused, pool timed out).
    Connect(PoolError),
    /// The table could not be created.
    Schema(tokio_postgres::Error),
    /// The statement failed.
    Statement(tokio_postgres::Error),
    /// Not done within the timeout.
    TimedOut,
}

/// A table and its DDL, created once per process unless migrations own it.
pub(crate) struct Schema {
    table: String,
    ddl: String,
    create: bool,
    created: OnceCell<()>,
}

impl Schema {
    /// `ddl` creates `table` idempotently; with `create` off it never runs.
    pub(crate) fn new(table: &str, ddl: String, create: bool) -> Self {
        Self {
            table: table.to_owned(),
            ddl,
            create,
            created: OnceCell::new(),
        }
    }

    /// A connection from `pool`, the table created first if this process
    /// has not yet.
    pub(crate) async fn connection(&self, pool: &Pool) -> Result<Object, RunError> {
        let client = pool.get().await.map_err(RunError::Connect)?;
        if self.create {
            self.created
                .get_or_try_init(|| super::create_schema(&client, &self.table, self.ddl.clone()))
                .await
                .map_err(RunError::Schema)?;
        }
        Ok(client)
    }

    /// Runs `statement` on a connection from `pool`, all within `timeout`.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        pool: &Pool,
        timeout: Duration,
        statement: F,
    ) -> Result<T, RunError>
    where
        F: FnOnce(Object) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let attempt = async {
            let client = self.connection(pool).await?;
            statement(client).await.map_err(RunError::Statement)
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| RunError::TimedOut)?
    }

    /// Whether the table can be read through `pool` within `timeout`
    /// (created first, if this schema creates it): the start-up check of
    /// the stores and the inbox.
    pub(crate) async fn check(&self, pool: &Pool, timeout: Duration) -> Result<(), RunError> {
        let probe = format!("SELECT 1 FROM {} LIMIT 0", self.table);
        self.run(pool, timeout, |client| async move {
            client.simple_query(&probe).await.map(drop)
        })
        .await
    }
}
