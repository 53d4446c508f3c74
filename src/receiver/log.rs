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
        // Every text field quoted, so a reason or an error with spaces in
        // it reads as one value; formatted only if the line is written (a
        // probe's line is usually filtered out).
        Rejection::StoreUnavailable(err) => {
            let error = Quoted(ErrorChain(err));
            at_level!(webhook_id, outcome, error = ?error, "gemini webhook deferred")
        }
        Rejection::InboxUnavailable(err) => {
            let error = Quoted(ErrorChain(&**err));
            at_level!(webhook_id, outcome, error = ?error, "gemini webhook deferred")
        }
        _ => {
            let reason = Quoted(rejection);
            at_level!(webhook_id, outcome, reason = ?reason, "gemini webhook rejected")
        }
    }
}

/// A `Display` value recorded as a quoted string (as `Debug` of a `String`
/// would show it), without building the string first.
struct Quoted<T>(T);

impl<T: std::fmt::Display> std::fmt::Debug for Quoted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        /// Escapes what it is given as `str`'s `Debug` does.
        struct Escaping<'a, 'b>(&'a mut std::fmt::Formatter<'b>);
        impl std::fmt::Write for Escaping<'_, '_> {
            fn write_str(&mut self, text: &str) -> std::fmt::Result {
                for c in text.chars() {
                    match c {
                        '"' | '\\' => write!(self.0, "\\{c}")?,
                        '\'' => self.0.write_char(c)?,
                        _ => write!(self.0, "{}", c.escape_debug())?,
                    }
                }
                Ok(())
            }
        }
        f.write_char('"')?;
        write!(Escaping(f), "{}", self.0)?;
        f.write_char('"')
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

#[cfg(test)]
mod tests {
    use super::Quoted;

    #[test]
    fn quoted_reads_as_the_debug_of_the_string() {
        for text in [
            "plain",
            "with \"quotes\" and 'apostrophes'",
            "back\\slash",
            "new\nline\t\u{1b}[31m",
            "é ü 😀",
        ] {
            assert_eq!(
                format!("{:?}", Quoted(text)),
                format!("{:?}", text.to_owned()),
                "{text}"
            );
        }
    }
}
