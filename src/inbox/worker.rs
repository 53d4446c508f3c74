//! [`InboxWorker`]: its settings, and the loop that claims due jobs, keeps
//! their leases renewed, and shuts down gracefully. One attempt at a job is
//! in [`attempt`](super::attempt).

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::attempt::{WorkerContext, WorkerSettings};
use super::bookkeeping::Bookkeeping;
use super::failure_log::FailureLog;
use super::hold::Holds;
use super::retry_due::RetryDue;
use super::sql::JobSql;
use super::{FromJob, Inbox, Shared};

/// How often a worker deletes old done rows.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// How long a worker waits before it reconnects its `LISTEN` connection.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Runs a handler for every delivery stored in an [`Inbox`]; built by
/// [`Inbox::worker`], started with [`run`](Self::run) or
/// [`run_until`](Self::run_until).
///
/// Any number of workers, in any number of processes, can share one inbox:
/// each claims due jobs with `FOR UPDATE SKIP LOCKED` and a lease it renews
/// while the handler runs, so no job runs twice at once. A handler is
/// cancelled (its future dropped) when its job's database connection
/// closes, when its lease cannot be renewed in time, or when it outlives
/// the [`job_timeout`](Self::job_timeout): before any other worker can
/// claim the job. Each worker opens its own connections (`concurrency` + 3,
/// 7 by default: the jobs' transactions, two for claims, renewals and
/// failures, and one `LISTEN`ing for new deliveries), so slow handlers never
/// hold up ingest. With ingest's two, a process takes 9: ten replicas fit
/// PostgreSQL's default `max_connections` of 100.
#[must_use]
pub struct InboxWorker<F, T> {
    inbox: Inbox,
    handler: Arc<F>,
    settings: WorkerSettings,
    input: PhantomData<fn(T)>,
}

