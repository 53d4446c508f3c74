//! `/metrics`: every metric the process records (the bridge's messages and
//! publish latency, the receiver's deliveries and verification time, the
//! inbox's jobs) in Prometheus' text format, and in outbox mode each
//! route's inbox depth.

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

#[cfg(feature = "inbox")]
/// The inbox's jobs by `route` and `state` (`pending`, `running`, `done`,
/// `dead`), read every 10 seconds.
pub const INBOX_JOBS: &str = "gemini_webhooks_bridge_inbox_jobs";

/// The installed recorder's handle. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the process's recorder; `None` if one is installed
    /// already.
    pub fn install() -> Option<Self> {
        let handle = PrometheusBuilder::new().install_recorder().ok()?;
        let upkeep = handle.clone();
        // Histograms drain into their summaries only on upkeep.
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        Some(Self { handle })
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Reads `inbox`'s counts into [`INBOX_JOBS`] every 10 seconds until
    /// `stopped`.
    #[cfg(feature = "inbox")]
    pub fn watch_inbox(
        &self,
        route: String,
        inbox: gemini_webhooks_postgres::inbox::Inbox,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => return,
                    _ = tick.tick() => {}
                }
                // Unread while the database is away: the gauges keep their
                // last values, and /readyz says why.
                let Ok(counts) = inbox.counts().await else {
                    continue;
                };
                for (state, jobs) in [
                    ("pending", counts.pending),
                    ("running", counts.running),
                    ("done", counts.done),
                    ("dead", counts.dead),
                ] {
                    metrics::gauge!(INBOX_JOBS, "route" => route.clone(), "state" => state)
                        .set(jobs as f64);
                }
            }
        });
    }
}
