//! Load with faults: 100,000 deliveries against real receivers on loopback,
//! checking that nothing is lost or handled twice.
//!
//! Per run: 80,000 valid unique deliveries, 10,000 duplicates of them (half
//! queued right behind their original, so often concurrent), 5,000 whose
//! handler fails once (answered 500, then retried and handled), and 5,000
//! invalid ones (bad signature). Like Gemini, the client retries a 409 (in
//! flight) later and retries a failed delivery with the same id.
//!
//! Runs: the axum receiver, the actix-web receiver (in-memory stores), and
//! two axum receivers sharing one Redis (with `--features redis`).
//!
//! With `--features postgres`, an inbox run against the PostgreSQL at
//! `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`):
//! two receivers store into one inbox and answer 202; two workers (8 jobs
//! each) record every handled id in a table in the job's transaction. The
//! 5,000 fail-once deliveries carry `"fail_handler_times": 1` (the worker's
//! first attempt fails, its retry succeeds), 1 % of the valid ones are
//! `"poison": true` (every attempt fails: they must end as dead letters),
//! and halfway through, one worker is killed (its task aborted: its open
//! transactions die with their connections, as in a crash) and a new one
//! started. Checked once the inbox has drained: every valid id handled
//! exactly once in the database, the dead letters exactly the poison ones,
//! nothing invalid stored. Reported: ingest requests/s, acknowledgement
//! latency p50/p99, and the delay from storage to the handler's first start.
//! It prints, per run, whether every valid unique id was handled exactly
//! once, no duplicate twice, no failed delivery lost, every invalid one
//! rejected, the count of unexpected 5xx, requests/s and the process's peak
//! RSS; it exits non-zero on any violation.
//!
//! `cargo run --release --example loadgen --all-features [deliveries]`

#[path = "common/mod.rs"]
mod common;
#[path = "common/inbox_load.rs"]
mod inbox;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use common::client::Connection;
use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks::{Delivery, Verifier};
use http::HeaderMap;

const CONNECTIONS: usize = 64;

/// Handler runs per webhook id: (succeeded, failed).
#[derive(Clone, Default)]
struct Runs(Arc<Mutex<HashMap<String, (u32, u32)>>>);

impl Runs {
    /// The example receivers' handler, counting its outcomes.
    fn handle(&self, delivery: &Delivery) -> u16 {
        let (_, status) = common::outcome(delivery);
        let mut runs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = runs.entry(delivery.id().to_owned()).or_default();
        if status == 200 {
            entry.0 += 1
        } else {
            entry.1 += 1
        }
        status
    }
}

async fn axum_handler(State(runs): State<Runs>, delivery: Delivery) -> axum::http::StatusCode {
    axum::http::StatusCode::from_u16(runs.handle(&delivery))
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
}

async fn serve_axum(
    layer: WebhookLayer<impl gemini_webhooks::replay::ReplayStore>,
    runs: Runs,
) -> SocketAddr {
    let app = axum::Router::new()
        .route("/webhooks/gemini", post(axum_handler))
        .with_state(runs)
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The inbox's endpoint, served on its own.
async fn serve_inbox(service: gemini_webhooks_postgres::inbox::InboxService) -> SocketAddr {
    let app = axum::Router::new().route_service("/webhooks/gemini", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[cfg(feature = "actix")]
fn serve_actix(verifier: Verifier, runs: Runs) -> SocketAddr {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let webhooks = gemini_webhooks::actix::GeminiWebhooks::new(verifier);
            let server = HttpServer::new(move || {
                let runs = runs.clone();
                App::new().service(
                    web::resource("/webhooks/gemini")
                        .wrap(webhooks.clone())
                        .route(web::post().to(move |delivery: Delivery| {
                            let status = runs.handle(&delivery);
                            async move {
                                HttpResponse::build(
                                    actix_web::http::StatusCode::from_u16(status).unwrap_or(
                                        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                                    ),
                                )
                                .finish()
                            }
                        })),
                )
            })
            .workers(2)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .expect("bind");
            tx.send(server.addrs()[0]).expect("send addr");
            server.run().await
        })
    });
    rx.recv().expect("actix receiver started")
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Valid,
    Duplicate,
    FailOnce,
    Invalid,
    Poison,
}

struct Job {
    kind: Kind,
    id: String,
    headers: HeaderMap,
    body: Bytes,
}

const EVENT: &str =
    r#"{"type":"batch.succeeded","timestamp":"2026-11-26T10:00:00Z","data":{"id":"batches/1"}}"#;
const POISON: &str = r#"{"type":"batch.succeeded","timestamp":"2026-11-26T10:00:00Z","data":{"id":"batches/1"},"poison": true}"#;
const FAILING: &str = r#"{"type":"batch.succeeded","timestamp":"2026-11-26T10:00:00Z","data":{"id":"batches/1"},"fail_handler": true}"#;

/// `template` about a job of its own, named after the delivery `id`: an
/// inbox stores one completion per job, whatever its webhook ids.
fn body_for(template: &str, id: &str) -> Bytes {
    Bytes::from(template.replace("batches/1", &format!("batches/{id}")))
}

