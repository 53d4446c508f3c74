//! The inbox's side: deliveries stored by `Inbox::ingest` (the endpoint's
//! own path, group commit included), worked by one `InboxWorker`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use gemini_webhooks::testing::{Signer, generate_secret, sample_event_for};
use gemini_webhooks::{Delivery, Verifier};
use gemini_webhooks_postgres::inbox::{Inbox, Job};

use crate::Outcome;
use crate::latency::Recorder;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Concurrent `ingest` callers, as concurrent HTTP deliveries would be.
const INGESTERS: usize = 64;

const TABLE: &str = "bench_inbox";

pub struct Bench {
    inbox: Inbox,
    concurrency: usize,
    /// The worker completes in batches (`complete_in_batches`), its
    /// handler taking a `Delivery`; else each job in its own transaction.
    in_batches: bool,
    recorder: Arc<Recorder>,
    /// When each delivery was handed to `ingest`, by id: the enqueue time
    /// of a batches run, whose handler has no `received_at` (the client's
    /// clock before the write, so its latencies include the write).
    sent: Arc<Mutex<HashMap<String, SystemTime>>>,
}

impl Bench {
    pub async fn new(url: &str, concurrency: usize, in_batches: bool) -> Result<Self, Error> {
        let inbox = Inbox::builder(url)
            .table(TABLE)
            .pool_size(INGESTERS / 4)
            // Long: the flow run measures throughput, not admission.
            .timeout(Duration::from_secs(120))
            .build()?;
        inbox.check().await?;
        Ok(Self {
            inbox,
            concurrency,
            in_batches,
            recorder: Arc::new(Recorder::default()),
            sent: Arc::default(),
        })
    }

    /// `jobs` verified deliveries, each about a batch of its own.
    fn deliveries(jobs: u64) -> Result<Vec<Delivery>, Error> {
        let secret = generate_secret();
        let verifier = Verifier::builder().secret(&secret)?.build()?;
        let signer = Signer::hmac(&secret)?;
        (0..jobs)
            .map(|n| {
                let body = sample_event_for("batch.succeeded", &format!("batches/b{n}"));
                let headers = signer.clone().id(format!("msg_{n}")).sign(&body);
                Ok(verifier.verify(&headers, body)?)
            })
            .collect()
    }

    async fn reset(&self, jobs: u64) -> Result<(), Error> {
        let connection = self.inbox.connection().await?;
        // One statement each: VACUUM cannot run in the implicit
        // transaction of a multi-statement string.
        for statement in [
            format!("TRUNCATE {TABLE}, {TABLE}_tracked"),
            format!("VACUUM ANALYZE {TABLE}"),
            format!("VACUUM ANALYZE {TABLE}_tracked"),
        ] {
            connection.batch_execute(&statement).await?;
        }
        self.recorder.reset(jobs);
        self.sent.lock().unwrap().clear();
        Ok(())
    }

    /// Stores every delivery through `ingest`, from concurrent callers.
    async fn ingest(&self, deliveries: Vec<Delivery>) -> Result<(), Error> {
        let queue = Arc::new(Mutex::new(deliveries.into_iter()));
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..INGESTERS {
            let (inbox, queue, sent) = (
                self.inbox.clone(),
                Arc::clone(&queue),
                Arc::clone(&self.sent),
            );
            callers.spawn(async move {
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some(delivery) = next else {
                        return Ok::<_, gemini_webhooks_postgres::inbox::InboxError>(());
                    };
                    sent.lock()
                        .unwrap()
                        .insert(delivery.id().to_owned(), SystemTime::now());
                    inbox.ingest(&delivery).await?;
                }
            });
        }
        while let Some(done) = callers.join_next().await {
            done??;
        }
        Ok(())
    }

    /// Starts a worker; it stops when the returned sender is dropped.
    fn start(&self) -> tokio::sync::oneshot::Sender<()> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let recorder = Arc::clone(&self.recorder);
        if self.in_batches {
            let sent = Arc::clone(&self.sent);
            let worker = self
                .inbox
                .worker(move |delivery: Delivery| {
                    let enqueued = sent.lock().unwrap().get(delivery.id()).copied();
                    recorder.start(enqueued.unwrap_or_else(SystemTime::now));
                    async { Ok::<_, Infallible>(()) }
                })
                .concurrency(self.concurrency)
                .shutdown_grace(Duration::ZERO)
                .complete_in_batches();
            tokio::spawn(worker.run_until(stopped));
        } else {
            let worker = self
                .inbox
                .worker(move |job: Job| {
                    recorder.start(job.received_at());
                    async { Ok::<_, Infallible>(()) }
                })
                .concurrency(self.concurrency)
                .shutdown_grace(Duration::ZERO);
            tokio::spawn(worker.run_until(stopped));
        }
        stop
    }

    /// Waits until `jobs` are done in the database.
    async fn done(&self, jobs: u64) -> Result<(), Error> {
        self.recorder.wait().await;
        while self.inbox.counts().await?.done < jobs {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Every delivery stored, then worked to the end.
    pub async fn backlog(&self, jobs: u64) -> Result<Outcome, Error> {
        let deliveries = Self::deliveries(jobs)?;
        self.reset(jobs).await?;
        self.ingest(deliveries).await?;
        if crate::analyze_backlog() {
            let connection = self.inbox.connection().await?;
            connection
                .batch_execute(&format!("ANALYZE {TABLE}"))
                .await?;
        }
        let (started, stop) = (Instant::now(), self.start());
        let mut outcome = self.finish(jobs, started, stop).await?;
        // Queueing from a backlog says nothing of pick-up time.
        outcome.latencies.clear();
        Ok(outcome)
    }

    /// `jobs` deliveries stored one at a time, `rate` a second, while the
    /// worker runs: enqueue→start latency below capacity.
    pub async fn paced(&self, jobs: u64, rate: u64) -> Result<Outcome, Error> {
        let deliveries = Self::deliveries(jobs)?;
        self.reset(jobs).await?;
        let stop = self.start();
        let started = Instant::now();
        let mut ticks = crate::pace(rate);
        for delivery in &deliveries {
            ticks.tick().await;
            self.sent
                .lock()
                .unwrap()
                .insert(delivery.id().to_owned(), SystemTime::now());
            self.inbox.ingest(delivery).await?;
        }
        self.finish(jobs, started, stop).await
    }

    /// The deliveries stored while the worker runs.
    pub async fn flow(&self, jobs: u64) -> Result<Outcome, Error> {
        let deliveries = Self::deliveries(jobs)?;
        self.reset(jobs).await?;
        let stop = self.start();
        let started = Instant::now();
        self.ingest(deliveries).await?;
        self.finish(jobs, started, stop).await
    }

    /// Waits until `jobs` are done, stops the worker, and tells the time
    /// since `started` and each job's enqueue→start.
    async fn finish(
        &self,
        jobs: u64,
        started: Instant,
        stop: tokio::sync::oneshot::Sender<()>,
    ) -> Result<Outcome, Error> {
        self.done(jobs).await?;
        let elapsed = started.elapsed();
        drop(stop);
        Ok(Outcome {
            jobs,
            elapsed,
            latencies: self.recorder.take(),
        })
    }
}
