//! [`InboxWorker`]: its settings, and the loop that claims due jobs into
//! free slots, keeps their leases renewed, cleans up, and shuts down
//! gracefully. The jobs it runs are its [`Slots`]; one attempt at a job
//! is in [`attempt`](super::attempt), its statements behind the door
//! ([`WorkerDb`]).

use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::{Pin, pin};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

use super::attempt::{JobOutcome, WorkerContext};
use super::db::{InboxDb, WorkerDb};
use super::failure_log::FailureLog;
use super::hold::Holds;
use super::retry_due::RetryDue;
use super::slots::{Slots, task_id};
use super::{FromDelivery, FromJob, Inbox, InboxError};
use gemini_webhooks::ErrorChain;

/// How often a worker deletes old done rows.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// How long a worker waits before it reconnects its `LISTEN` connection.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// A worker's settings, as its builder left them.
#[derive(Debug, Clone)]
pub(super) struct WorkerSettings {
    pub(super) concurrency: usize,
    pub(super) max_attempts: u32,
    pub(super) lease: Duration,
    pub(super) job_timeout: Duration,
    pub(super) backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) poll_interval: Duration,
    pub(super) shutdown_grace: Duration,
    /// Done marks written in batches, outside any transaction.
    pub(super) in_batches: bool,
}

impl WorkerSettings {
    /// The pause after failed attempt `attempt` (1-based): `backoff`
    /// doubled per earlier attempt, at most `max_backoff`.
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        gemini_webhooks::__private::doubled(
            self.backoff,
            attempt.saturating_sub(1),
            self.max_backoff,
        )
    }

    /// How often a running job checks its connection and deadline.
    pub(super) fn watch_every(&self) -> Duration {
        (self.lease / 6).min(Duration::from_secs(1))
    }
}

/// What one [`InboxWorker::run_once`] did, job by job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Batch {
    /// Jobs claimed.
    pub claimed: usize,
    /// Handled and marked done, the handler's writes committed.
    pub handled: usize,
    /// Failed, due again after the backoff.
    pub retried: usize,
    /// Failed for good: dead letters.
    pub dead: usize,
    /// Claimed but not run to an outcome: taken over by another worker,
    /// the database gone mid-way, the commit lost (the job runs again).
    pub unfinished: usize,
}