impl<F, T, Fut, E> InboxWorker<F, T>
where
    F: Fn(T) -> Fut + Send + Sync + 'static,
    T: FromJob,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    pub(super) fn new(inbox: Inbox, handler: F) -> Self {
        Self {
            inbox,
            handler: Arc::new(handler),
            settings: WorkerSettings {
                concurrency: 4,
                max_attempts: 10,
                lease: Duration::from_secs(15),
                job_timeout: Duration::from_secs(600),
                backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(3600),
                poll_interval: Duration::from_secs(1),
                shutdown_grace: Duration::from_secs(30),
            },
            input: PhantomData,
        }
    }

    /// How many jobs run at once (default 4), each on a connection of its
    /// own: raise it for slow handlers, within your connection budget.
    pub fn concurrency(mut self, jobs: usize) -> Self {
        self.settings.concurrency = jobs.max(1);
        self
    }

    /// How many attempts a job gets before it becomes a dead letter
    /// (default 10). An attempt counts when its handler starts; attempts
    /// whose worker died count too. A job that already used up this many
    /// attempts (under a higher setting) becomes a dead letter when next
    /// claimed, never a stranded pending row.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.settings.max_attempts = attempts.max(1);
        self
    }

    /// How long a claim holds a job without being renewed (default 15 s).
    /// The worker renews it every third of the lease while
    /// the handler runs, and cancels the handler if no renewal got through
    /// for two thirds of it. So the job of a worker that died (a `SIGKILL`,
    /// a lost host) runs again within one lease (plus a poll interval), and a
    /// handler of any length keeps its job while its worker is alive.
    /// Clamped to between 300 ms and a day.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.settings.lease = lease.clamp(Duration::from_millis(300), Duration::from_secs(86_400));
        self
    }

    /// How long one attempt's handler may run (default 10 minutes). A
    /// handler still running then is cancelled, and the attempt counts as
    /// failed (retried after the backoff, or a dead letter). The job's
    /// transaction is exempt from a lower `idle_in_transaction_session_timeout`
    /// of the server's: it is set to this timeout plus a minute.
    pub fn job_timeout(mut self, timeout: Duration) -> Self {
        self.settings.job_timeout = timeout;
        self
    }

    /// The pause after the first failure (default 1 s), doubled after each
    /// further one, up to `max` (default 1 hour).
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.settings.backoff = first;
        self.settings.max_backoff = max;
        self
    }

    /// How often an idle worker looks for due jobs without being woken by a
    /// `NOTIFY` (default 1 s): another worker's retries falling due, a lost
    /// notification. The retries a worker schedules itself wake it when they
    /// fall due, however long the interval.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll_interval = interval;
        self
    }

    /// How long [`run_until`](Self::run_until) lets running jobs finish
    /// after the shutdown signal before releasing them (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.settings.shutdown_grace = grace;
        self
    }

    /// Runs until the task is dropped.
    pub async fn run(self) {
        self.run_until(std::future::pending()).await;
    }

    /// Runs until `shutdown` completes, then stops claiming, waits up to the
    /// [`shutdown_grace`](Self::shutdown_grace) for running jobs, and
    /// releases the others (rolled back, due again at once; an attempt
    /// whose handler started stays counted).
    ///
    /// Database outages are waited out: the worker tries again every poll
    /// interval, and logs an outage when it starts, once a minute while it
    /// lasts (with a count), and when it ends.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let shared = Arc::clone(&self.inbox.shared);
        let Some((jobs, bookkeeping)) = worker_pools(&shared, &self.settings) else {
            return;
        };
        let wake = Arc::new(Notify::new());
        // On the application's pool there is no connection of ours to keep
        // listening on: the poll finds new deliveries.
        let _listener = shared.own.as_ref().map(|own| {
            AbortOnDrop(tokio::spawn(listen(
                own.config.clone(),
                own.connector.clone(),
                shared.settings.channel.clone(),
                Arc::clone(&wake),
            )))
        });
        let context = Arc::new(WorkerContext {
            sql: JobSql::new(&shared.settings.table),
            shared,
            jobs,
            bookkeeping,
            holds: Holds::new(self.settings.lease),
            settings: self.settings,
            handler: self.handler,
            renewals: FailureLog::new("renewing leases"),
            retry_due: RetryDue::default(),
        });
        let claims = FailureLog::new("claiming jobs");
        let _renewer = AbortOnDrop(tokio::spawn({
            let context = Arc::clone(&context);
            async move {
                loop {
                    tokio::time::sleep(context.holds.renew_every()).await;
                    context.renew().await;
                }
            }
        }));
        let mut running = JoinSet::new();
        let mut holds = HashMap::new();
        let mut shutdown = pin!(shutdown);
        let mut maintained: Option<Instant> = None;
        loop {
            if maintained.is_none_or(|at| at.elapsed() >= MAINTENANCE_EVERY) {
                maintained = Some(Instant::now());
                context.maintain().await;
            }
            let free = context.settings.concurrency - running.len();
            let mut covered = None;
            if free > 0 {
                let claimed_at = Instant::now();
                match context.claim(free).await {
                    Ok(claimed) => {
                        covered = Some(claimed_at);
                        claims.succeeded();
                        for job in claimed {
                            let hold = Arc::clone(&job.hold);
                            let task = running.spawn(Arc::clone(&context).run(job));
                            holds.insert(task.id(), hold);
                        }
                    }
                    Err(err) => claims.failed(&err),
                }
            }
            // Retries no claim took stay due (every slot busy, a failed claim).
            let wake_at = context.retry_due.next_wake(
                covered,
                Instant::now(),
                context.settings.poll_interval,
            );
            let tick = pin!(tokio::time::sleep_until(wake_at));
            let notified = pin!(wake.notified());
            match next_wake(shutdown.as_mut(), &mut running, notified, tick).await {
                Wake::Shutdown => break,
                Wake::Finished(id) => {
                    holds.remove(&id);
                    // Collect every other finished job too, so one claim
                    // refills all the free slots.
                    while let Some(finished) = running.try_join_next_with_id() {
                        holds.remove(&finished.map_or_else(|err| err.id(), |(id, ())| id));
                    }
                }
                Wake::Notified | Wake::Tick => {}
            }
        }
        let drain = async {
            while let Some(finished) = running.join_next_with_id().await {
                holds.remove(&finished.map_or_else(|err| err.id(), |(id, ())| id));
            }
        };
        let _ = tokio::time::timeout(context.settings.shutdown_grace, drain).await;
        running.abort_all();
        while let Some(finished) = running.join_next_with_id().await {
            if let Ok((id, ())) = finished {
                holds.remove(&id);
            }
        }
        for hold in holds.into_values() {
            context.release(&hold).await;
            context.holds.remove(&hold);
        }
    }
}

