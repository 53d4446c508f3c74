//! `verify_at` on arbitrary headers, body and clock. Must never panic, and
//! every refusal must map to a 4xx/5xx status.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use gemini_webhooks::Verifier;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(gemini_webhooks_fuzz::verifier);

const NAMES: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];

fuzz_target!(|data: &[u8]| {
    // Layout: 8 bytes of clock, then NUL-separated header values (the first
    // three go to the three headers, a fourth repeats one), then the body.
    let (clock, rest) = data.split_at(data.len().min(8));
    let mut seconds = [0u8; 8];
    seconds[..clock.len()].copy_from_slice(clock);
    let now = UNIX_EPOCH
        .checked_add(Duration::from_secs(u64::from_le_bytes(seconds)))
        .unwrap_or(UNIX_EPOCH);
    let mut parts = rest.splitn(5, |b| *b == 0);
    let mut headers = HeaderMap::new();
    for (i, name) in NAMES.iter().chain(NAMES.iter().take(1)).enumerate() {
        let Some(part) = parts.next() else { break };
        if part.first() == Some(&b'-') {
            continue; // leave this header out
        }
        if let Ok(value) = HeaderValue::from_bytes(part) {
            headers.append(HeaderName::from_static(name), value);
        }
        let _ = i;
    }
    let body = parts.next().unwrap_or_default();
    if let Err(err) = VERIFIER.verify_at(&headers, body, now) {
        assert!(err.status().is_client_error() || err.status().is_server_error());
        let _ = err.to_string();
    }
});
