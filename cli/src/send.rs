//! `send`: signs deliveries and POSTs them, with duplicates, stale and
//! tampered ones on request; prints the statuses and latencies.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use clap::Args;
use gemini_webhooks::testing::{Signer, random_id, sample_event_for};
use http::HeaderMap;
use serde_json::json;

use crate::output::{self, Output};
use tokio::sync::Semaphore;

use crate::Failure;

/// Sign and POST deliveries to a receiver; print statuses and latencies.
///
/// Examples:
///   gemini-webhooks send http://127.0.0.1:8080/webhooks/gemini --secret "$SECRET" --event batch.succeeded
///   gemini-webhooks send "$URL" --secret "$SECRET" --event video.generated --count 1000 --concurrency 32 --duplicates 0.1
///   gemini-webhooks send "$URL" --secret "$SECRET" --event batch.failed --stale --expect 401
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct SendArgs {
    /// Where to POST.
    url: String,
    /// HMAC secret (`whsec_…`): `v1` signatures.
    #[arg(long, required_unless_present = "key")]
    secret: Option<String>,
    /// Ed25519 private key (`whsk_…`): `v1a` signatures (with --v1a).
    #[arg(long)]
    key: Option<String>,
    /// Sign `v1a` (Ed25519, with --key) instead of `v1`.
    #[arg(long, requires = "key")]
    v1a: bool,
    /// Sample events of these types, in turn (repeat the flag).
    #[arg(
        long = "event",
        required_unless_present = "body",
        conflicts_with = "body"
    )]
    events: Vec<String>,
    /// A body file, sent as is.
    #[arg(long)]
    body: Option<PathBuf>,
    /// The job the sample events are about (`data.id`), e.g.
    /// `batches/abc123`, to simulate a tracked job's webhook (default: a
    /// job of its own per delivery).
    #[arg(long, value_name = "NAME", conflicts_with = "body")]
    resource: Option<String>,
    /// How many deliveries (new ids).
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// How many requests in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Fraction of deliveries sent a second time with the same id (0–1).
    #[arg(long, default_value_t = 0.0)]
    duplicates: f64,
    /// Sign with a timestamp 10 minutes old (outside the window).
    #[arg(long)]
    stale: bool,
    /// Change the body after signing.
    #[arg(long)]
    tampered: bool,
    /// Exit 1 unless every answer has this status (without it: unless
    /// every answer is 2xx).
    #[arg(long, value_name = "STATUS")]
    expect: Option<u16>,
}

/// One request to send.
struct Planned {
    headers: HeaderMap,
    body: Bytes,
}

pub async fn run(args: &SendArgs, out: Output) -> Result<bool, Failure> {
    // `--v1a` signs with the key; otherwise with the secret.
    let signer = if args.v1a {
        crate::sign::signer(None, args.key.as_deref())?
    } else {
        crate::sign::signer(args.secret.as_deref(), None)?
    };
    if !(0.0..=1.0).contains(&args.duplicates) {
        return Err("--duplicates is a fraction between 0 and 1".into());
    }
    let file = match &args.body {
        Some(path) => Some(Bytes::from(crate::capture::read(path)?)),
        None => None,
    };
    let plan = plan(args, &signer, file.as_ref());
    let answers = send_all(&args.url, plan, args.concurrency).await?;
    let tally = Tally::of(&answers, args.expect);
    tally.show(out);
    // Nothing answered: not a verdict on the receiver, a failure to run.
    if let Some(cause) = tally.unreached {
        return Err(format!("could not reach {}: {cause}", args.url).into());
    }
    if !tally.all_expected {
        match args.expect {
            Some(expected) => output::note(format_args!("not every answer was {expected}")),
            None => output::note("not every answer was 2xx (give --expect for another status)"),
        }
    }
    Ok(tally.all_expected)
}

/// One request's answer (its status, or why none came) and its latency.
type Answer = (Result<u16, String>, Duration);

/// Sends the planned requests to `url`, `concurrency` at a time, with a
/// progress bar; their answers, in order.
async fn send_all(
    url: &str,
    plan: Vec<Planned>,
    concurrency: usize,
) -> Result<Vec<Answer>, Failure> {
    let progress = indicatif::ProgressBar::with_draw_target(
        Some(plan.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let client = reqwest::Client::new();
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(plan.len());
    for planned in plan {
        let (client, url, permits, progress) = (
            client.clone(),
            url.to_owned(),
            permits.clone(),
            progress.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let answer = send(&client, &url, planned).await;
            progress.inc(1);
            answer
        }));
    }
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await?);
    }
    progress.finish_and_clear();
    Ok(answers)
}

