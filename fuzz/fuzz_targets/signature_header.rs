//! The `webhook-signature` parser: any header value, valid id and timestamp,
//! one secret and one key configured. Must never panic, and must refuse
//! everything (nobody can forge a tag by chance).
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use gemini_webhooks::Verifier;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(gemini_webhooks_fuzz::verifier);

fuzz_target!(|signature: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(signature) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "webhook-id",
        HeaderValue::from_static("msg_p5jXN8AQM9LWM0D4loKWxJek"),
    );
    headers.insert("webhook-timestamp", HeaderValue::from_static("1614265330"));
    headers.insert("webhook-signature", value);
    let now = UNIX_EPOCH + Duration::from_secs(1614265330);
    let outcome = VERIFIER.verify_at(&headers, &br#"{"test": 2432232314}"#[..], now);
    // The one valid signature for this content is in the seed corpus; any
    // other accepted value would be a forgery.
    if outcome.is_ok() {
        assert!(value_contains_valid_tag(signature));
    }
});

fn value_contains_valid_tag(signature: &[u8]) -> bool {
    let tag = b"g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    signature.windows(tag.len()).any(|w| w == tag)
}
