//! Group commit: items that arrive while a write is in flight are written
//! together, in one statement and one commit, and each is answered only
//! after that commit. Ingest stores deliveries this way; a worker that
//! completes in batches marks its jobs done this way.
//!
//! Nothing is less durable than with one statement each; but a commit's
//! WAL flush and round trip are shared by every item in it.

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Semaphore, mpsc};

/// What writes a batch: the owner of a [`GroupCommit`].
pub(super) trait Flush: Send + Sync + 'static {
    /// One item waiting to be written, with where its answer goes.
    type Item: Send + 'static;

    /// Writes `batch` and answers each item in it.
    fn flush(self: Arc<Self>, batch: Vec<Self::Item>) -> impl Future<Output = ()> + Send;
}

/// The queue in front of the batching task, started on first use (and
/// again if the runtime it ran on has gone).
pub(super) struct GroupCommit<T> {
    queue: Mutex<Option<mpsc::UnboundedSender<T>>>,
    /// Most items in one write.
    max_batch: usize,
    /// Most writes in flight at once: while they run, new items queue up
    /// for the next one.
    in_flight: usize,
}

impl<T: Send + 'static> GroupCommit<T> {
    pub(super) const fn new(max_batch: usize, in_flight: usize) -> Self {
        Self {
            queue: Mutex::new(None),
            max_batch,
            in_flight,
        }
    }

    /// Queues `item` for the next write of `owner`.
    pub(super) fn submit<S: Flush<Item = T>>(&self, owner: &Arc<S>, item: T) {
        let mut queue = self.queue.lock().unwrap_or_else(|err| err.into_inner());
        let item = match queue.as_ref() {
            Some(sender) => match sender.send(item) {
                Ok(()) => return,
                Err(mpsc::error::SendError(item)) => item,
            },
            None => item,
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        // A fresh channel always takes the message: its receiver is alive.
        let _ = sender.send(item);
        // A weak reference: the task ends when the owner is dropped.
        let limits = (self.max_batch.max(1), self.in_flight.max(1));
        tokio::spawn(run(Arc::downgrade(owner), receiver, limits));
        *queue = Some(sender);
    }
}

/// Takes what is queued, up to `max_batch`, whenever one of the
/// `in_flight` slots is free, and has the owner write it.
async fn run<S: Flush>(
    owner: Weak<S>,
    mut queue: mpsc::UnboundedReceiver<S::Item>,
    (max_batch, in_flight): (usize, usize),
) {
    let slots = Arc::new(Semaphore::new(in_flight));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let Some(owner) = owner.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            owner.flush(batch).await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::{Notify, oneshot};

    /// Records each batch; the first write waits until released.
    struct Recorder {
        batches: Mutex<Vec<Vec<u32>>>,
        release: Notify,
    }

    impl Flush for Recorder {
        type Item = (u32, oneshot::Sender<()>);

        async fn flush(self: Arc<Self>, batch: Vec<Self::Item>) {
            let first = {
                let mut batches = self.batches.lock().unwrap();
                batches.push(batch.iter().map(|(n, _)| *n).collect());
                batches.len() == 1
            };
            if first {
                self.release.notified().await;
            }
            for (_, reply) in batch {
                let _ = reply.send(());
            }
        }
    }

    #[tokio::test]
    async fn items_queued_behind_a_write_go_together_up_to_the_limit() {
        let owner = Arc::new(Recorder {
            batches: Mutex::new(Vec::new()),
            release: Notify::new(),
        });
        let group = GroupCommit::new(3, 1);
        let mut answers = Vec::new();
        for n in 0..6 {
            let (reply, answer) = oneshot::channel();
            group.submit(&owner, (n, reply));
            answers.push(answer);
            if n == 0 {
                // The first write is in flight (and held) before the rest.
                while owner.batches.lock().unwrap().is_empty() {
                    tokio::task::yield_now().await;
                }
            }
        }
        owner.release.notify_one();
        for answer in answers {
            answer.await.expect("every item is answered");
        }
        assert_eq!(
            *owner.batches.lock().unwrap(),
            [vec![0], vec![1, 2, 3], vec![4, 5]]
        );
    }
}
