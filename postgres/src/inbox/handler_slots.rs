//! [`HandlerSlots`]: the handlers a worker that completes in batches runs
//! at once. A slot frees when its handler returns, before the job's done
//! mark is written, so the worker claims the next jobs while the last ones'
//! marks commit (the claim and the marks overlap instead of taking turns);
//! and it claims for many free slots at once rather than for each one as
//! it frees, so a statement's cost is shared by many jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::time::Instant;

/// How long a worker with handlers still running waits, after a claim,
/// before it claims for fewer than half its slots: the slots freeing
/// meanwhile go into the same claim.
pub(super) const CLAIM_COOLDOWN: Duration = Duration::from_millis(2);

/// The busy handler slots of one worker, and a wake-up when one frees.
#[derive(Debug)]
pub(super) struct HandlerSlots {
    concurrency: usize,
    busy: AtomicUsize,
    freed: Notify,
}

/// One busy slot: freed when dropped.
#[derive(Debug)]
pub(super) struct Slot(Arc<HandlerSlots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
        self.0.freed.notify_one();
    }
}

impl HandlerSlots {
    pub(super) fn new(concurrency: usize) -> Arc<Self> {
        Arc::new(Self {
            concurrency,
            busy: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    /// Takes a slot for a claimed job's handler.
    pub(super) fn take(self: &Arc<Self>) -> Slot {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Slot(Arc::clone(self))
    }

    /// Slots in all.
    pub(super) fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Handlers running now.
    pub(super) fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    /// Slots free now.
    pub(super) fn free(&self) -> usize {
        self.concurrency.saturating_sub(self.busy())
    }

    /// Completes when a slot has freed since the last wake-up.
    pub(super) fn freed(&self) -> Notified<'_> {
        self.freed.notified()
    }

    /// When to claim for `free` slots (`None`: now), the last claim having
    /// been sent at `last_claim`: at once for half the slots or more, or
    /// when no handler runs (nothing else will free), else once the
    /// [`CLAIM_COOLDOWN`] after the last claim has passed.
    pub(super) fn claim_at(
        &self,
        free: usize,
        last_claim: Option<Instant>,
        now: Instant,
    ) -> Option<Instant> {
        if free * 2 >= self.concurrency || self.busy() == 0 {
            return None;
        }
        let at = last_claim? + CLAIM_COOLDOWN;
        (at > now).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn few_free_slots_wait_for_the_cooldown_while_handlers_run() {
        let slots = HandlerSlots::new(8);
        let now = Instant::now();
        assert_eq!(slots.claim_at(1, Some(now), now), None, "no handler runs");
        let taken: Vec<Slot> = (0..7).map(|_| slots.take()).collect();
        assert_eq!((slots.busy(), slots.free()), (7, 1));
        let cooled = now + CLAIM_COOLDOWN;
        assert_eq!(slots.claim_at(1, Some(now), now), Some(cooled));
        assert_eq!(slots.claim_at(3, Some(now), now), Some(cooled));
        assert_eq!(slots.claim_at(4, Some(now), now), None, "half the slots");
        assert_eq!(slots.claim_at(1, Some(now), cooled), None, "cooled down");
        assert_eq!(slots.claim_at(1, None, now), None, "no claim yet");
        drop(taken);
        assert_eq!((slots.busy(), slots.free()), (0, 8));
    }

    #[tokio::test]
    async fn a_freed_slot_wakes_the_worker() {
        let slots = HandlerSlots::new(2);
        let slot = slots.take();
        let freed = slots.freed();
        drop(slot);
        tokio::time::timeout(Duration::from_secs(60), freed)
            .await
            .expect("woken");
        assert_eq!(slots.free(), 2);
    }
}
