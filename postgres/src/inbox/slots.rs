//! [`Slots`]: the jobs a worker runs, each in a task of its own with the
//! hold on its job; how many more it can claim (per task, or, for a
//! worker that completes in batches, per running handler), the claim that
//! fills them, and the release of what is still held at shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

use super::FromJob;
use super::attempt::{JobOutcome, WorkerContext};
use super::failure_log::FailureLog;
use super::handler_slots::HandlerSlots;
use super::hold::Hold;
use super::worker::WorkerSettings;

/// The jobs a worker runs, and the hold of each, by task.
pub(super) struct Slots {
    pub(super) running: JoinSet<Option<JobOutcome>>,
    holds: HashMap<Id, Arc<Hold>>,
    /// The busy handlers, in a worker that completes in batches (whose
    /// jobs outlive their handlers until marked done).
    pub(super) handlers: Arc<HandlerSlots>,
    in_batches: bool,
    /// When the last claim was sent.
    last_claim: Option<Instant>,
    /// A claim put off until then, for more slots to free.
    pub(super) deferred: Option<Instant>,
}

impl Slots {
    pub(super) fn new(settings: &WorkerSettings) -> Self {
        Self {
            running: JoinSet::new(),
            holds: HashMap::new(),
            handlers: HandlerSlots::new(settings.concurrency),
            in_batches: settings.in_batches,
            last_claim: None,
            deferred: None,
        }
    }

    /// The slots free for new jobs: in a transaction per job, those no
    /// job's task holds; completing in batches, those no handler holds,
    /// with at most `concurrency` more jobs waiting for their done marks.
    fn free(&self) -> usize {
        let (unfinished, concurrency) = (self.running.len(), self.handlers.concurrency());
        if self.in_batches {
            let marking = (2 * concurrency).saturating_sub(unfinished);
            self.handlers.free().min(marking)
        } else {
            concurrency.saturating_sub(unfinished)
        }
    }

    /// Claims jobs for the free slots and starts them; when the claim was
    /// sent, if it got an answer (every job due by then is covered).
    pub(super) async fn fill<F, T, Fut, E>(
        &mut self,
        context: &Arc<WorkerContext<F>>,
        claims: &FailureLog,
    ) -> Option<Instant>
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        T: FromJob,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    {
        let free = self.free();
        self.deferred = None;
        if free == 0 {
            return None;
        }
        let claimed_at = Instant::now();
        if self.in_batches {
            self.deferred = self.handlers.claim_at(free, self.last_claim, claimed_at);
            if self.deferred.is_some() {
                return None;
            }
        }
        self.last_claim = Some(claimed_at);
        match context.claim(free).await {
            Ok(claimed) => {
                claims.succeeded();
                for mut job in claimed {
                    if self.in_batches {
                        job.slot = Some(self.handlers.take());
                    }
                    let hold = Arc::clone(&job.hold);
                    let task = self.running.spawn(Arc::clone(context).run(job));
                    self.holds.insert(task.id(), hold);
                }
                Some(claimed_at)
            }
            Err(err) => {
                claims.failed(&err);
                None
            }
        }
    }

    /// Forgets the job of task `id`, and of every other task finished by
    /// now, so one claim refills all the free slots.
    pub(super) fn finished(&mut self, id: Id) {
        self.holds.remove(&id);
        while let Some(finished) = self.running.try_join_next_with_id() {
            self.holds.remove(&task_id(&finished));
        }
    }

    /// Waits up to the shutdown grace for running jobs, then cancels the
    /// others and releases their jobs.
    pub(super) async fn shut_down<F>(mut self, context: &WorkerContext<F>) {
        let drain = async {
            while let Some(finished) = self.running.join_next_with_id().await {
                self.holds.remove(&task_id(&finished));
            }
        };
        let _ = tokio::time::timeout(context.settings.shutdown_grace, drain).await;
        self.running.abort_all();
        while let Some(finished) = self.running.join_next_with_id().await {
            // A task aborted before it ended still holds its job.
            if finished.is_ok() {
                self.holds.remove(&task_id(&finished));
            }
        }
        for hold in self.holds.into_values() {
            context.release(&hold).await;
            context.holds.remove(&hold);
        }
    }
}

/// The task a finished job ran in.
pub(super) fn task_id<T>(finished: &Result<(Id, T), tokio::task::JoinError>) -> Id {
    finished.as_ref().map_or_else(|err| err.id(), |(id, _)| *id)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings(concurrency: usize, in_batches: bool) -> WorkerSettings {
        WorkerSettings {
            concurrency,
            max_attempts: 1,
            lease: Duration::from_secs(1),
            job_timeout: Duration::from_secs(1),
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::ZERO,
            in_batches,
        }
    }

    #[tokio::test]
    async fn slots_free_with_their_tasks_or_in_batches_with_their_handlers() {
        let mut own = Slots::new(&settings(4, false));
        for _ in 0..3 {
            own.running.spawn(std::future::pending());
        }
        assert_eq!(own.free(), 1, "a task per job until it ends");
        let mut batches = Slots::new(&settings(4, true));
        assert_eq!(batches.free(), 4);
        let handlers: Vec<_> = (0..3).map(|_| batches.handlers.take()).collect();
        for _ in 0..6 {
            batches.running.spawn(std::future::pending());
        }
        assert_eq!(batches.free(), 1, "three handlers run");
        drop(handlers);
        assert_eq!(batches.free(), 2, "six jobs wait for marks: two more");
        for _ in 0..2 {
            batches.running.spawn(std::future::pending());
        }
        assert_eq!(batches.free(), 0, "as many waiting for marks as slots");
    }
}
