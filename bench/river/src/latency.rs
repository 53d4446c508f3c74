//! Enqueue→start latencies, recorded by the handlers as they start.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

/// What the handlers record: how many started, and each one's wait.
#[derive(Default)]
pub struct Recorder {
    started: Mutex<Vec<Duration>>,
    /// Woken when `expected` jobs have started.
    all_started: Notify,
    expected: Mutex<u64>,
}

impl Recorder {
    /// Forgets what was recorded; `expected` starts are waited for next.
    pub fn reset(&self, expected: u64) {
        self.started.lock().unwrap().clear();
        *self.expected.lock().unwrap() = expected;
    }

    /// A job enqueued at `enqueued` (the database's clock) starts now.
    pub fn start(&self, enqueued: SystemTime) {
        let waited = SystemTime::now()
            .duration_since(enqueued)
            .unwrap_or_default();
        let mut started = self.started.lock().unwrap();
        started.push(waited);
        if started.len() as u64 == *self.expected.lock().unwrap() {
            self.all_started.notify_one();
        }
    }

    /// Waits until every expected job has started.
    pub async fn wait(&self) {
        self.all_started.notified().await;
    }

    pub fn take(&self) -> Vec<Duration> {
        std::mem::take(&mut self.started.lock().unwrap())
    }
}

/// p50 and p99 of `latencies`.
pub fn percentiles(latencies: &[Duration]) -> (Duration, Duration) {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let at = |p: usize| sorted[(sorted.len() * p / 100).min(sorted.len() - 1)];
    (at(50), at(99))
}