impl Batch {
    fn count(&mut self, outcome: Option<JobOutcome>) {
        match outcome {
            Some(JobOutcome::Handled) => self.handled += 1,
            Some(JobOutcome::Retried) => self.retried += 1,
            Some(JobOutcome::Dead) => self.dead += 1,
            Some(JobOutcome::NotCommitted) | None => self.unfinished += 1,
        }
    }
}

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
    /// Made on first use, with the settings as they are then.
    context: OnceLock<Arc<WorkerContext<F>>>,
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
                in_batches: false,
            },
            context: OnceLock::new(),
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
        let context = match self.context() {
            Ok(context) => context,
            Err(err) => {
                tracing::error!(error = %ErrorChain(&err), "gemini webhook inbox worker could not start");
                return;
            }
        };
        let wake = Arc::new(Notify::new());
        let _helpers = [
            self.listener(&wake),
            Some(spawn_forever(Arc::clone(&context), renew_leases)),
            Some(spawn_forever(Arc::clone(&context), clean_up)),
        ];
        let claims = FailureLog::new("claiming jobs");
        let mut slots = Slots::new(&context.settings);
        let handlers = Arc::clone(&slots.handlers);
        let mut shutdown = pin!(shutdown);
        loop {
            let covered = slots.fill(&context, &claims).await;
            // Retries no claim took stay due (every slot busy, a failed claim).
            let wake_at = context.retry_due.next_wake(
                covered,
                Instant::now(),
                context.settings.poll_interval,
            );
            let wake_at = slots.deferred.map_or(wake_at, |at| at.min(wake_at));
            let tick = pin!(tokio::time::sleep_until(wake_at));
            let signals = Signals {
                notified: pin!(wake.notified()),
                freed: pin!(handlers.freed()),
                tick,
            };
            match next_wake(shutdown.as_mut(), &mut slots.running, signals).await {
                Wake::Shutdown => break,
                Wake::Finished(id) => slots.finished(id),
                Wake::Notified | Wake::Freed | Wake::Tick => {}
            }
        }
        slots.shut_down(&context).await;
    }

    /// Claims what is due now (up to the [`concurrency`](Self::concurrency))
    /// and runs it to the end, its leases renewed meanwhile: one step of
    /// [`run`](Self::run), for tests and for a scheduler of your own. No
    /// cleanup, no waiting for new deliveries.
    ///
    /// ```no_run
    /// # async fn run(inbox: gemini_webhooks_postgres::inbox::Inbox) -> Result<(), Box<dyn std::error::Error>> {
    /// use gemini_webhooks::GeminiEvent;
    /// let worker = inbox.worker(|_: GeminiEvent| async { Ok::<_, std::io::Error>(()) });
    /// let batch = worker.run_once().await?;
    /// println!("{} handled, {} to retry", batch.handled, batch.retried);
    /// # Ok(()) }
    /// ```
    pub async fn run_once(&self) -> Result<Batch, InboxError> {
        let context = self
            .context()
            .map_err(|err| InboxError::database("start the worker", err))?;
        let jobs = context.claim(context.settings.concurrency).await?;
        let _renewer = spawn_forever(Arc::clone(&context), renew_leases);
        let mut batch = Batch {
            claimed: jobs.len(),
            ..Batch::default()
        };
        let mut running = JoinSet::new();
        for job in jobs {
            running.spawn(Arc::clone(&context).run(job));
        }
        while let Some(finished) = running.join_next().await {
            batch.count(finished.ok().flatten());
        }
        Ok(batch)
    }

    /// The jobs' shared context, made on first use.
    fn context(&self) -> Result<Arc<WorkerContext<F>>, gemini_webhooks::ConfigError> {
        if let Some(context) = self.context.get() {
            return Ok(Arc::clone(context));
        }
        let db = &self.inbox.shared.db;
        let context = Arc::new(WorkerContext {
            db: worker_db(db, &self.settings)?,
            holds: Holds::new(self.settings.lease),
            settings: self.settings.clone(),
            handler: Arc::clone(&self.handler),
            renewals: FailureLog::new("renewing leases"),
            retry_due: RetryDue::default(),
            completions: super::done_mark::completions(),
        });
        Ok(Arc::clone(self.context.get_or_init(|| context)))
    }

    /// The task that keeps a connection `LISTEN`ing for new deliveries;
    /// none on the application's pool (its connections are not ours to
    /// keep): the poll finds them.
    fn listener(&self, wake: &Arc<Notify>) -> Option<AbortOnDrop<()>> {
        let db = &self.inbox.shared.db;
        db.own.as_ref().map(|own| {
            AbortOnDrop(tokio::spawn(listen(
                own.config.clone(),
                own.connector.clone(),
                db.settings.channel.clone(),
                Arc::clone(wake),
            )))
        })
    }
}

/// Runs `step` with `context` over and over in a task of its own, until
/// the returned guard is dropped.
fn spawn_forever<F, Step, Fut>(context: Arc<WorkerContext<F>>, step: Step) -> AbortOnDrop<()>
where
    F: Send + Sync + 'static,
    Step: Fn(Arc<WorkerContext<F>>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    AbortOnDrop(tokio::spawn(async move {
        loop {
            step(Arc::clone(&context)).await;
        }
    }))
}

/// Renews the worker's leases every third of a lease.
async fn renew_leases<F>(context: Arc<WorkerContext<F>>) {
    tokio::time::sleep(context.holds.renew_every()).await;
    context.renew().await;
}

/// Deletes old done rows, then waits a minute.
async fn clean_up<F>(context: Arc<WorkerContext<F>>) {
    match context.db.cleanup().await {
        Ok(cleaned) => tracing::debug!(
            done = cleaned.done,
            tracked = cleaned.tracked,
            "deleted done jobs and tracked jobs past their horizon"
        ),
        Err(err) => {
            tracing::warn!(error = %ErrorChain(&err), "gemini webhook inbox cleanup failed")
        }
    }
    tokio::time::sleep(CLEANUP_EVERY).await;
}