/// The deliveries of a run. `failing` is the fail-once body; `poison`
/// valid deliveries (spread through the run) get `POISON` instead of `EVENT`.
fn jobs(
    secret: &str,
    total: usize,
    run: &str,
    failing: &'static str,
    poison: usize,
) -> VecDeque<Job> {
    let signer = Signer::hmac(secret).expect("secret");
    let wrong = Signer::hmac(&generate_secret()).expect("secret");
    let job = |kind, id: String, template: &'static str, signer: &Signer| {
        let body = body_for(template, &id);
        Job {
            kind,
            headers: signer.clone().id(id.clone()).sign(&body),
            id,
            body,
        }
    };
    let (valid, duplicates, fail_once) = (total * 80 / 100, total / 10, total / 20);
    let invalid = total - valid - duplicates - fail_once;
    let mut queue = VecDeque::with_capacity(total);
    for i in 0..valid {
        let id = format!("{run}-v{i}");
        queue.push_back(job(Kind::Valid, id.clone(), EVENT, &signer));
        // Half the duplicates right behind their original (concurrent).
        if i < duplicates / 2 {
            queue.push_back(job(Kind::Duplicate, id, EVENT, &signer));
        }
    }
    for i in 0..duplicates - duplicates / 2 {
        queue.push_back(job(
            Kind::Duplicate,
            format!("{run}-v{}", valid - 1 - i),
            EVENT,
            &signer,
        ));
    }
    for i in 0..fail_once {
        queue.insert(
            i * 16,
            job(Kind::FailOnce, format!("{run}-f{i}"), failing, &signer),
        );
    }
    for i in 0..poison {
        queue.insert(
            i * 64 + 4,
            job(Kind::Poison, format!("{run}-p{i}"), POISON, &signer),
        );
    }
    for i in 0..invalid {
        queue.insert(
            i * 16 + 8,
            job(Kind::Invalid, format!("{run}-x{i}"), EVENT, &wrong),
        );
    }
    queue
}

#[derive(Default, Debug)]
struct Tally {
    requests: usize,
    unexpected: Vec<String>,
    unexpected_5xx: usize,
    invalid_rejected: usize,
    /// Each request's round trip, in microseconds.
    latencies: Vec<u64>,
    /// 503s (store or keys undecided), retried like Gemini does.
    retried_503: usize,
}

impl Tally {
    /// `"p50 … µs, p99 … µs"` of the round trips.
    fn latency(&mut self) -> String {
        format!(
            "p50 {} µs, p99 {} µs",
            percentile(&mut self.latencies, 0.50),
            percentile(&mut self.latencies, 0.99)
        )
    }
}

