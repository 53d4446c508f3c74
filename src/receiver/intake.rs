//! [`Intake`]: what happens to a request before any store sees it.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use tracing::Level;

use super::body::{BodyReads, read_body_within};
use super::{Rejection, log};
use crate::delivery::Delivery;
use crate::metrics::time_verification;
use crate::verify::Verifier;

/// The default body limit: 256 KiB.
///
/// Gemini's envelopes are thin pointers of a few hundred bytes; with a
/// dynamic webhook's `user_metadata` (whose size limit Google does not
/// document) a few KiB. 256 KiB leaves two orders of magnitude of room for
/// that, while bounding what an unauthenticated request can make a receiver
/// buffer and hash (a quarter of the former 1 MiB). Raise it with
/// `body_limit` if your metadata is larger: an over-limit delivery gets 413
/// and is retried for 24 hours, then lost.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// How long a request's body may take to arrive by default: 10 s, for
/// bodies of a few hundred bytes (even 256 KiB arrives in well under a
/// second on any link Gemini's senders use).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many request bodies are read at once by default: 1,024. With the
/// 10 s body timeout and 256 KiB limit, unauthenticated requests hold at
/// most 1,024 reads (256 MiB of buffers at the very worst) for at most 10 s
/// each, well inside a process's default 20,000 file descriptors.
pub const DEFAULT_MAX_BODY_READS: usize = 1024;

/// The first stage every endpoint shares: check the `webhook-*` headers and
/// the announced size before reading a byte of the body, read the body
/// under a limit and a deadline, verify it. Rejections are logged and
/// counted here, once.
///
/// [`Receiver`](crate::Receiver) follows it with the replay store and the
/// handler; the inbox's endpoint with a durable write.
///
/// ```
/// use gemini_webhooks::receiver::Intake;
/// use gemini_webhooks::testing::{Signer, generate_secret};
/// use gemini_webhooks::Verifier;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = generate_secret();
/// let intake = Intake::new(Verifier::builder().secret(&secret)?.build()?).body_limit(64 * 1024);
///
/// let body = br#"{"type":"batch.cancelled","data":{"id":"batches/1"}}"#;
/// let headers = Signer::hmac(&secret)?.sign(body);
/// let delivery = intake.accept(&headers, http_body_util::Full::new(&body[..])).await?;
/// assert_eq!(delivery.event()?.event_type(), "batch.cancelled");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Intake {
    verifier: Verifier,
    body_limit: usize,
    body_timeout: Duration,
    body_reads: BodyReads,
    probe_log_level: Level,
}

impl Intake {
    /// An intake verifying with `verifier`, with the default body limit
    /// (256 KiB), body timeout (10 s), concurrent body reads (1,024) and
    /// probe log level (DEBUG).
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            body_reads: BodyReads::new(DEFAULT_MAX_BODY_READS),
            probe_log_level: Level::DEBUG,
        }
    }

    /// Sets the largest body accepted, in bytes (default 256 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Sets how long a body may take to arrive in full (default 10 s);
    /// a slower one is [`Rejection::BodyTimedOut`] (408).
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Sets how many bodies this intake and its clones read at once
    /// (default 1,024); more are [`Rejection::TooManyBodyReads`] (503).
    pub fn max_body_reads(mut self, reads: usize) -> Self {
        self.body_reads = BodyReads::new(reads);
        self
    }

    /// Sets the level for requests that are not deliveries at all (default
    /// DEBUG).
    pub fn probe_log_level(mut self, level: Level) -> Self {
        self.probe_log_level = level;
        self
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The largest body accepted, in bytes.
    pub fn limit(&self) -> usize {
        self.body_limit
    }

    /// Checks the headers, reads the body and verifies the delivery.
    ///
    /// Before a byte of the body is read, the `webhook-*` headers, the
    /// timestamp window and the signature header's form are checked
    /// ([`Verifier::check_headers`]: 400 or 401), and a `Content-Length`
    /// above the limit is refused (413); without one, reading stops at the
    /// limit. The headers are parsed once: what the checks found is what
    /// the signature is verified with. A rejection is logged and counted
    /// before it is returned.
    pub async fn accept<B>(&self, headers: &HeaderMap, body: B) -> Result<Delivery, Rejection>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let checked = self
            .verifier
            .check_headers(headers)
            .map_err(|err| self.reject(headers, err.into()))?;
        let bytes = self.read(headers, body).await?;
        time_verification(self.verifier.verify_checked_async(&checked, bytes))
            .await
            .map_err(|err| self.reject(headers, err.into()))
    }

    /// The body under the limit, refused at once when its announced length
    /// is over it or too many bodies are being read.
    async fn read<B>(&self, headers: &HeaderMap, body: B) -> Result<Bytes, Rejection>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let announced = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if announced.is_some_and(|length| length > self.body_limit as u64) {
            let limit = self.body_limit;
            return Err(self.reject(headers, Rejection::PayloadTooLarge { limit }));
        }
        let Some(_reading) = self.body_reads.enter() else {
            let limit = self.body_reads.max;
            return Err(self.reject(headers, Rejection::TooManyBodyReads { limit }));
        };
        read_body_within(body, self.body_limit, self.body_timeout)
            .await
            .map_err(|rejection| self.reject(headers, rejection))
    }

    /// Logs and counts a rejection decided after the intake (by a store:
    /// the inbox's endpoint, or one of yours), as the intake's own are,
    /// and hands it back.
    pub fn reject(&self, headers: &HeaderMap, rejection: Rejection) -> Rejection {
        rejection.count();
        log::rejection(headers, &rejection, self.probe_log_level);
        rejection
    }
}
