//! Lenient JWKS parsing of arbitrary documents: never panics; whatever it
//! keeps is usable.
#![no_main]

use gemini_webhooks::keys::jwks::JwksKeys;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|document: &[u8]| {
    if let Ok(keys) = JwksKeys::from_json(document) {
        let _ = (keys.len(), keys.is_empty(), format!("{keys:?}"));
    }
});