/// The worker's statements, on its two pools: the jobs' transactions
/// (`concurrency` connections, the server's own settings), and its
/// bookkeeping (two).
///
/// Bookkeeping commits without waiting for the WAL flush: losing a claim,
/// a renewal or a failure in a database crash only makes its job run again
/// sooner, and a job's transaction, which does wait, flushes every earlier
/// commit with it. Its statements are cut off by the server a quarter of
/// the inbox timeout before the client gives up on them, so a statement
/// the worker abandons (a claim slowed by a lock) never takes effect later.
/// Bookkeeping plans without bitmap scans ([`NO_BITMAP_SCANS`](super::db::NO_BITMAP_SCANS)),
/// so a claim reads the due index in order even before the table has
/// statistics. Both pools ask the server to probe idle connections every few seconds,
/// so a job's transaction cut off by the network is rolled back in
/// seconds, not hours.
fn worker_db(
    db: &Arc<InboxDb>,
    settings: &WorkerSettings,
) -> Result<WorkerDb, gemini_webhooks::ConfigError> {
    let cutoff_ms = server_cutoff_ms(db.settings.timeout);
    if settings.in_batches && db.settings.in_job_order {
        return Err(gemini_webhooks::ConfigError::Conflict {
            setting: "complete_in_batches",
            other: "in_job_order",
            why: "a job's events are kept in order by its transaction, which a worker \
                  completing in batches does not open",
        });
    }
    if db.own.is_none() {
        // The application's pool, as it is: each bookkeeping statement sets
        // the cutoff for itself.
        let pool = db.pool.clone();
        return Ok(WorkerDb::new(
            Arc::clone(db),
            pool.clone(),
            pool,
            Some(cutoff_ms),
            settings.in_batches.then_some(settings.max_attempts),
        ));
    }
    let (planner, value) = super::db::NO_BITMAP_SCANS;
    let bookkeeping =
        format!("-c synchronous_commit=off -c statement_timeout={cutoff_ms} -c {planner}={value}");
    let jobs = db.own_pool(settings.concurrency, "")?;
    let bookkeeping = db.own_pool(bookkeeping_size(settings), &bookkeeping)?;
    Ok(WorkerDb::new(
        Arc::clone(db),
        jobs,
        bookkeeping,
        None,
        settings.in_batches.then_some(settings.max_attempts),
    ))
}

impl<F, T: FromDelivery> InboxWorker<F, T> {
    /// Marks jobs done in batches, outside any transaction, instead of in
    /// a transaction of each job's own: for a handler whose effects are
    /// not in this database, which takes [`Delivery`](gemini_webhooks::Delivery),
    /// [`GeminiEvent`](gemini_webhooks::GeminiEvent) or
    /// [`Verified<T>`](gemini_webhooks::Verified) (a [`Job`](super::Job),
    /// whose [`client`](super::Job::client) is inside that transaction,
    /// cannot be taken: it does not compile).
    ///
    /// The trade-off: the marks of handlers that end while one batch is
    /// being written go together in the next, one statement and one commit
    /// for all of them (and the claim counts the attempt), so a job costs
    /// a fraction of the three round trips and two commits it takes in its
    /// own transaction (BENCHMARKS.md: the inbox beside River). A handler
    /// succeeded but its mark not yet committed when the worker dies, or
    /// the database's last unflushed commits lost in a crash of the server
    /// (the marks are written as the worker's other bookkeeping is, without
    /// waiting for the WAL flush), runs again: at least once, as a handler
    /// with outside effects is anyway. A job stays held (its lease
    /// renewed) until its mark is committed, but its slot frees when its
    /// handler returns, so the next claim runs while the marks are
    /// written; at most [`concurrency`](Self::concurrency) handled jobs
    /// wait for their marks at once. A worker with handlers running
    /// claims for fewer than half its slots only 2 ms after its last
    /// claim, so one claim serves the slots that free meanwhile.
    /// No job holds a connection: the worker opens five (claims, renewals,
    /// failures and done marks on four, one `LISTEN`), whatever its
    /// [`concurrency`](Self::concurrency): for short handlers set it in
    /// the hundreds, so each claim and each mark serves many jobs (the
    /// benchmark runs 512; BENCHMARKS.md: the inbox beside River).
    ///
    /// ```no_run
    /// # async fn run(inbox: gemini_webhooks_postgres::inbox::Inbox) {
    /// use gemini_webhooks::GeminiEvent;
    ///
    /// let worker = inbox
    ///     .worker(|event: GeminiEvent| async move {
    ///         println!("{}", event.event_type()); // effects elsewhere, idempotent
    ///         Ok::<_, std::convert::Infallible>(())
    ///     })
    ///     .concurrency(32)
    ///     .complete_in_batches();
    /// worker.run().await;
    /// # }
    /// ```
    ///
    /// A handler that takes a [`Job`](super::Job) cannot:
    ///
    /// ```compile_fail
    /// # fn build(inbox: gemini_webhooks_postgres::inbox::Inbox) {
    /// use gemini_webhooks_postgres::inbox::Job;
    ///
    /// let worker = inbox
    ///     .worker(|job: Job| async move { Ok::<_, std::convert::Infallible>(()) })
    ///     .complete_in_batches();
    /// # }
    /// ```
    pub fn complete_in_batches(mut self) -> Self {
        self.settings.in_batches = true;
        self
    }
}

