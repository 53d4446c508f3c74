//! Console demo: signs sample Gemini deliveries with `Signer`, verifies them
//! with a `Verifier`, and prints what happened to each.
//!
//! Run: `cargo run --example quickstart`. Exits non-zero if any outcome
//! differs from the status table in the README.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use gemini_webhooks::testing::{Signer, generate_ed25519_key, generate_secret};
use gemini_webhooks::{GeminiEvent, Verifier};
use http::HeaderMap;

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let secret = generate_secret();
    let key = generate_ed25519_key();
    let verifier = Verifier::builder()
        .secret(&secret)?
        .public_key(&key.public_key)?
        .build()?;

    let body = br#"{"type":"batch.succeeded","version":"v1","timestamp":"2026-11-26T10:00:00Z","data":{"id":"batches/42","output_file_uri":"files/batch-42-out"}}"#;
    let hmac = Signer::hmac(&secret)?;
    let ed25519 = Signer::ed25519(&key.private_key)?;
    let stale = SystemTime::now() - Duration::from_secs(600);

    let mut tampered_body = body.to_vec();
    tampered_body[60] ^= 1;
    let mut unsigned = hmac.sign(body);
    unsigned.remove("webhook-signature");

    let cases: [(&str, HeaderMap, &[u8], u16); 6] = [
        ("valid v1 (HMAC)", hmac.sign(body), body, 200),
        ("valid v1a (Ed25519)", ed25519.sign(body), body, 200),
        ("tampered body", hmac.sign(body), &tampered_body, 401),
        (
            "stale (10 min old)",
            hmac.clone().timestamp(stale).sign(body),
            body,
            401,
        ),
        (
            "signed with another secret",
            Signer::hmac(&generate_secret())?.sign(body),
            body,
            401,
        ),
        ("no signature header", unsigned, body, 400),
    ];

    println!("{:<28} {:>6}  outcome", "delivery", "status");
    let mut mismatches = 0;
    for (name, headers, body, expected) in cases {
        let (status, outcome) = match verifier.verify(&headers, body) {
            Ok(delivery) => match delivery.event()? {
                GeminiEvent::BatchSucceeded(event) => (
                    200,
                    format!(
                        "verified by {:?}: batch {} done",
                        delivery.verified_by(),
                        event.data.id
                    ),
                ),
                other => (200, format!("verified: {}", other.event_type())),
            },
            Err(err) => (err.status().as_u16(), format!("rejected: {err}")),
        };
        let mark = if status == expected {
            ""
        } else {
            "  <-- expected a different status"
        };
        mismatches += usize::from(status != expected);
        println!("{name:<28} {status:>6}  {outcome}{mark}");
    }
    Ok(if mismatches == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
