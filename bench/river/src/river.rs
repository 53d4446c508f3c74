//! River's side: its Rust client, its own migrations and its bench's
//! settings (queue fetch cooldown 2 ms, poll interval 20 ms).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use riverqueue::{
    Client, InsertOpts, Job, JobArgs, QueueConfig, WorkContext, WorkOutcome, Worker, Workers,
};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::Outcome;
use crate::latency::Recorder;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// River's bench inserts in batches of this many.
const BATCH: u64 = 5_000;

#[derive(Clone, Debug, Deserialize, JobArgs, Serialize)]
#[river(kind = "bench_noop")]
struct Noop {
    n: u64,
}

struct NoopWorker(Arc<Recorder>);

impl Worker<Noop> for NoopWorker {
    type Error = Infallible;

    fn work(
        &self,
        _context: WorkContext,
        job: Job<Noop>,
    ) -> impl Future<Output = Result<WorkOutcome, Self::Error>> + Send {
        let created = SystemTime::UNIX_EPOCH
            + Duration::from_nanos(u64::try_from(job.row.created_at.as_nanosecond()).unwrap_or(0));
        self.0.start(created);
        std::future::ready(Ok(WorkOutcome::Complete))
    }
}

pub struct Bench {
    pool: PgPool,
    workers: usize,
    recorder: Arc<Recorder>,
}

impl Bench {
    /// River's tables migrated up (its own migrations).
    pub async fn new(url: &str, workers: usize) -> Result<Self, Error> {
        let pool = PgPoolOptions::new()
            .max_connections(50)
            .connect(url)
            .await?;
        riverqueue_migrate::PostgresMigrator::new(pool.clone())
            .migrate_up()
            .await?;
        Ok(Self {
            pool,
            workers,
            recorder: Arc::new(Recorder::default()),
        })
    }

    /// Closes River's connections.
    pub async fn close(self) {
        self.pool.close().await;
    }

    fn client(&self) -> Result<Client, Error> {
        let mut workers = Workers::new();
        workers.add::<Noop, _>(NoopWorker(Arc::clone(&self.recorder)))?;
        Ok(Client::builder(self.pool.clone())
            .id("inbox-vs-river")
            .workers(workers)
            .queue(
                riverqueue::QUEUE_DEFAULT,
                QueueConfig::new(self.workers)
                    .with_fetch_cooldown(Duration::from_millis(2))
                    .with_fetch_poll_interval(Duration::from_millis(20)),
            )
            .build()?)
    }

    async fn reset(&self, jobs: u64) -> Result<(), Error> {
        sqlx::query("TRUNCATE TABLE river_job")
            .execute(&self.pool)
            .await?;
        sqlx::query("VACUUM ANALYZE river_job")
            .execute(&self.pool)
            .await?;
        self.recorder.reset(jobs);
        Ok(())
    }

    async fn insert(&self, client: &Client, jobs: u64) -> Result<(), Error> {
        let mut next = 0;
        while next < jobs {
            let batch: Vec<_> = (next..(next + BATCH).min(jobs))
                .map(|n| (Noop { n }, InsertOpts::default()))
                .collect();
            next += batch.len() as u64;
            client.insert_many(batch).await?;
        }
        Ok(())
    }

    /// Waits until `jobs` are completed in the database.
    async fn completed(&self, jobs: u64) -> Result<(), Error> {
        self.recorder.wait().await;
        loop {
            let (done,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM river_job WHERE state = 'completed'")
                    .fetch_one(&self.pool)
                    .await?;
            if done as u64 >= jobs {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Every job inserted, then worked to the end.
    pub async fn backlog(&self, jobs: u64) -> Result<Outcome, Error> {
        self.reset(jobs).await?;
        let client = self.client()?;
        self.insert(&client, jobs).await?;
        if crate::analyze_backlog() {
            sqlx::query("ANALYZE river_job").execute(&self.pool).await?;
        }
        let started = Instant::now();
        let mut run = client.start()?;
        run.wait_ready().await?;
        let mut outcome = self.finish(jobs, started, run).await?;
        // Queueing from a backlog says nothing of pick-up time.
        outcome.latencies.clear();
        Ok(outcome)
    }

    /// `jobs` inserted one at a time, `rate` a second, while the workers
    /// run: enqueue→start latency below capacity.
    pub async fn paced(&self, jobs: u64, rate: u64) -> Result<Outcome, Error> {
        self.reset(jobs).await?;
        let client = self.client()?;
        let mut run = client.start()?;
        run.wait_ready().await?;
        let started = Instant::now();
        let mut ticks = crate::pace(rate);
        for n in 0..jobs {
            ticks.tick().await;
            client
                .insert_many(vec![(Noop { n }, InsertOpts::default())])
                .await?;
        }
        self.finish(jobs, started, run).await
    }

    /// The jobs inserted while the workers run.
    pub async fn flow(&self, jobs: u64) -> Result<Outcome, Error> {
        self.reset(jobs).await?;
        let client = self.client()?;
        let mut run = client.start()?;
        run.wait_ready().await?;
        let started = Instant::now();
        self.insert(&client, jobs).await?;
        self.finish(jobs, started, run).await
    }

    /// Waits until `jobs` are completed, stops the client, and tells the
    /// time since `started` and each job's enqueue→start.
    async fn finish(
        &self,
        jobs: u64,
        started: Instant,
        mut run: riverqueue::RunHandle,
    ) -> Result<Outcome, Error> {
        self.completed(jobs).await?;
        let elapsed = started.elapsed();
        run.stop().await?;
        Ok(Outcome {
            jobs,
            elapsed,
            latencies: self.recorder.take(),
        })
    }
}
