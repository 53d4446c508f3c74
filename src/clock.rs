//! The one place the runtime-free core reads the wall clock (the receiving
//! pipeline, the inbox and the fetchers run on Tokio, natively only).
//!
//! `std`'s `SystemTime::now` panics on `wasm32-unknown-unknown`, which has
//! no OS to ask; there the time comes from the JavaScript host's
//! `Date.now()` (Cloudflare Workers, browsers, Node through wasm-bindgen),
//! the host jsonwebtoken and getrandom already need on that target. Code
//! that must not depend on the host's clock passes its own time to
//! [`Verifier::verify_at`](crate::Verifier::verify_at).

use std::time::SystemTime;

/// Now, from the platform's clock.
#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

/// Now, from the JavaScript host's clock (milliseconds since the epoch).
/// A clock that reads before the epoch (or NaN) gives the epoch itself,
/// so every delivery is stale (401), never accepted by mistake.
#[cfg(all(target_family = "wasm", target_os = "unknown"))]
pub(crate) fn now() -> SystemTime {
    let millis = js_sys::Date::now();
    let since_epoch = std::time::Duration::try_from_secs_f64(millis / 1000.0).unwrap_or_default();
    std::time::UNIX_EPOCH + since_epoch
}
