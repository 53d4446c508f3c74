//! `POST /bench/verify?n=N` (only with the variable `GEMINI_BENCH = "1"`):
//! verifies the signed body N times and answers how many verified.
//!
//! Workers freeze `Date.now()` and `performance.now()` while code runs (a
//! Spectre mitigation), so the time cannot be read from inside: the
//! benchmark (`scripts/bench-worker`) times requests with N = 1 and a large
//! N from outside and divides the difference.

use gemini_webhooks::Verifier;
use http::StatusCode;
use worker::{Env, HttpRequest};

/// Whether the benchmark route is on.
pub fn enabled(env: &Env) -> bool {
    env.var("GEMINI_BENCH")
        .is_ok_and(|value| value.to_string() == "1")
}

pub async fn verify(request: HttpRequest, verifier: &Verifier) -> super::Answer {
    let rounds: u32 = request
        .uri()
        .query()
        .and_then(|query| query.strip_prefix("n="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let body = match super::read_body(&headers, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let verified = (0..rounds)
        .filter(|_| verifier.verify(&headers, &body).is_ok())
        .count();
    super::answer(StatusCode::OK, verified.to_string())
}
