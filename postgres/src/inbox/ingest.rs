//! Ingest's group commit ([`GroupCommit`]): deliveries that arrive while
//! a write is in flight are stored together, in one multi-row `INSERT`
//! and one commit, each acknowledged only after it. Measured
//! with 64 connections on 2 cores: one `INSERT` each peaked at ~5,700
//! deliveries/s with a p99 of 22 ms (BENCHMARKS.md has the numbers after).

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::db::NewRow;
use super::group_commit::{Flush, GroupCommit};
use super::job::StoredDelivery;
use super::{InboxError, Shared, Stored};

/// Most deliveries in one `INSERT`.
const MAX_BATCH: usize = 256;

/// Most `INSERT`s in flight at once: while they run, new deliveries queue
/// up for the next one. Two keep one batch filling while the other
/// commits; measured with load from a second process (`wrk`, 64
/// connections, PostgreSQL on the same 2 cores), two gave the lowest
/// p99: 7–8 ms against 21–35 ms with four and 27–49 ms with one, whose
/// every batch waits out the previous one's WAL flush (BENCHMARKS.md).
const IN_FLIGHT: usize = 2;

/// One delivery waiting to be stored, and where its answer goes.
pub(super) struct Pending {
    pub(super) key: String,
    pub(super) row: StoredDelivery,
    pub(super) body: Bytes,
    pub(super) reply: oneshot::Sender<Result<Stored, InboxError>>,
}

/// The group commit of ingest, for [`Shared`].
pub(super) fn batcher() -> GroupCommit<Pending> {
    GroupCommit::new(MAX_BATCH, IN_FLIGHT)
}

impl Flush for Shared {
    type Item = Pending;

    async fn flush(self: Arc<Self>, batch: Vec<Pending>) {
        store(&self, batch).await;
    }
}

/// Stores one batch and answers each delivery in it.
async fn store(shared: &Arc<Shared>, mut batch: Vec<Pending>) {
    // Rows in key order: two batches holding copies of the same deliveries
    // then wait for each other's keys in one order, never in a cycle
    // (which PostgreSQL breaks after `deadlock_timeout` by failing one).
    batch.sort_by(|a, b| a.key.cmp(&b.key));
    let rows: Vec<NewRow<'_>> = batch
        .iter()
        .map(|p| NewRow {
            key: &p.key,
            row: &p.row,
            body: &p.body,
        })
        .collect();
    let stored = shared.db.insert(&rows).await;
    drop(rows);
    match stored {
        Ok(inserted) => {
            // Of copies of one delivery in one batch, the first is the new one.
            let mut keys: HashSet<String> = inserted.keys.into_iter().collect();
            let any_new = !keys.is_empty();
            crate::metrics::late_webhooks(inserted.late_completions);
            for pending in batch {
                let stored = if keys.remove(&pending.key) {
                    if pending.row.keys.as_ref().is_some_and(|k| k.ends) {
                        crate::metrics::completion_stored("webhook");
                    }
                    Stored::New
                } else {
                    Stored::Duplicate
                };
                let _ = pending.reply.send(Ok(stored));
            }
            if any_new {
                shared.wake_workers();
            }
        }
        Err(err) => {
            for pending in batch {
                let _ = pending.reply.send(Err(err.clone()));
            }
        }
    }
}