/// The worker's two pools: the jobs' transactions (`concurrency`
/// connections, the server's own settings), and its bookkeeping (two).
///
/// Bookkeeping commits without waiting for the WAL flush: losing a claim,
/// a renewal or a failure in a database crash only makes its job run again
/// sooner, and a job's transaction, which does wait, flushes every earlier
/// commit with it. Its statements are cut off by the server a quarter of
/// the inbox timeout before the client gives up on them, so a statement
/// the worker abandons (a claim slowed by a lock) never takes effect later.
/// Both pools ask the server to probe idle connections every few seconds,
/// so a job's transaction cut off by the network is rolled back in
/// seconds, not hours.
fn worker_pools(shared: &Shared, settings: &WorkerSettings) -> Option<(Pool, Bookkeeping)> {
    let cutoff_ms = server_cutoff_ms(shared.settings.timeout);
    if shared.own.is_none() {
        // The application's pool, as it is: each bookkeeping statement sets
        // the cutoff for itself.
        let bookkeeping = Bookkeeping {
            pool: shared.pool.clone(),
            cutoff_ms: Some(cutoff_ms),
        };
        return Some((shared.pool.clone(), bookkeeping));
    }
    let bookkeeping = format!("-c synchronous_commit=off -c statement_timeout={cutoff_ms}");
    let pools = shared.own_pool(settings.concurrency, "").and_then(|jobs| {
        shared.own_pool(2, &bookkeeping).map(|pool| {
            let bookkeeping = Bookkeeping {
                pool,
                cutoff_ms: None,
            };
            (jobs, bookkeeping)
        })
    });
    match pools {
        Ok(pools) => Some(pools),
        Err(err) => {
            tracing::error!(error = %crate::error_chain::ErrorChain(&err), "gemini webhook inbox worker could not start");
            None
        }
    }
}

impl<F, T> fmt::Debug for InboxWorker<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxWorker")
            .field("inbox", &self.inbox)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What woke the worker's loop.
enum Wake {
    Shutdown,
    Finished(tokio::task::Id),
    Notified,
    Tick,
}

/// Waits for the first of: the shutdown signal, a job finishing, a
/// notification, the poll tick.
async fn next_wake(
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
    running: &mut JoinSet<()>,
    mut notified: Pin<&mut tokio::sync::futures::Notified<'_>>,
    mut tick: Pin<&mut tokio::time::Sleep>,
) -> Wake {
    poll_fn(|cx| {
        if shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Shutdown);
        }
        if let Poll::Ready(Some(finished)) = running.poll_join_next_with_id(cx) {
            let id = finished.map_or_else(|err| err.id(), |(id, ())| id);
            return Poll::Ready(Wake::Finished(id));
        }
        if notified.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Notified);
        }
        if tick.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Tick);
        }
        Poll::Pending
    })
    .await
}

