//! [`ApiError`]: why a call to the Gemini API did not give its answer.

use http::StatusCode;
use thiserror::Error;

/// A call to the Gemini API that failed. Its text names the HTTP status and
/// Google's own `error.status` and `error.message` (control characters
/// escaped); it never holds the API key.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The API answered, but not with success. 429 and 503 were retried
    /// (`retries` times) before this.
    #[error("the Gemini API answered {status}{}: {message}", google_status.as_deref().map(|s| format!(" {s}")).unwrap_or_default())]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// Google's `error.status` (`NOT_FOUND`, `PERMISSION_DENIED`, …).
        google_status: Option<String>,
        /// Google's `error.message`, or a note when the body had none.
        message: String,
        /// How often the call was retried (429, 503) before this answer.
        retries: u32,
    },
    /// The API redirected to another host. Not followed: the API key is
    /// only ever sent to the host the client was built for.
    #[error(
        "the Gemini API redirected to another host ({host}); not followed, so the API key stays with {expected}"
    )]
    Redirected {
        /// Where it pointed.
        host: String,
        /// The client's host.
        expected: String,
    },
    /// No answer: the host could not be reached, or did not answer within
    /// the timeout.
    #[error("the Gemini API could not be reached")]
    Unreachable(#[source] reqwest::Error),
    /// A successful answer that is not the JSON this call expects.
    #[error("the Gemini API's answer does not read as {what}")]
    Decode {
        /// What was expected (`a webhook`, `a batch`, …).
        what: &'static str,
        /// Where and why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A call that is not safe to repeat (a `POST`: create a webhook,
    /// rotate its secret, ping it) failed in a way that does not say
    /// whether it took effect: a 5xx answer, or no answer after the request
    /// was sent. It was not retried; look before repeating it (after a
    /// create, list the webhooks with the same URI: one may exist whose
    /// secret was never shown).
    #[error("{call} may or may not have been made: the outcome is unknown")]
    Ambiguous {
        /// The call's answer, as [`Decode`](Self::Decode) names it.
        call: &'static str,
        /// What happened.
        #[source]
        source: Box<ApiError>,
    },
    /// The answer was larger than the client reads for this call.
    #[error("the Gemini API's answer is larger than {limit} bytes; not read")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// An argument the call cannot be made with (an empty update, a job
    /// name of no known kind, an id with `/` or `?` in it).
    #[error("{0}")]
    InvalidArgument(String),
}

impl ApiError {
    /// The HTTP status, for an answer that was not success.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the resource does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether the call may have taken effect although it failed
    /// ([`Ambiguous`](Self::Ambiguous)).
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Self::Ambiguous { .. })
    }

    /// Whether the failure came after the request reached the server (an
    /// answer, or no answer after sending), so a call that is not
    /// idempotent may have taken effect. Not connecting at all, a redirect
    /// (not followed) or a bad argument changed nothing.
    pub(crate) fn after_sending(&self) -> bool {
        match self {
            Self::Status { status, .. } => status.is_server_error(),
            Self::Unreachable(err) => !err.is_connect(),
            Self::TooLarge { .. } => true,
            _ => false,
        }
    }
}

/// Text from the API as it may be shown: control characters (a terminal's
/// escape sequences, newlines that forge log lines) escaped, at most 1,000
/// characters.
pub(crate) fn printable(text: &str) -> String {
    let mut shown = String::with_capacity(text.len().min(1_000));
    for (i, c) in text.chars().enumerate() {
        if i == 1_000 {
            shown.push('…');
            break;
        }
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_length_bounded() {
        assert_eq!(printable("ok\n\u{1b}[31mred"), "ok\\n\\u{1b}[31mred");
        assert_eq!(printable("é ü"), "é ü");
        let long = "x".repeat(2_000);
        assert_eq!(printable(&long).chars().count(), 1_001);
    }

    #[test]
    fn the_status_error_names_google_s_status_and_message() {
        let err = ApiError::Status {
            status: StatusCode::NOT_FOUND,
            google_status: Some("NOT_FOUND".into()),
            message: "Webhook not found".into(),
            retries: 0,
        };
        assert_eq!(
            err.to_string(),
            "the Gemini API answered 404 Not Found NOT_FOUND: Webhook not found"
        );
        assert!(err.is_not_found());
    }
}
