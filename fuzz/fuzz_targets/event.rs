//! `GeminiEvent` parsing of arbitrary bodies: never panics, and its error
//! message never quotes the body.
#![no_main]

use gemini_webhooks::GeminiEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match GeminiEvent::from_slice(body) {
        Ok(event) => {
            let _ = (
                event.event_type(),
                event.timestamp(),
                event.user_metadata(),
                event.resource_id(),
            );
        }
        Err(err) => {
            assert_eq!(err.status(), 422);
            let _ = err.to_string();
        }
    }
});
