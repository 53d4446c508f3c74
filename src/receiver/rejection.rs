//! [`Rejection`]: why the receiving pipeline did not run a handler, and
//! the one map from each reason to its status, `Retry-After` and log.

use std::fmt;

use http::StatusCode;

use super::ClaimLost;
use crate::event::EventError;
use crate::replay::ReplayError;
use crate::verify::VerifyError;

/// Why a receiver answered without running the handler, and with which
/// status: the one place where outcomes map to HTTP. The table of every
/// case, its status and its log level is [`crate::guide::answers`].
///
/// The [`Display`](fmt::Display) text is the short plain-text body sent
/// back: it never contains a secret, a key or the request body.
#[derive(Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// The delivery did not verify.
    Verify(VerifyError),
    /// The body could not be read to its end (the client stopped early or
    /// sent a broken chunked encoding).
    BodyUnreadable,
    /// The body is larger than the receiver's limit.
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body did not arrive in full within the receiver's body timeout.
    BodyTimedOut {
        /// The timeout.
        after: std::time::Duration,
    },
    /// As many request bodies as the receiver allows are being read.
    TooManyBodyReads {
        /// The limit.
        limit: usize,
    },
    /// This delivery id was already handled successfully.
    AlreadyHandled,
    /// Another copy of this delivery is being handled right now.
    InFlight,
    /// The replay store could not answer.
    StoreUnavailable(ReplayError),
    /// The handler was stopped: its claim could not be held while it ran,
    /// and a retry must run it alone (see
    /// [`Admission::run`](super::Admission::run)).
    ClaimLost(ClaimLost),
    /// The inbox (`gemini-webhooks-postgres`) could not store the
    /// delivery; the source is its `InboxError`.
    InboxUnavailable(Box<dyn std::error::Error + Send + Sync>),
    /// The request's method is not `POST` (an endpoint that answers every
    /// method, such as the inbox's service).
    MethodNotAllowed,
    /// The verified body is not the JSON the handler asked for.
    InvalidEvent(EventError),
    /// An extractor ran without a `WebhookLayer` in front of it and without
    /// a `Verifier` to check the delivery itself.
    NotConfigured,
}

impl Rejection {
    /// The HTTP status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Verify(err) => err.status(),
            Self::BodyUnreadable => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyBodyReads { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::AlreadyHandled => StatusCode::OK,
            Self::InFlight => StatusCode::CONFLICT,
            Self::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::ClaimLost(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InboxUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidEvent(err) => err.status(),
            Self::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, short name for logs and metrics (`"no_matching_signature"`,
    /// `"duplicate"`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Verify(err) => err.kind(),
            Self::BodyUnreadable => "body_unreadable",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::BodyTimedOut { .. } => "body_timed_out",
            Self::TooManyBodyReads { .. } => "too_many_body_reads",
            Self::AlreadyHandled => "duplicate",
            Self::InFlight => "in_flight",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::ClaimLost(_) => "claim_lost",
            Self::InboxUnavailable(_) => "inbox_unavailable",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidEvent(_) => "invalid_event",
            Self::NotConfigured => "not_configured",
        }
    }
}

impl Rejection {
    /// The `outcome` label this rejection is counted under in
    /// [`gemini_webhooks_deliveries_total`](crate#features) (feature
    /// `metrics`): `duplicate`, `in_flight`, `store_unavailable`,
    /// `inbox_unavailable`, `keys_unavailable`, `claim_lost`, or `rejected` for a request
    /// that is not a valid delivery (its [`kind`](Self::kind) is the
    /// `reason`).
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::AlreadyHandled => "duplicate",
            Self::InFlight => "in_flight",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::ClaimLost(_) => "claim_lost",
            Self::InboxUnavailable(_) => "inbox_unavailable",
            Self::Verify(VerifyError::KeysUnavailable) => "keys_unavailable",
            _ => "rejected",
        }
    }

    /// How long the client should wait before retrying, sent as
    /// `Retry-After`: for [`ClaimLost`](Self::ClaimLost), when the claim
    /// is free again.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::ClaimLost(lost) => Some(lost.retry_after()),
            _ => None,
        }
    }

    /// Counts this rejection on the metrics facade.
    pub(crate) fn count(&self) {
        let outcome = self.outcome();
        let reason = (outcome == "rejected").then(|| self.kind());
        crate::metrics::delivery(outcome, reason);
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verify(err) => err.fmt(f),
            Self::BodyUnreadable => f.write_str("request body could not be read"),
            Self::PayloadTooLarge { limit } => write!(f, "body larger than {limit} bytes"),
            Self::BodyTimedOut { after } => {
                write!(
                    f,
                    "request body not received within {} ms",
                    after.as_millis()
                )
            }
            Self::TooManyBodyReads { limit } => write!(
                f,
                "{limit} request bodies are being read already; retry later"
            ),
            Self::AlreadyHandled => f.write_str("already handled"),
            Self::InFlight => f.write_str("this delivery is being handled; retry later"),
            // The store's own message may name hosts; keep it in the logs.
            Self::StoreUnavailable(_) => f.write_str("replay store unavailable; retry later"),
            Self::ClaimLost(_) => f.write_str(
                "the claim on this delivery could not be held while it was handled; retry later",
            ),
            Self::InboxUnavailable(_) => f.write_str("inbox unavailable; retry later"),
            Self::MethodNotAllowed => f.write_str("only POST is accepted here"),
            Self::InvalidEvent(err) => err.fmt(f),
            Self::NotConfigured => f.write_str(
                "webhook receiver not configured: put the webhook middleware (WebhookLayer, \
                 GeminiWebhooks) in front of this handler, or provide a Verifier",
            ),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Verify(err) => Some(err),
            Self::StoreUnavailable(err) => Some(err),
            Self::ClaimLost(err) => Some(err),
            Self::InboxUnavailable(err) => Some(&**err),
            Self::InvalidEvent(err) => Some(err),
            _ => None,
        }
    }
}

