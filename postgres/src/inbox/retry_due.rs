//! [`RetryDue`]: when the retries a worker scheduled fall due, so it wakes
//! for them instead of at its next poll (a 200 ms backoff under a 1 s poll
//! interval would otherwise run retries a second apart).

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

/// The due times of the retries a worker scheduled that no claim has
/// covered yet.
#[derive(Debug, Default)]
pub(super) struct RetryDue(std::sync::Mutex<BTreeSet<Instant>>);

impl RetryDue {
    /// Notes a retry due at `due` (on this clock, no earlier than the
    /// server's `run_at` for it).
    pub(super) fn schedule(&self, due: Instant) {
        self.lock().insert(due);
    }

    /// When a worker polling every `poll_interval` should wake next, after
    /// a claim that started at `claimed_at` (`None`: none ran, or it
    /// failed): at its next poll, or at the earliest retry still to come if
    /// that is sooner. Retries due by `claimed_at` were that claim's to
    /// take, and are forgotten; later ones are kept until a claim after
    /// them (a wake for something else in between loses none).
    pub(super) fn next_wake(
        &self,
        claimed_at: Option<Instant>,
        now: Instant,
        poll_interval: Duration,
    ) -> Instant {
        let mut due = self.lock();
        if let Some(claimed_at) = claimed_at {
            // Everything after `claimed_at` stays.
            let later = due.split_off(&(claimed_at + Duration::from_nanos(1)));
            *due = later;
        }
        let poll_at = now + poll_interval;
        due.first().map_or(poll_at, |&first| first.min(poll_at))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<Instant>> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_worker_wakes_for_each_retry_until_a_claim_covers_it() {
        let due = RetryDue::default();
        let now = Instant::now();
        let at = |ms: u64| now + Duration::from_millis(ms);
        let poll = Duration::from_secs(1);
        assert_eq!(
            due.next_wake(Some(now), now, poll),
            at(1_000),
            "nothing scheduled"
        );
        due.schedule(at(300));
        due.schedule(at(200));
        due.schedule(at(250));
        assert_eq!(due.next_wake(Some(now), now, poll), at(200), "the earliest");
        // A wake for something else before it: still kept.
        assert_eq!(due.next_wake(Some(at(50)), at(60), poll), at(200));
        // The claim at 200 covers the retry due then, not the later ones.
        assert_eq!(due.next_wake(Some(at(200)), at(210), poll), at(250));
        assert_eq!(due.next_wake(Some(at(260)), at(270), poll), at(300));
        assert_eq!(
            due.next_wake(Some(at(300)), at(310), poll),
            at(1_310),
            "all covered"
        );
        // Later than the next poll: the poll first, the retry kept.
        due.schedule(at(5_000));
        assert_eq!(due.next_wake(Some(at(400)), at(400), poll), at(1_400));
        assert_eq!(due.next_wake(Some(at(4_500)), at(4_500), poll), at(5_000));
        // Due between the claim and now: not covered, so wake at once.
        due.schedule(at(5_100));
        assert_eq!(due.next_wake(Some(at(5_050)), at(5_200), poll), at(5_100));
        assert_eq!(due.next_wake(Some(at(5_100)), at(5_200), poll), at(6_200));
        assert!(due.lock().is_empty());
        // No claim ran (every slot busy, or it failed): nothing forgotten.
        due.schedule(at(7_000));
        assert_eq!(due.next_wake(None, at(8_000), poll), at(7_000));
        assert_eq!(due.next_wake(None, at(8_000), poll), at(7_000));
    }
}
