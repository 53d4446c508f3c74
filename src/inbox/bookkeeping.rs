//! [`Bookkeeping`]: where a worker runs its short statements (claims,
//! renewals, attempt counts, failures, releases) so that the server
//! abandons each one when the client would.

use deadpool_postgres::Pool;
use futures_util::future::try_join;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{InboxError, Shared};

/// The bookkeeping connections, and how their statements get the server's
/// cutoff.
pub(super) struct Bookkeeping {
    pub(super) pool: Pool,
    /// `None`: the connections are the worker's own and their session sets
    /// the cutoff (`statement_timeout`, `synchronous_commit=off`). `Some`:
    /// they are the application's pool, whose sessions are not ours to
    /// change, so each statement runs in a transaction that sets them for
    /// itself (`SET LOCAL`).
    pub(super) cutoff_ms: Option<u128>,
}

/// How a statement is sent.
#[derive(Clone, Copy)]
pub(super) enum Plan {
    /// Prepared once per connection and kept.
    Cached,
    /// Planned afresh each time (for statements whose kept generic plan
    /// goes bad as the table grows).
    Fresh,
}

impl Shared {
    /// Runs one bookkeeping statement within the inbox's timeout; its rows.
    pub(super) async fn bookkeep(
        &self,
        bookkeeping: &Bookkeeping,
        what: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        plan: Plan,
    ) -> Result<Vec<Row>, InboxError> {
        let Some(cutoff_ms) = bookkeeping.cutoff_ms else {
            return self
                .run_on(&bookkeeping.pool, what, |client| async move {
                    match plan {
                        Plan::Cached => {
                            let statement = client.prepare_cached(sql).await?;
                            client.query(&statement, params).await
                        }
                        Plan::Fresh => client.query(sql, params).await,
                    }
                })
                .await;
        };
        let set_local = format!(
            "SET LOCAL statement_timeout = {cutoff_ms}; SET LOCAL synchronous_commit = off"
        );
        self.run_on(&bookkeeping.pool, what, |mut client| async move {
            // Dropped before its commit (the client timed out), the
            // transaction queues its ROLLBACK ahead of the connection's next
            // use: the application never gets it back mid-transaction.
            let transaction = client.transaction().await?;
            let statement = async {
                match plan {
                    Plan::Cached => {
                        let statement = transaction.prepare_cached(sql).await?;
                        transaction.query(&statement, params).await
                    }
                    Plan::Fresh => transaction.query(sql, params).await,
                }
            };
            let (_, rows) = try_join(transaction.batch_execute(&set_local), statement).await?;
            transaction.commit().await?;
            Ok(rows)
        })
        .await
    }
}
