//! A worker's holds on its running jobs: each job's lease, renewed while
//! its handler runs, and the watch that cancels the handler once the hold
//! may be gone, before another worker can claim the job.
//!
//! A job is claimable by another worker only when its row is unlocked (the
//! job's transaction ended, or PostgreSQL dropped its connection) **and**
//! its lease has lapsed by the database's clock. A worker therefore stops
//! its handler when the job's connection closes, when a renewal finds the
//! lease no longer its own, or when no renewal has got through for a
//! deadline that ends a third of a lease before the lease could lapse:
//! the deadline counts from when the renewal was *sent*, so the database's
//! `run_at` is always later than it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Why a job's hold is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lost {
    /// The job's connection closed: its transaction is gone with it.
    Connection,
    /// A renewal found the lease changed or the job no longer pending.
    TakenOver,
    /// No renewal got through in time; the lease may lapse soon.
    NotRenewed,
}

impl Lost {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Self::Connection => "the job's database connection closed",
            Self::TakenOver => "the job's lease was taken over",
            Self::NotRenewed => "the job's lease could not be renewed in time",
        }
    }
}

/// One job's hold.
pub(super) struct Hold {
    pub(super) key: String,
    pub(super) lease: String,
    deadline: Mutex<Instant>,
    taken_over: AtomicBool,
}

impl Hold {
    fn deadline(&self) -> Instant {
        *self
            .deadline
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn extend(&self, deadline: Instant) {
        let mut current = self
            .deadline
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = (*current).max(deadline);
    }

    /// Resolves once the hold is lost; `closed` tells whether the job's
    /// connection has closed. Checked every `every`, and at the deadline.
    pub(super) async fn lost(&self, every: Duration, closed: impl Fn() -> bool) -> Lost {
        loop {
            let deadline = self.deadline();
            if self.taken_over.load(Ordering::Acquire) {
                return Lost::TakenOver;
            }
            if closed() {
                return Lost::Connection;
            }
            let now = Instant::now();
            if now >= deadline {
                return Lost::NotRenewed;
            }
            tokio::time::sleep_until(deadline.min(now + every)).await;
        }
    }
}

/// The holds of one worker's running jobs, and the lease timings.
pub(super) struct Holds {
    held: Mutex<HashMap<String, Arc<Hold>>>,
    /// How long a renewal keeps a job (the database's `run_at`).
    pub(super) lease: Duration,
}

impl Holds {
    pub(super) fn new(lease: Duration) -> Self {
        Self {
            held: Mutex::default(),
            lease,
        }
    }

    /// How often leases are renewed: three times per lease.
    pub(super) fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// The deadline for a lease set or renewed by a statement sent at
    /// `sent`: a third of a lease before it could lapse.
    fn deadline_from(&self, sent: Instant) -> Instant {
        sent + self.lease - self.renew_every()
    }

    /// Registers the hold of a job claimed by a statement sent at `sent`.
    pub(super) fn insert(&self, key: String, lease: String, sent: Instant) -> Arc<Hold> {
        let hold = Arc::new(Hold {
            key: key.clone(),
            lease,
            deadline: Mutex::new(self.deadline_from(sent)),
            taken_over: AtomicBool::new(false),
        });
        self.lock().insert(key, Arc::clone(&hold));
        hold
    }

    /// Forgets a job's hold (it ended), if it is still this one.
    pub(super) fn remove(&self, hold: &Arc<Hold>) {
        let mut held = self.lock();
        if held.get(&hold.key).is_some_and(|h| Arc::ptr_eq(h, hold)) {
            held.remove(&hold.key);
        }
    }

    /// The jobs to renew: their keys and leases, in two columns.
    pub(super) fn snapshot(&self) -> (Vec<Arc<Hold>>, Vec<String>, Vec<String>) {
        let holds: Vec<Arc<Hold>> = self.lock().values().cloned().collect();
        let keys = holds.iter().map(|h| h.key.clone()).collect();
        let leases = holds.iter().map(|h| h.lease.clone()).collect();
        (holds, keys, leases)
    }

    /// Applies a renewal sent at `sent` of `holds`, which found the rows
    /// whose keys are in `renewed`; the others are no longer this worker's.
    pub(super) fn renewed(&self, holds: &[Arc<Hold>], renewed: &[String], sent: Instant) {
        let deadline = self.deadline_from(sent);
        for hold in holds {
            if renewed.iter().any(|key| *key == hold.key) {
                hold.extend(deadline);
            } else {
                hold.taken_over.store(true, Ordering::Release);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Hold>>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_hold_not_renewed_is_lost_a_third_of_a_lease_before_it_lapses() {
        let holds = Holds::new(Duration::from_secs(15));
        let sent = Instant::now();
        let hold = holds.insert("k".into(), "l".into(), sent);
        let lost = hold.lost(Duration::from_secs(1), || false).await;
        assert_eq!(lost, Lost::NotRenewed);
        assert_eq!(Instant::now() - sent, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn renewals_push_the_deadline_out_and_a_missing_row_is_taken_over() {
        let holds = Holds::new(Duration::from_secs(3));
        let start = Instant::now();
        let kept = holds.insert("kept".into(), "l".into(), start);
        let taken = holds.insert("taken".into(), "l".into(), start);
        tokio::time::advance(Duration::from_secs(1)).await;
        let (snapshot, keys, leases) = holds.snapshot();
        assert_eq!(keys.len(), 2);
        assert_eq!(leases, ["l", "l"]);
        holds.renewed(&snapshot, &["kept".to_owned()], Instant::now());
        assert_eq!(
            taken.lost(Duration::from_secs(1), || false).await,
            Lost::TakenOver
        );
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
        // Renewed at 1 s: lost at 1 + 3 - 1 = 3 s, not at 2 s.
        assert_eq!(
            kept.lost(Duration::from_millis(100), || false).await,
            Lost::NotRenewed
        );
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
        // An older renewal answered late never shortens the deadline.
        holds.renewed(&snapshot, &["kept".to_owned()], start);
        assert_eq!(kept.deadline(), start + Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_connection_is_noticed_at_the_next_check() {
        let holds = Holds::new(Duration::from_secs(30));
        let start = Instant::now();
        let hold = holds.insert("k".into(), "l".into(), start);
        let closed = AtomicBool::new(false);
        let watch = hold.lost(Duration::from_secs(1), || closed.load(Ordering::Acquire));
        let close = async {
            tokio::time::sleep(Duration::from_millis(2_500)).await;
            closed.store(true, Ordering::Release);
            std::future::pending::<Lost>().await
        };
        let lost = tokio::select! { lost = watch => lost, never = close => never };
        assert_eq!(lost, Lost::Connection);
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
    }

    #[test]
    fn each_loss_says_why() {
        assert!(Lost::Connection.reason().contains("connection closed"));
        assert!(Lost::TakenOver.reason().contains("taken over"));
        assert!(Lost::NotRenewed.reason().contains("renewed in time"));
    }

    #[test]
    fn only_the_hold_registered_is_removed() {
        let holds = Holds::new(Duration::from_secs(3));
        let first = holds.insert("k".into(), "a".into(), Instant::now());
        let second = holds.insert("k".into(), "b".into(), Instant::now());
        holds.remove(&first);
        assert_eq!(holds.snapshot().2, ["b"]);
        holds.remove(&second);
        assert!(holds.snapshot().0.is_empty());
    }
}
