//! [`DoneMark`]: a job handled by a worker that completes in batches,
//! waiting for the statement that marks it done together with the others
//! that ended meanwhile (a [`GroupCommit`] of the worker's).

use std::collections::HashSet;
use std::sync::Arc;

use gemini_webhooks::ErrorChain;
use tokio::sync::oneshot;

use super::InboxError;
use super::attempt::{JobOutcome, WorkerContext};
use super::group_commit::{Flush, GroupCommit};
use super::hold::Hold;

/// Most marks in one statement.
const MAX_BATCH: usize = 512;

/// Most statements in flight at once: one batch fills while the other
/// commits, as ingest's do.
const IN_FLIGHT: usize = 2;

/// A handled job's key and lease, and where the answer goes: whether the
/// mark was written (`false`: the lease was no longer ours).
pub(super) struct DoneMark {
    key: String,
    lease: String,
    reply: oneshot::Sender<Result<bool, InboxError>>,
}

/// The group commit of a worker's done marks.
pub(super) fn completions() -> GroupCommit<DoneMark> {
    GroupCommit::new(MAX_BATCH, IN_FLIGHT)
}

impl<F: Send + Sync + 'static> Flush for WorkerContext<F> {
    type Item = DoneMark;

    async fn flush(self: Arc<Self>, batch: Vec<DoneMark>) {
        let keys: Vec<&str> = batch.iter().map(|mark| mark.key.as_str()).collect();
        let leases: Vec<&str> = batch.iter().map(|mark| mark.lease.as_str()).collect();
        let marked = self.db.complete_batch(&keys, &leases).await;
        drop((keys, leases));
        match marked {
            Ok(marked) => {
                let marked: HashSet<String> = marked.into_iter().collect();
                for mark in batch {
                    let held = marked.contains(&mark.key);
                    let _ = mark.reply.send(Ok(held));
                }
            }
            Err(err) => {
                for mark in batch {
                    let _ = mark.reply.send(Err(err.clone()));
                }
            }
        }
    }
}

impl<F: Send + Sync + 'static> WorkerContext<F> {
    /// Marks a handled job done with the next batch; the attempt's outcome
    /// once that batch is committed (the job stays held until then).
    pub(super) async fn mark_done(self: &Arc<Self>, hold: &Hold, attempt: u32) -> JobOutcome {
        let key = hold.key.as_str();
        let (reply, answer) = oneshot::channel();
        let mark = DoneMark {
            key: key.to_owned(),
            lease: hold.lease.clone(),
            reply,
        };
        self.completions.submit(self, mark);
        match answer.await {
            Ok(Ok(true)) => {
                tracing::debug!(key, attempt, outcome = "handled", "gemini webhook job done");
                JobOutcome::Handled
            }
            Ok(Ok(false)) => {
                tracing::warn!(
                    key,
                    attempt,
                    "gemini webhook job handled after its lease was taken over; its new holder runs it again"
                );
                JobOutcome::NotCommitted
            }
            Ok(Err(err)) => {
                tracing::warn!(key, error = %ErrorChain(&err), "gemini webhook job handled but not marked done; it runs again");
                JobOutcome::NotCommitted
            }
            // The batching task is gone with its runtime: the lease lapses.
            Err(_) => JobOutcome::NotCommitted,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use gemini_webhooks::Delivery;

    use crate::connection::plan_check;
    use crate::inbox::Inbox;

    /// Against the PostgreSQL at `DATABASE_URL`, or a throwaway one.
    #[tokio::test]
    async fn handled_jobs_are_marked_done_together_and_failed_ones_are_not() {
        let table = format!("done_marks_{}", std::process::id());
        let inbox = Inbox::builder(plan_check::test_database_url())
            .table(&table)
            .build()
            .unwrap();
        crate::inbox::db::contract::store_rows(&inbox, &["a", "b", "c", "fails"]).await;
        let ran = std::sync::Arc::new(AtomicUsize::new(0));
        let worker = {
            let ran = std::sync::Arc::clone(&ran);
            inbox
                .worker(move |delivery: Delivery| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    let fails = delivery.id() == "fails";
                    async move {
                        if fails {
                            Err("failing on purpose")
                        } else {
                            Ok(())
                        }
                    }
                })
                .concurrency(8)
                .complete_in_batches()
        };
        let batch = worker.run_once().await.unwrap();
        assert_eq!(
            (
                batch.claimed,
                batch.handled,
                batch.retried,
                batch.unfinished
            ),
            (4, 3, 1, 0)
        );
        let counts = inbox.counts().await.unwrap();
        assert_eq!((counts.done, counts.pending, counts.running), (3, 1, 0));
        assert_eq!(ran.load(Ordering::SeqCst), 4);
    }
}