fn percentile(values: &mut [u64], quantile: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = ((values.len() as f64 * quantile).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Sends every job to `targets` (round robin) over `CONNECTIONS` workers,
/// re-queueing 409s and 503s and retrying failed deliveries as Gemini would.
async fn drive(targets: &[SocketAddr], queue: VecDeque<Job>, secret: &str) -> (Tally, f64) {
    drive_over(CONNECTIONS, targets, queue, secret).await
}

/// [`drive`] over `connections` workers.
async fn drive_over(
    connections: usize,
    targets: &[SocketAddr],
    queue: VecDeque<Job>,
    secret: &str,
) -> (Tally, f64) {
    let queue = Arc::new(Mutex::new(queue));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let retry_signer = Signer::hmac(secret).expect("secret");
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let urls: Vec<String> = targets
                .iter()
                .map(|a| format!("http://{a}/webhooks/gemini"))
                .collect();
            let (queue, tally, retry_signer) = (queue.clone(), tally.clone(), retry_signer.clone());
            tokio::spawn(async move {
                // One keep-alive connection per receiver, reopened after an error.
                let mut connections: Vec<Option<Connection>> = urls.iter().map(|_| None).collect();
                let mut turn = worker;
                loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some(job) = job else { break };
                    turn += 1;
                    let target = turn % urls.len();
                    let sent = Instant::now();
                    let status = match send(&mut connections[target], &urls[target], &job).await {
                        Ok(status) => status,
                        Err(_) => {
                            connections[target] = None;
                            0
                        }
                    };
                    let took = sent.elapsed().as_micros() as u64;
                    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    t.requests += 1;
                    t.latencies.push(took);
                    let requeue = match (job.kind, status) {
                        (Kind::Invalid, 401) => {
                            t.invalid_rejected += 1;
                            None
                        }
                        // Gemini retries both later: in flight, or undecided.
                        (_, 409) => Some(job),
                        (_, 503) => {
                            t.retried_503 += 1;
                            Some(job)
                        }
                        (Kind::FailOnce, 500)
                            if job.body.len() == body_for(FAILING, &job.id).len() =>
                        {
                            // Gemini's retry: same id, the failure since fixed.
                            let body = body_for(EVENT, &job.id);
                            Some(Job {
                                headers: retry_signer.clone().id(job.id.clone()).sign(&body),
                                body,
                                ..job
                            })
                        }
                        // 202: stored in the inbox; 200: handled, or a copy already stored.
                        (
                            Kind::Valid | Kind::Duplicate | Kind::FailOnce | Kind::Poison,
                            200 | 202,
                        ) => None,
                        (kind, status) => {
                            if status >= 500 || status == 0 {
                                t.unexpected_5xx += 1;
                            }
                            t.unexpected
                                .push(format!("{kind:?} {} answered {status}", job.id));
                            None
                        }
                    };
                    drop(t);
                    if let Some(job) = requeue {
                        queue
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push_back(job);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
    let rate = tally.requests as f64 / elapsed;
    (tally, rate)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Checks the handler's record against the jobs; returns the violations.
fn audit(name: &str, runs: &Runs, total: usize, tally: &mut Tally, rate: f64) -> usize {
    let runs = runs.0.lock().unwrap_or_else(|e| e.into_inner());
    let (valid, fail_once) = (total * 80 / 100, total / 20);
    let invalid = total - valid - total / 10 - fail_once;
    let prefix = name.split_whitespace().next().unwrap_or(name);
    let get = |id: String| runs.get(&id).copied().unwrap_or((0, 0));
    let handled_once = (0..valid)
        .filter(|i| get(format!("{prefix}-v{i}")) == (1, 0))
        .count();
    let retried = (0..fail_once)
        .filter(|i| get(format!("{prefix}-f{i}")) == (1, 1))
        .count();
    let twice = runs.values().filter(|(ok, _)| *ok > 1).count();
    let invalid_ran = (0..invalid)
        .filter(|i| runs.contains_key(&format!("{prefix}-x{i}")))
        .count();
    let violations = (valid - handled_once)
        + (fail_once - retried)
        + twice
        + invalid_ran
        + (invalid - tally.invalid_rejected)
        + tally.unexpected.len();
    let latency = tally.latency();
    println!(
        "{name:<28} {:>7} requests {rate:>8.0} req/s ({}) | valid handled once {handled_once}/{valid} | \
         fail-once retried {retried}/{fail_once} | handled twice {twice} | invalid rejected {}/{invalid} \
         | unexpected 5xx {}, 503 retried {} | peak RSS {:.0} MiB | {}",
        tally.requests,
        latency,
        tally.invalid_rejected,
        tally.unexpected_5xx,
        tally.retried_503,
        peak_rss_mib(),
        if violations == 0 { "OK" } else { "VIOLATIONS" }
    );
    for line in tally.unexpected.iter().take(5) {
        println!("    {line}");
    }
    violations
}

#[tokio::main]
async fn main() -> ExitCode {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let secret = generate_secret();
    let verifier = Verifier::builder()
        .secret(&secret)
        .expect("secret")
        .build()
        .expect("verifier");
    let mut violations = 0;

    let runs = Runs::default();
    let addr = serve_axum(WebhookLayer::new(verifier.clone()), runs.clone()).await;
    let (mut tally, rate) = drive(&[addr], jobs(&secret, total, "axum", FAILING, 0), &secret).await;
    violations += audit("axum (memory)", &runs, total, &mut tally, rate);

    #[cfg(feature = "actix")]
    {
        let runs = Runs::default();
        let addr = serve_actix(verifier.clone(), runs.clone());
        let (mut tally, rate) =
            drive(&[addr], jobs(&secret, total, "actix", FAILING, 0), &secret).await;
        violations += audit("actix (memory)", &runs, total, &mut tally, rate);
    }

    #[cfg(feature = "redis")]
    {
        use gemini_webhooks::replay::RedisReplayStore;
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!(
            "gemini-webhooks-loadgen:{}:",
            gemini_webhooks::testing::random_id()
        );
        // Short dedup TTL: the run's ids need not outlive it in Redis.
        let store = || {
            RedisReplayStore::builder(url.clone())
                .key_prefix(prefix.clone())
                .dedup_ttl(std::time::Duration::from_secs(600))
                .build()
                .expect("Redis URL")
        };
        let runs = Runs::default();
        let layer = || WebhookLayer::new(verifier.clone());
        let a = serve_axum(layer().replay_store(store()), runs.clone()).await;
        let b = serve_axum(layer().replay_store(store()), runs.clone()).await;
        let (mut tally, rate) =
            drive(&[a, b], jobs(&secret, total, "redis", FAILING, 0), &secret).await;
        violations += audit("redis (2 receivers)", &runs, total, &mut tally, rate);
    }

    {
        violations += inbox::run(&secret, &verifier, total).await;
    }

    if violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Sends one job on the receiver's connection, opening it first if needed.
async fn send(
    connection: &mut Option<Connection>,
    url: &str,
    job: &Job,
) -> Result<u16, common::client::BoxError> {
    if connection.is_none() {
        *connection = Some(Connection::open(url).await?);
    }
    let open = connection.as_mut().ok_or("no connection")?;
    let response = open
        .post(url, job.headers.clone(), job.body.clone())
        .await?;
    Ok(response.status.as_u16())
}