/// Sends one request and reads its answer to the end.
async fn send(client: &reqwest::Client, url: &str, planned: Planned) -> Answer {
    let started = Instant::now();
    let answer = client
        .post(url)
        .headers(planned.headers)
        .header("content-type", "application/json")
        .body(planned.body)
        .send()
        .await;
    let status = match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            Ok(status)
        }
        Err(err) => Err(gemini_webhooks::ErrorChain(&err).to_string()),
    };
    (status, started.elapsed())
}

/// The answers counted: by status, with latencies, against `--expect`.
struct Tally {
    statuses: BTreeMap<String, usize>,
    /// Sorted.
    latencies: Vec<Duration>,
    all_expected: bool,
    /// Why a request got no answer, if one did not.
    unreached: Option<String>,
}

impl Tally {
    fn of(answers: &[Answer], expect: Option<u16>) -> Self {
        let mut tally = Self {
            statuses: BTreeMap::new(),
            latencies: answers.iter().map(|(_, latency)| *latency).collect(),
            all_expected: true,
            unreached: None,
        };
        tally.latencies.sort();
        for (status, _) in answers {
            let key = match status {
                Ok(code) => code.to_string(),
                Err(_) => "error".to_owned(),
            };
            match (status, expect) {
                (Ok(code), Some(expected)) => tally.all_expected &= *code == expected,
                (Ok(code), None) => tally.all_expected &= (200..300).contains(code),
                (Err(cause), _) => tally.unreached = Some(cause.clone()),
            }
            *tally.statuses.entry(key).or_default() += 1;
        }
        tally
    }

    fn show(&self, out: Output) {
        let latencies = &self.latencies;
        let (p50, p99) = (percentile(latencies, 50), percentile(latencies, 99));
        out.show(
            || {
                let mut text = format!("{:<8} {:>8}", "status", "count");
                for (status, count) in &self.statuses {
                    text.push_str(&format!("\n{status:<8} {count:>8}"));
                }
                text.push_str(&format!(
                    "\n{} requests; latency p50 {:.2} ms, p99 {:.2} ms",
                    latencies.len(),
                    p50.as_secs_f64() * 1e3,
                    p99.as_secs_f64() * 1e3
                ));
                text
            },
            || {
                json!({
                    "sent": latencies.len(),
                    "statuses": self.statuses,
                    "p50_ms": p50.as_secs_f64() * 1e3,
                    "p99_ms": p99.as_secs_f64() * 1e3,
                })
            },
        );
    }
}

/// The deliveries to send: `count` new ids, some sent twice, signed as
/// asked, in order (a duplicate right after its original).
fn plan(args: &SendArgs, signer: &Signer, file: Option<&Bytes>) -> Vec<Planned> {
    let mut plan = Vec::with_capacity(args.count * 2);
    let mut duplicated = 0.0;
    for i in 0..args.count {
        let mut signer = signer.clone();
        let body = match file {
            Some(body) => body.clone(),
            // Each delivery about a job of its own, named after its webhook
            // id: an inbox stores one completion per job.
            None => {
                let id = random_id();
                signer = signer.id(id.clone());
                let event_type = &args.events[i % args.events.len()];
                let collection = match event_type.split('.').next() {
                    Some("video") => "models/veo/operations",
                    Some("interaction") => "interactions",
                    _ => "batches",
                };
                let resource = args
                    .resource
                    .clone()
                    .unwrap_or_else(|| format!("{collection}/{id}"));
                sample_event_for(event_type, &resource)
            }
        };
        if args.stale {
            signer = signer.timestamp(SystemTime::now() - Duration::from_secs(600));
        }
        let headers = signer.sign(&body);
        let body = if args.tampered {
            let mut changed = body.to_vec();
            changed.extend_from_slice(b" ");
            Bytes::from(changed)
        } else {
            body
        };
        // Spread duplicates evenly: exactly round(count × fraction) of them.
        duplicated += args.duplicates;
        let twice = duplicated >= 1.0;
        if twice {
            duplicated -= 1.0;
            plan.push(Planned {
                headers: headers.clone(),
                body: body.clone(),
            });
        }
        plan.push(Planned { headers, body });
    }
    plan
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[index.min(sorted.len() - 1)]
}