/// Keeps the worker's `LISTEN` connection open, waking the worker on every
/// notification and after each (re)connect (to catch up on what it missed).
async fn listen(
    config: tokio_postgres::Config,
    connector: crate::postgres::Connector,
    channel: String,
    wake: Arc<Notify>,
) {
    loop {
        let notify = Arc::clone(&wake);
        let connected = tokio::time::timeout(
            Duration::from_secs(10),
            connector.connect_listening(&config, move || notify.notify_one()),
        )
        .await;
        if let Ok(Ok((client, driver))) = connected {
            let mut driver = AbortOnDrop(driver);
            if client
                .batch_execute(&super::sql::listen(&channel))
                .await
                .is_ok()
            {
                wake.notify_one();
                let _ = (&mut driver.0).await;
            }
            drop(client);
        }
        // Polling covers the gap; reconnecting sooner buys little.
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// Aborts a spawned task when dropped, so a worker's helpers end with it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The server's `statement_timeout` for the worker's bookkeeping: three
/// quarters of the inbox timeout (at least 1 ms), so the server gives up on
/// a statement before the client does.
fn server_cutoff_ms(timeout: Duration) -> u128 {
    (timeout.as_millis() * 3 / 4).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_gives_up_a_quarter_of_the_timeout_before_the_client() {
        assert_eq!(server_cutoff_ms(Duration::from_secs(1)), 750);
        assert_eq!(server_cutoff_ms(Duration::from_millis(400)), 300);
        assert_eq!(server_cutoff_ms(Duration::ZERO), 1);
    }

    #[test]
    fn the_lease_is_clamped_to_between_300_ms_and_a_day() {
        let inbox = Inbox::builder("postgres://h/db").build().unwrap();
        let worker = || inbox.worker(|_: super::super::Job| async { Ok::<_, String>(()) });
        assert_eq!(
            worker().lease(Duration::MAX).settings.lease,
            Duration::from_secs(86_400)
        );
        assert_eq!(
            worker().lease(Duration::ZERO).settings.lease,
            Duration::from_millis(300)
        );
        assert_eq!(
            worker().lease(Duration::from_secs(15)).settings.lease,
            Duration::from_secs(15)
        );
    }

    /// Against the PostgreSQL at `DATABASE_URL`, or a throwaway one.
    #[tokio::test]
    async fn statements_planned_on_a_small_table_still_find_rows_by_id() {
        use crate::postgres::plan_check;
        let client = plan_check::client().await;
        let table = format!("plan_check_inbox_{}", std::process::id());
        let sql = JobSql::new(&table);
        // Due jobs: a scan of the due index would read them all.
        let fill = |from: u32, to: u32| {
            format!(
                "INSERT INTO {table} (id, webhook_id, signed_at, verified_by, body, lease) \
                 SELECT 'k' || i, 'msg_' || i, 0, 'secret:0', convert_to(repeat('x', 1000), 'UTF8'), 'lease' \
                 FROM generate_series({from} + 1, {to}) AS i"
            )
        };
        let job = "'k1', 'lease'";
        let schema = crate::inbox::Inbox::schema_sql(&table);
        // Prepared once per connection: the plan kept may be the generic one.
        let scans = plan_check::table_scans_after_growth(
            &client,
            "force_generic_plan",
            &schema,
            &fill,
            &[
                (&sql.begin, job),
                (&sql.start, job),
                (&sql.complete, job),
                (&sql.release, job),
                (&sql.fail, "'k1', 'lease', 5, 1000, 'error'"),
            ],
        )
        .await;
        assert!(scans.is_empty(), "{scans:#?}");
        // Planned afresh on every run.
        for fresh in [
            (sql.claim.as_str(), "8, 'lease', 300000"),
            (
                sql.renew.as_str(),
                "ARRAY['k1', 'k2'], ARRAY['lease'], 1000",
            ),
        ] {
            let scans = plan_check::table_scans_when_grown(&client, &schema, &fill, fresh).await;
            assert!(scans.is_empty(), "{scans:#?}");
        }
    }
}