/// The bookkeeping pool's size: two (claims, renewals, failures; a job's
/// own statements are on its transaction's connection), four for a worker
/// that completes in batches, whose done marks share that pool (two in
/// flight) and which has no jobs' connections.
fn bookkeeping_size(settings: &WorkerSettings) -> usize {
    if settings.in_batches { 4 } else { 2 }
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
    Finished(Id),
    Notified,
    Freed,
    Tick,
}

/// What else wakes the loop: a new delivery's notification, a handler's
/// slot freed, the poll tick (or a put-off claim's time).
struct Signals<'a, N, S> {
    notified: Pin<&'a mut N>,
    freed: Pin<&'a mut N>,
    tick: Pin<&'a mut S>,
}

/// Waits for the first of: the shutdown signal, a job finishing, a
/// notification, a freed slot, the tick.
async fn next_wake<N: Future<Output = ()>, S: Future<Output = ()>>(
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
    running: &mut JoinSet<Option<JobOutcome>>,
    mut signals: Signals<'_, N, S>,
) -> Wake {
    poll_fn(|cx| {
        if shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Shutdown);
        }
        if let Poll::Ready(Some(finished)) = running.poll_join_next_with_id(cx) {
            return Poll::Ready(Wake::Finished(task_id(&finished)));
        }
        if signals.notified.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Notified);
        }
        if signals.freed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Freed);
        }
        if signals.tick.as_mut().poll(cx).is_ready() {
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
    connector: crate::connection::Connector,
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
    fn backoff_doubles_up_to_its_cap() {
        let settings = WorkerSettings {
            concurrency: 1,
            max_attempts: 10,
            lease: Duration::from_secs(1),
            job_timeout: Duration::from_secs(1),
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::ZERO,
            in_batches: false,
        };
        let pauses: Vec<u64> = (1..=6).map(|a| settings.backoff(a).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 10, 10]);
        assert_eq!(settings.backoff(0).as_secs(), 1);
        assert_eq!(settings.backoff(u32::MAX), Duration::from_secs(10));
        assert_eq!(settings.watch_every(), Duration::from_secs(1) / 6);
    }

    /// `run_until` claims into its slots until every stored job is done,
    /// in both modes, with fewer slots than jobs; then stops when told.
    /// Against the PostgreSQL at `DATABASE_URL`, or a throwaway one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_running_worker_works_every_stored_job_then_stops() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        for in_batches in [false, true] {
            let table = format!("run_loop_{in_batches}_{}", std::process::id());
            let inbox = Inbox::builder(crate::connection::plan_check::test_database_url())
                .table(&table)
                .build()
                .unwrap();
            let keys = ["a", "b", "c", "d", "e"];
            crate::inbox::db::contract::store_rows(&inbox, &keys).await;
            let ran = Arc::new(AtomicUsize::new(0));
            let handler = {
                let ran = Arc::clone(&ran);
                move |_: gemini_webhooks::Delivery| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    std::future::ready(Ok::<_, std::convert::Infallible>(()))
                }
            };
            let worker = inbox
                .worker(handler)
                .concurrency(2)
                .poll_interval(Duration::from_millis(20));
            let worker = if in_batches {
                worker.complete_in_batches()
            } else {
                worker
            };
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let running = tokio::spawn(worker.run_until(async {
                let _ = stopped.await;
            }));
            let deadline = Instant::now() + Duration::from_secs(60);
            while inbox.counts().await.unwrap().done < 5 {
                assert!(Instant::now() < deadline, "not all done within 60 s");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = stop.send(());
            running.await.unwrap();
            assert_eq!(ran.load(Ordering::SeqCst), keys.len(), "each once");
        }
    }

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
}
