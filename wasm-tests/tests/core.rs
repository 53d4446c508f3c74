//! The runtime-free core in a JavaScript host (Node), as a Worker runs it.

use std::time::{Duration, UNIX_EPOCH};

use gemini_webhooks::replay::ClaimToken;
use gemini_webhooks::testing::{Signer, generate_secret, sample_event};
use gemini_webhooks::{GeminiEvent, Verifier, VerifyError};
use wasm_bindgen_test::wasm_bindgen_test;

fn verifier(secret: &str) -> Verifier {
    Verifier::builder().secret(secret).unwrap().build().unwrap()
}

/// `std`'s clock panics on this target; the verifier's comes from
/// `Date.now()`, so a delivery signed now verifies and parses.
#[wasm_bindgen_test]
fn a_delivery_signed_now_verifies_against_the_host_clock() {
    let secret = generate_secret();
    let body = sample_event("batch.succeeded");
    let headers = Signer::hmac(&secret).unwrap().sign(&body);
    let delivery = verifier(&secret).verify(&headers, &body[..]).unwrap();
    assert!(matches!(
        delivery.event().unwrap(),
        GeminiEvent::BatchSucceeded(_)
    ));
    let age = js_now().saturating_sub(delivery.unix_timestamp());
    assert!(age < 60, "signed {age} s before the host's now");
}

/// The host clock decides staleness: ten minutes ago is outside the window.
#[wasm_bindgen_test]
fn a_delivery_signed_ten_minutes_ago_is_stale() {
    let secret = generate_secret();
    let body = sample_event("batch.failed");
    let then = UNIX_EPOCH + Duration::from_secs(js_now() - 600);
    let headers = Signer::hmac(&secret).unwrap().timestamp(then).sign(&body);
    let err = verifier(&secret).verify(&headers, &body[..]).unwrap_err();
    assert!(matches!(err, VerifyError::TimestampTooOld), "{err:?}");
}

#[wasm_bindgen_test]
fn a_tampered_body_is_refused() {
    let secret = generate_secret();
    let body = sample_event("batch.succeeded");
    let headers = Signer::hmac(&secret).unwrap().sign(&body);
    let err = verifier(&secret).verify(&headers, &b"{}"[..]).unwrap_err();
    assert!(matches!(err, VerifyError::NoMatchingSignature), "{err:?}");
}

/// Tokens are random here, not the counter the native build mixes into a
/// seeded hash (that hash has no random seed on this target, so isolates
/// would count the same tokens): the low half is no small count.
#[wasm_bindgen_test]
fn claim_tokens_come_from_the_host_random_source() {
    let tokens: Vec<u128> = (0..8).map(|_| ClaimToken::new().as_u128()).collect();
    assert!(
        tokens.iter().all(|token| (*token as u64) > 1 << 20),
        "{tokens:x?}"
    );
    let mut distinct = tokens.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), tokens.len());
}

/// The host's clock, in seconds.
fn js_now() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}