impl From<VerifyError> for Rejection {
    fn from(err: VerifyError) -> Self {
        Self::Verify(err)
    }
}

impl From<EventError> for Rejection {
    fn from(err: EventError) -> Self {
        Self::InvalidEvent(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_rejections_have_their_status_name_and_text() {
        let timed_out = Rejection::BodyTimedOut {
            after: std::time::Duration::from_secs(10),
        };
        assert_eq!(timed_out.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(timed_out.kind(), "body_timed_out");
        assert_eq!(
            timed_out.to_string(),
            "request body not received within 10000 ms"
        );
        let busy = Rejection::TooManyBodyReads { limit: 1024 };
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.kind(), "too_many_body_reads");
        assert_eq!(
            busy.to_string(),
            "1024 request bodies are being read already; retry later"
        );
        assert_eq!(Rejection::AlreadyHandled.kind(), "duplicate");
    }

    #[test]
    fn a_lost_claim_is_a_503_to_retry_with_its_cause() {
        use std::error::Error as _;
        let lost = Rejection::ClaimLost(ClaimLost::Expiring {
            lapses_in: std::time::Duration::from_millis(1_500),
            source: Some(ReplayError::new("Redis timed out")),
        });
        assert_eq!(lost.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!((lost.kind(), lost.outcome()), ("claim_lost", "claim_lost"));
        assert_eq!(lost.retry_after(), Some(std::time::Duration::from_secs(2)));
        assert_eq!(
            lost.to_string(),
            "the claim on this delivery could not be held while it was handled; retry later"
        );
        assert_eq!(
            lost.source().map(ToString::to_string).as_deref(),
            Some("no extension of the claim landed before it was due to lapse (in 1500 ms)")
        );
        assert_eq!(Rejection::InFlight.retry_after(), None);
    }

    #[test]
    fn each_rejection_with_a_cause_hands_it_on() {
        use std::error::Error as _;
        let source = |rejection: &Rejection| rejection.source().map(|err| err.to_string());
        let store = Rejection::StoreUnavailable(ReplayError::new("Redis timed out"));
        assert_eq!(
            source(&store).as_deref(),
            Some("replay store unavailable: Redis timed out")
        );
        let inbox = Rejection::InboxUnavailable("database down".into());
        assert_eq!(source(&inbox).as_deref(), Some("database down"));
        let verify = Rejection::Verify(VerifyError::NoMatchingSignature);
        assert_eq!(
            source(&verify),
            Some(VerifyError::NoMatchingSignature.to_string())
        );
        assert!(Rejection::AlreadyHandled.source().is_none());
        assert!(Rejection::MethodNotAllowed.source().is_none());
    }
}
