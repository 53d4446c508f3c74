//! [`ErrorChain`]: an error shown with its causes, where errors are
//! logged. A driver's own message is often only at the bottom of the chain
//! (tokio-postgres's `db error` over the server's `FATAL: database "…"
//! does not exist`), and a log line without it names no cause.

use std::error::Error;
use std::fmt;

/// Displays an error, then each cause whose text it does not already hold:
/// `inbox unavailable: ingest failed: …: db error: FATAL: database "x"
/// does not exist`. What the crate logs its errors with; use it for yours.
///
/// ```
/// let io = std::io::Error::other("connection refused");
/// assert_eq!(gemini_webhooks::ErrorChain(&io).to_string(), "connection refused");
/// ```
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let text = error.to_string();
            // Many errors repeat their source's text in their own.
            if !shown.contains(&text) {
                shown.push_str(": ");
                shown.push_str(&text);
            }
            cause = error.source();
        }
        f.write_str(&shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1
                .as_deref()
                .map(|layer| layer as &(dyn Error + 'static))
        }
    }

    #[test]
    fn every_cause_is_shown_once() {
        let bottom = Layer("FATAL: database \"x\" does not exist", None);
        let driver = Layer("db error", Some(Box::new(bottom)));
        let ours = Layer("ingest failed: db error", Some(Box::new(driver)));
        assert_eq!(
            ErrorChain(&ours).to_string(),
            "ingest failed: db error: FATAL: database \"x\" does not exist"
        );
        assert_eq!(ErrorChain(&Layer("alone", None)).to_string(), "alone");
    }
}
