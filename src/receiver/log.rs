//! How each rejection is logged: one line, at a level chosen by what it
//! means for whoever runs the receiver.

use http::HeaderMap;
use tracing::Level;

use super::Rejection;
use crate::error_chain::ErrorChain;
use crate::verify::{VerifyError, WEBHOOK_ID};

/// Logs `rejection` with the delivery's (unverified) id.
pub(super) fn rejection(headers: &HeaderMap, rejection: &Rejection, probe_level: Level) {
    let webhook_id = headers
        .get(WEBHOOK_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let outcome = rejection.kind();
    macro_rules! at_level {
        ($($event:tt)+) => {
            match level(rejection, probe_level) {
                Level::ERROR => tracing::error!($($event)+),
                Level::WARN => tracing::warn!($($event)+),
                Level::INFO => tracing::info!($($event)+),
                Level::DEBUG => tracing::debug!($($event)+),
                _ => tracing::trace!($($event)+),
            }
        };
    }
    match rejection {
        Rejection::AlreadyHandled | Rejection::InFlight => {
            at_level!(webhook_id, outcome, "gemini webhook not handled again")
        }
        // Every text field quoted (Debug of a string), so a reason or an
        // error with spaces in it reads as one value.
        Rejection::StoreUnavailable(err) => {
            let error = ErrorChain(err).to_string();
            at_level!(webhook_id, outcome, error = ?error, "gemini webhook deferred")
        }
        Rejection::InboxUnavailable(err) => {
            let error = ErrorChain(&**err).to_string();
            at_level!(webhook_id, outcome, error = ?error, "gemini webhook deferred")
        }
        _ => {
            let reason = rejection.to_string();
            at_level!(webhook_id, outcome, reason = ?reason, "gemini webhook rejected")
        }
    }
}

/// How loudly a rejection is logged: a copy of a delivery already handled
/// or in flight is routine under at-least-once delivery (DEBUG, as every
/// per-delivery success is); requests that are not deliveries at
/// all (no or malformed headers, unreadable bodies: a port scan) at
/// `probe_level`; a signature or timestamp that does not verify (likely a
/// wrong secret) at WARN, and so a body over the limit (its headers passed
/// the checks first: it may be a real delivery whose `user_metadata`
/// outgrew the limit, retried for 24 hours unseen); what leaves a delivery
/// undecided (store or keys unavailable) at ERROR.
fn level(rejection: &Rejection, probe_level: Level) -> Level {
    match rejection {
        Rejection::AlreadyHandled | Rejection::InFlight => Level::DEBUG,
        Rejection::StoreUnavailable(_)
        | Rejection::InboxUnavailable(_)
        | Rejection::NotConfigured
        | Rejection::Verify(VerifyError::KeysUnavailable) => Level::ERROR,
        Rejection::Verify(
            VerifyError::MissingHeader(_)
            | VerifyError::InvalidHeader { .. }
            | VerifyError::InvalidTimestamp,
        )
        | Rejection::BodyUnreadable
        | Rejection::BodyTimedOut { .. }
        | Rejection::MethodNotAllowed => probe_level,
        _ => Level::WARN,
    }
}
