//! Interoperability with the Standard Webhooks reference crate: each side
//! verifies what the other signed, and both refuse a tampered body.

use std::time::{SystemTime, UNIX_EPOCH};

use gemini_webhooks::testing::{Signer, generate_secret};
use gemini_webhooks::{Verifier, VerifyError};
use http::{HeaderMap, HeaderValue};

fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
    [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ]
    .into_iter()
    .map(|(name, value)| {
        (
            http::HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        )
    })
    .collect()
}

fn verifier(secret: &str) -> Verifier {
    Verifier::builder().secret(secret).unwrap().build().unwrap()
}

#[test]
fn interop_with_the_reference_crate() {
    let secret = generate_secret();
    let reference = standardwebhooks::Webhook::new(&secret).unwrap();
    let ours = verifier(&secret);
    let body = br#"{"type":"batch.succeeded","data":{"id":"batches/1"}}"#;

    // Theirs signs, ours verifies.
    let now = SystemTime::now();
    let unix = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let theirs = reference.sign("msg_interop", unix as i64, body).unwrap();
    let their_headers = headers("msg_interop", &unix.to_string(), &theirs);
    ours.verify_at(&their_headers, &body[..], now).unwrap();

    // Ours signs, theirs verifies.
    let our_headers = Signer::hmac(&secret).unwrap().sign(body);
    reference.verify(body, &our_headers).unwrap();

    // And a tampered body fails on both sides.
    let tampered = br#"{"type":"batch.succeeded","data":{"id":"batches/2"}}"#;
    assert!(reference.verify(tampered, &our_headers).is_err());
    assert_eq!(
        ours.verify(&our_headers, &tampered[..]).unwrap_err(),
        VerifyError::NoMatchingSignature
    );
}
