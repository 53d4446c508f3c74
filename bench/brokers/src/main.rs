//! Benchmark: Gemini deliveries into a broker, side by side on one
//! machine, 1 KiB bodies, 64 concurrent keep-alive connections (or 64
//! publishing tasks), every delivery new:
//!
//! - `raw`: the broker's own Rust client publishing the same bodies with
//!   confirmations, no HTTP (the limit);
//! - `peer`: what a team writes without this crate — an axum handler on
//!   the Standard Webhooks reference crate (`standardwebhooks`) that
//!   verifies, publishes with the same client, awaits the confirmation and
//!   answers `200` (no de-duplication);
//! - `bridge`: `WebhookLayer` + `PublishService` (verify, claim, publish,
//!   await the confirmation, commit), in the request;
//! - `outbox`: the inbox's endpoint (`202` once stored in PostgreSQL) and
//!   its workers publishing (`complete_in_batches`): the `202` rate and
//!   latency, and the rate at which the broker received them all.
//!
//! `cargo run --release --manifest-path bench/brokers/Cargo.toml -- BROKER [requests-per-round] [rounds]`
//! with BROKER one of `nats`, `rabbitmq`, `pubsub` (raw, peer, bridge,
//! outbox) or `redis`, `sqs`, `river` (bridge, outbox). Each broker is a
//! throwaway one of the run's own (testdb), as in the tests; PostgreSQL
//! for the outbox too. `scripts/bench-brokers` runs them all.

mod brokers;
#[path = "../../../examples/common/client.rs"]
#[allow(dead_code)] // shared with the crate's examples; this one posts only
mod client;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use bytes::Bytes;
use gemini_webhooks::Verifier;
use gemini_webhooks::testing::{Signer, generate_secret, sample_event_of_len};
use gemini_webhooks::tower::WebhookLayer;
use gemini_webhooks_bridge::{PublishService, Publisher};
use http::HeaderMap;

use brokers::Broker;

const CONNECTIONS: usize = 64;
const BODY_LEN: usize = 1024;

