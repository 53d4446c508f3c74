//! Gemini webhooks on Cloudflare Workers, with `gemini-webhooks`' core.
//!
//! `POST /webhooks/gemini`: the headers are checked before the body is kept
//! (400, 401), the body is kept up to what a Queue message holds (413),
//! verified (401), parsed
//! (422), and claimed in a Durable Object named after its webhook id, so
//! a delivery runs once across every isolate and every retry ([`dedupe`]):
//! a new one is handed to a Queue and answered 202, a copy whose first is
//! still being handed on 409 (Gemini retries later), one already handed on
//! 200. When the Durable Object or the Queue cannot answer, 503: Gemini
//! retries, nothing acknowledged is lost. The Queue's consumer
//! ([`handler`]) is where the work happens, **at least once**: a failed
//! message is retried after a delay, and after its last retry it goes to
//! the dead-letter queue (wrangler.toml), never deleted.
//!
//! Bindings (wrangler.toml): the secret `GEMINI_WEBHOOK_SECRET` (one or more
//! `whsec_` secrets, comma-separated), the Durable Object namespace
//! `DEDUPE` (class `Dedupe`), the Queue producer `GEMINI_EVENTS` and its
//! consumer, and the dead-letter queue `gemini-events-dlq`. The variable
//! `GEMINI_RETRY_DELAY_SECONDS` sets the consumer's pause before a retry
//! (default 30). With the variable `GEMINI_BENCH = "1"`, `POST /bench/verify`
//! verifies the signed body `n` times (the query's `n`), for measuring
//! verification inside workerd; leave it unset in production.

#![forbid(unsafe_code)]

mod bench;
mod dedupe;
mod handler;

use std::sync::OnceLock;

use gemini_webhooks::{Delivery, Verifier, VerifyError};
use http::{Method, StatusCode, header};
use http_body_util::BodyExt as _;
use worker::{Context, Env, HttpRequest, event};

pub use dedupe::Dedupe;

/// The path Gemini is configured to call.
const ROUTE: &str = "/webhooks/gemini";

/// The largest body accepted: 112 KiB. A Queue message holds at most
/// 128 KB, and the hand-off carries the body with its id, type and
/// resource; a body that could not be queued would get 503 from every one
/// of Gemini's retries for 24 hours, so it is refused at once (413).
/// Gemini's events are small; anything this big is not one.
const BODY_LIMIT: usize = 112 * 1024;

/// An answer: the status and a short plain-text reason (never the body or
/// a secret).
type Answer = http::Response<String>;

fn answer(status: StatusCode, reason: impl Into<String>) -> Answer {
    let mut response = http::Response::new(reason.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The verifier, built once per isolate from the secret binding.
fn verifier(env: &Env) -> Result<&'static Verifier, String> {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    if let Some(verifier) = VERIFIER.get() {
        return Ok(verifier);
    }
    let secrets = env
        .secret("GEMINI_WEBHOOK_SECRET")
        .map_err(|_| "the secret GEMINI_WEBHOOK_SECRET is not bound".to_owned())?
        .to_string();
    let mut builder = Verifier::builder();
    for secret in secrets.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        builder = builder.secret(secret).map_err(|err| err.to_string())?;
    }
    let verifier = builder.build().map_err(|err| err.to_string())?;
    Ok(VERIFIER.get_or_init(|| verifier))
}

#[event(fetch)]
async fn fetch(request: HttpRequest, env: Env, _ctx: Context) -> worker::Result<Answer> {
    Ok(route(request, &env).await)
}

async fn route(request: HttpRequest, env: &Env) -> Answer {
    match (request.method(), request.uri().path()) {
        (&Method::POST, ROUTE) => receive(request, env).await,
        (&Method::POST, "/bench/verify") if bench::enabled(env) => match verifier(env) {
            Ok(verifier) => bench::verify(request, verifier).await,
            Err(cause) => misconfigured(&cause),
        },
        (_, ROUTE) => {
            drain(request.into_body()).await;
            let mut refused = answer(StatusCode::METHOD_NOT_ALLOWED, "use POST");
            refused
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            refused
        }
        _ => {
            drain(request.into_body()).await;
            answer(StatusCode::NOT_FOUND, "not found")
        }
    }
}

