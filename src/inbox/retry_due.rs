//! [`RetryDue`]: when the retries a worker scheduled fall due, so it wakes
//! for them instead of at its next poll (a 200 ms backoff under a 1 s poll
//! interval would otherwise run retries a second apart).

use std::time::Duration;

use tokio::time::Instant;

/// The earliest due time of the retries a worker scheduled and has not yet
/// woken for.
#[derive(Debug, Default)]
pub(super) struct RetryDue(std::sync::Mutex<Option<Instant>>);

impl RetryDue {
    /// Notes a retry due at `due`.
    pub(super) fn schedule(&self, due: Instant) {
        let mut earliest = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        *earliest = Some(earliest.map_or(due, |at| at.min(due)));
    }

    /// When a worker polling every `poll_interval` should wake next after
    /// `now`: at its next poll, or at the earliest due retry if that comes
    /// first (which is then forgotten: the claim at that wake takes it).
    pub(super) fn next_wake(&self, now: Instant, poll_interval: Duration) -> Instant {
        self.wake_at(now + poll_interval)
    }

    fn wake_at(&self, poll_at: Instant) -> Instant {
        let mut earliest = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        match *earliest {
            Some(due) if due <= poll_at => {
                *earliest = None;
                due
            }
            _ => poll_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_worker_wakes_for_the_earliest_retry_if_it_comes_before_the_poll() {
        let due = RetryDue::default();
        let now = Instant::now();
        let at = |ms: u64| now + Duration::from_millis(ms);
        assert_eq!(due.wake_at(at(1_000)), at(1_000), "nothing scheduled");
        due.schedule(at(300));
        due.schedule(at(200));
        due.schedule(at(250));
        assert_eq!(due.wake_at(at(1_000)), at(200), "the earliest");
        assert_eq!(
            due.wake_at(at(1_000)),
            at(1_000),
            "forgotten once woken for"
        );
        due.schedule(at(5_000));
        assert_eq!(due.wake_at(at(1_000)), at(1_000), "later than the poll");
        assert_eq!(due.wake_at(at(6_000)), at(5_000), "kept for a later wake");
        due.schedule(at(1_000));
        assert_eq!(due.wake_at(at(1_000)), at(1_000));
        assert!(due.0.lock().unwrap().is_none(), "due at the poll: taken");
        let poll = Duration::from_secs(1);
        assert_eq!(due.next_wake(now, poll), at(1_000), "the next poll");
        due.schedule(at(200));
        assert_eq!(due.next_wake(now, poll), at(200), "a retry first");
    }
}