/// One mode's round: deliveries per second and ack latency.
struct Round {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

/// `count` distinct 1 KiB `batch.succeeded` bodies (a batch each: the
/// inbox and River key an ending per job).
fn bodies(count: usize, round: usize) -> Vec<Bytes> {
    let template =
        String::from_utf8(sample_event_of_len("batch.succeeded", BODY_LEN).to_vec()).unwrap();
    (0..count)
        .map(|i| Bytes::from(template.replace("batches/123", &format!("batches/{round:02}{i:07}"))))
        .collect()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Runs `job(state, i)` for every i over `CONNECTIONS` concurrent tasks,
/// each with a state of its own from `init` (a connection), timing each.
async fn drive<S, Init, InitFut, Job, JobFut>(count: usize, init: Init, job: Job) -> Round
where
    S: Send + 'static,
    Init: Fn() -> InitFut,
    InitFut: Future<Output = S>,
    Job: Fn(S, usize) -> JobFut + Clone + Send + 'static,
    JobFut: Future<Output = S> + Send,
{
    let mut states = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        states.push(init().await);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = states
        .into_iter()
        .map(|mut state| {
            let (next, job) = (next.clone(), job.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return latencies;
                    }
                    let sent = Instant::now();
                    state = job(state, i).await;
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Round {
        rate,
        p50: at(0.5),
        p99: at(0.99),
    }
}

/// POSTs each signed request, one keep-alive connection per task.
async fn post_all(addr: SocketAddr, requests: Arc<Vec<(HeaderMap, Bytes)>>, status: u16) -> Round {
    let url = Arc::new(format!("http://{addr}/hook"));
    let opening = url.clone();
    drive(
        requests.len(),
        move || {
            let url = opening.clone();
            async move { client::Connection::open(&url).await.unwrap() }
        },
        move |mut connection, i| {
            let (requests, url) = (requests.clone(), url.clone());
            async move {
                let (headers, body) = &requests[i];
                let response = connection
                    .post(&url, headers.clone(), body.clone())
                    .await
                    .unwrap();
                assert_eq!(response.status.as_u16(), status, "{}", response.text());
                connection
            }
        },
    )
    .await
}

fn median(rounds: &mut [Round]) -> &Round {
    rounds.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    &rounds[rounds.len() / 2]
}

/// The HTTP endpoints of one run: the bridge in the request, the peer (for
/// a broker with a raw client), the outbox's inbox and its workers.
struct Endpoints {
    bridge: SocketAddr,
    peer: Option<SocketAddr>,
    outbox_addr: SocketAddr,
    outbox: brokers::Outbox,
}

impl Endpoints {
    async fn start(broker: &Broker, secret: &str, verifier: Verifier) -> Self {
        let bridge = serve(
            Router::new().route_service(
                "/hook",
                tower::ServiceBuilder::new()
                    .layer(WebhookLayer::new(verifier.clone()))
                    .service(PublishService::new(Publisher::new(broker.sink()))),
            ),
        )
        .await;
        let peer = match broker.raw() {
            Some(raw) => Some(serve(brokers::peer(secret, raw)).await),
            None => None,
        };
        let outbox = brokers::Outbox::start(broker).await;
        let outbox_addr =
            serve(Router::new().route_service("/hook", outbox.service(verifier))).await;
        Self {
            bridge,
            peer,
            outbox_addr,
            outbox,
        }
    }
}

/// The broker's own client publishing `per_round` bodies, no HTTP.
async fn raw_round(raw: &brokers::Raw, per_round: usize, round: usize) -> Round {
    let bodies = Arc::new(bodies(per_round, round * 4));
    let publish = move |raw: brokers::Raw, i: usize| {
        let body = bodies[i].clone();
        async move {
            raw.publish(&format!("raw_{round}_{i}"), body).await;
            raw
        }
    };
    drive(per_round, || std::future::ready(raw.clone()), publish).await
}

/// One line per mode: its rate, and its latencies where it has them.
fn print_round(label: &str, mode: &str, round: &Round) {
    let latency = if round.p50.is_zero() {
        "(no latency: the rate at which the broker received them)".to_owned()
    } else {
        format!(
            "p50 {:>6.2} ms  p99 {:>6.2} ms",
            round.p50.as_secs_f64() * 1e3,
            round.p99.as_secs_f64() * 1e3
        )
    };
    println!(
        "{label}{mode:<17} {:>8.0} deliveries/s  {latency}",
        round.rate
    );
}

/// One round of every mode, each result pushed to its mode's list.
async fn run_round(
    broker: &Broker,
    endpoints: &Endpoints,
    signer: &Signer,
    per_round: usize,
    round: usize,
    results: &mut [(&str, Vec<Round>)],
) {
    if let Some(raw) = broker.raw() {
        results[0].1.push(raw_round(&raw, per_round, round).await);
    }
    // Signed just before use, so timestamps stay inside the window.
    let signed = |offset: usize| -> Arc<Vec<(HeaderMap, Bytes)>> {
        let bodies = self::bodies(per_round, round * 4 + offset);
        Arc::new(
            bodies
                .into_iter()
                .map(|body| (signer.sign(&body), body))
                .collect(),
        )
    };
    if let Some(peer) = endpoints.peer {
        results[1].1.push(post_all(peer, signed(1), 200).await);
    }
    results[2]
        .1
        .push(post_all(endpoints.bridge, signed(2), 200).await);
    let requests = signed(3);
    let drained = Instant::now();
    results[3]
        .1
        .push(post_all(endpoints.outbox_addr, requests, 202).await);
    endpoints
        .outbox
        .wait_for_done(per_round * (round + 1))
        .await;
    let rate = per_round as f64 / drained.elapsed().as_secs_f64();
    results[4].1.push(Round {
        rate,
        p50: Duration::ZERO,
        p99: Duration::ZERO,
    });
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "nats".to_owned());
    let per_round: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let broker = Broker::start(&name).await;
    let secret = generate_secret();
    let signer = Signer::hmac(&secret).unwrap();
    let verifier = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let endpoints = Endpoints::start(&broker, &secret, verifier).await;

    let mut results: Vec<(&str, Vec<Round>)> =
        ["raw", "peer", "bridge", "outbox 202", "outbox to broker"]
            .into_iter()
            .map(|mode| (mode, Vec::new()))
            .collect();
    for round in 0..rounds {
        run_round(&broker, &endpoints, &signer, per_round, round, &mut results).await;
        for (mode, rounds) in &results {
            if let Some(last) = rounds.last() {
                print_round(&format!("round {round} {name} "), mode, last);
            }
        }
    }
    println!("median of {rounds} rounds of {per_round}, {name}:");
    for (mode, rounds) in &mut results {
        if !rounds.is_empty() {
            print_round("  ", mode, median(rounds));
        }
    }
}
