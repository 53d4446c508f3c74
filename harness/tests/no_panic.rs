//! Property test: no header strings or body make the verifier or the event
//! parser panic, and whatever they refuse maps to a client-error status.

use std::time::{Duration, UNIX_EPOCH};

use gemini_webhooks::testing::Signer;
use gemini_webhooks::{GeminiEvent, Verifier};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PUBLIC_KEY: &str = "whpk_O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=";

fn verifier() -> Verifier {
    Verifier::builder()
        .secret(SECRET)
        .unwrap()
        .public_key(PUBLIC_KEY)
        .unwrap()
        .build()
        .unwrap()
}

/// Header values: arbitrary bytes (most are not valid header values, which
/// `HeaderValue` itself refuses), plus signature-shaped strings.
fn header_value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Some),
        "[0-9+ -]{0,25}".prop_map(|s| Some(s.into_bytes())),
        "((v1a?|v2|),[A-Za-z0-9+/=]{0,90} ?){0,20}".prop_map(|s| Some(s.into_bytes())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn verify_never_panics(
        id in header_value(),
        timestamp in header_value(),
        signature in header_value(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in any::<u64>(),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", signature)] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
                headers.insert(name, value);
            }
        }
        let now = UNIX_EPOCH.checked_add(Duration::from_secs(now)).unwrap_or(UNIX_EPOCH);
        if let Err(err) = verifier().verify_at(&headers, &body[..], now) {
            prop_assert!(err.status().is_client_error());
            prop_assert!(!err.to_string().contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        }
    }

    #[test]
    fn signed_arbitrary_bodies_verify_and_parse_without_panic(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        id in "[A-Za-z0-9_]{1,40}",
    ) {
        let headers = Signer::hmac(SECRET).unwrap().id(id.clone()).sign(&body);
        let delivery = verifier().verify(&headers, body.clone()).unwrap();
        prop_assert_eq!(delivery.id(), id.as_str());
        prop_assert_eq!(&delivery.body()[..], &body[..]);
        if let Err(err) = delivery.event() {
            prop_assert_eq!(err.status(), 422);
        }
        let _ = GeminiEvent::from_slice(&body);
    }
}