fn misconfigured(cause: &str) -> Answer {
    worker::console_error!("gemini webhook receiver misconfigured: {cause}");
    answer(StatusCode::INTERNAL_SERVER_ERROR, "receiver misconfigured")
}

fn rejected(err: &VerifyError) -> Answer {
    let status = err.status();
    if status == StatusCode::UNAUTHORIZED {
        // A wrong or rotated secret, usually: someone should look.
        worker::console_warn!("gemini webhook rejected: {err}");
    }
    answer(status, err.to_string())
}

/// Reads the body, keeping at most [`BODY_LIMIT`] bytes: 413 past it,
/// announced or not.
///
/// The rest of a body too large is read and dropped, never kept: workerd
/// resets a connection whose request body was left unread, and the client
/// can then lose the answer (a sender would retry and count a failure
/// instead of a 413). Reading costs the Worker wall time, not CPU time.
async fn read_body(
    headers: &http::HeaderMap,
    mut body: worker::Body,
) -> Result<bytes::Bytes, Answer> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > BODY_LIMIT as u64) {
        drain(body).await;
        return Err(answer(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
    }
    let mut kept = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(answer(StatusCode::BAD_REQUEST, "body could not be read"));
        };
        if let Ok(data) = frame.into_data() {
            if kept.len() + data.len() > BODY_LIMIT {
                drain(body).await;
                return Err(answer(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
            }
            kept.extend_from_slice(&data);
        }
    }
    Ok(kept.freeze())
}

/// Reads `body` to its end, dropping it (see [`read_body`]).
async fn drain(mut body: worker::Body) {
    while let Some(Ok(_)) = body.frame().await {}
}

/// Verify, claim, hand on: one delivery.
async fn receive(request: HttpRequest, env: &Env) -> Answer {
    let verifier = match verifier(env) {
        Ok(verifier) => verifier,
        Err(cause) => return misconfigured(&cause),
    };
    // Headers first: a stale or unsigned request is refused without its
    // body being kept or verified.
    let (parts, body) = request.into_parts();
    let checked = match verifier.check_headers(&parts.headers) {
        Ok(checked) => checked,
        Err(err) => {
            // Refused unread (nothing is kept), but read: see `read_body`.
            drain(body).await;
            return rejected(&err);
        }
    };
    let body = match read_body(&parts.headers, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let delivery = match verifier.verify_checked(&checked, body) {
        Ok(delivery) => delivery,
        Err(err) => return rejected(&err),
    };
    let event = match delivery.event() {
        Ok(event) => event,
        Err(err) => return answer(StatusCode::UNPROCESSABLE_ENTITY, err.to_string()),
    };
    admit(env, &delivery, &event).await
}

/// Runs `delivery` at most once: claim it, hand it on, commit the claim;
/// release it when the hand-off fails, so Gemini's retry runs it.
async fn admit(env: &Env, delivery: &Delivery, event: &gemini_webhooks::GeminiEvent) -> Answer {
    let record = match dedupe::Record::open(env, delivery.id()) {
        Ok(record) => record,
        Err(err) => return unavailable("the de-duplication store", &err),
    };
    let claim = match record.claim().await {
        Ok(claim) => claim,
        Err(err) => return unavailable("the de-duplication store", &err),
    };
    let token = match claim {
        dedupe::Claimed::New(token) => token,
        dedupe::Claimed::InFlight => {
            return answer(StatusCode::CONFLICT, "a copy of this delivery is in flight");
        }
        dedupe::Claimed::Done => return answer(StatusCode::OK, "already handled"),
    };
    if let Err(err) = handler::hand_off(env, delivery, event).await {
        // Best effort: should the release fail too, the claim lapses.
        let _ = record.release(token).await;
        return unavailable("the queue", &err);
    }
    if let Err(err) = record.commit(token).await {
        // Handed on but not recorded as done: the claim lapses after its
        // TTL, and only a copy arriving after that would run again. The
        // event is in the Queue, so it is accepted all the same (a 503
        // would make Gemini send it again for certain).
        worker::console_error!("gemini webhook handed on, its record not committed: {err}");
    }
    answer(StatusCode::ACCEPTED, "accepted")
}

fn unavailable(what: &str, err: &worker::Error) -> Answer {
    worker::console_error!("gemini webhook not admitted: {what} is unavailable: {err}");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{what} is unavailable"),
    )
}
