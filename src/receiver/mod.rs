//! The receiving pipeline every framework adapter shares.
//!
//! This module owns the decision of what to answer for a request: check the
//! headers and the announced size before reading a byte of the body, verify,
//! claim the id, run the handler (keeping the claim alive while it runs),
//! then commit (2xx) or release (anything else, a panic, a dropped request).
//! Adapters call [`Receiver::admit_request`] and [`Admission::run`] and turn
//! a [`Rejection`] into their response type. It imports no web framework
//! and is public, so any other framework can use it too (on a Tokio runtime
//! with timers enabled, as axum, hyper and actix-web have).

mod guard;
mod rejection;

/// The builder methods every adapter offers, written once: each adapter is a
/// thin wrapper around an `Arc<Receiver<R>>` field named `receiver`.
macro_rules! receiver_builder_methods {
    ($adapter:ident) => {
        impl $adapter<$crate::replay::MemoryReplayStore> {
            /// Verifies with `verifier`: 256 KiB body limit, an in-process
            /// [`MemoryReplayStore`](crate::replay::MemoryReplayStore),
            /// handled ids remembered for 25 hours.
            pub fn new(verifier: $crate::verify::Verifier) -> Self {
                Self::from_receiver($crate::receiver::Receiver::new(verifier))
            }
        }

        impl<R: $crate::replay::ReplayStore> $adapter<R> {
            /// Wraps a configured [`Receiver`](crate::Receiver).
            pub fn from_receiver(receiver: $crate::receiver::Receiver<R>) -> Self {
                Self {
                    receiver: std::sync::Arc::new(receiver),
                }
            }

            fn map(
                self,
                configure: impl FnOnce($crate::receiver::Receiver<R>) -> $crate::receiver::Receiver<R>,
            ) -> Self {
                Self::from_receiver(configure(std::sync::Arc::unwrap_or_clone(self.receiver)))
            }

            /// Sets the largest body accepted (default 256 KiB); larger ones get 413.
            pub fn body_limit(self, bytes: usize) -> Self {
                self.map(|r| r.body_limit(bytes))
            }

            /// Sets how long a request's body may take to arrive in full
            /// (default 10 s); a slower one gets 408. See
            /// [`Receiver::body_timeout`](crate::Receiver::body_timeout).
            pub fn body_timeout(self, timeout: std::time::Duration) -> Self {
                self.map(|r| r.body_timeout(timeout))
            }

            /// Sets how many request bodies may be read at once (default
            /// 1,024); more get 503. See
            /// [`Receiver::max_body_reads`](crate::Receiver::max_body_reads).
            pub fn max_body_reads(self, reads: usize) -> Self {
                self.map(|r| r.max_body_reads(reads))
            }

            /// Sets how long handled ids are remembered (default 25 h).
            pub fn dedup_ttl(self, ttl: std::time::Duration) -> Self {
                self.map(|r| r.dedup_ttl(ttl))
            }

            /// Sets the level for requests that are not deliveries at all
            /// (default DEBUG); see
            /// [`Receiver::probe_log_level`](crate::Receiver::probe_log_level).
            pub fn probe_log_level(self, level: tracing::Level) -> Self {
                self.map(|r| r.probe_log_level(level))
            }

            /// Stores verified deliveries in a durable
            /// [`Inbox`](crate::inbox::Inbox) and answers `202` at once;
            /// the handler behind the middleware is not called (workers run
            /// yours). See [`crate::inbox`].
            #[cfg(feature = "postgres")]
            #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
            pub fn inbox(self, inbox: $crate::inbox::Inbox) -> Self {
                self.map(|r| r.inbox(inbox))
            }

            /// Uses another replay store, e.g. one shared by several replicas.
            pub fn replay_store<S: $crate::replay::ReplayStore>(self, store: S) -> $adapter<S> {
                $adapter::from_receiver(std::sync::Arc::unwrap_or_clone(self.receiver).replay_store(store))
            }

            /// The receiver in use.
            pub fn receiver(&self) -> &$crate::receiver::Receiver<R> {
                &self.receiver
            }
        }

        impl<R> Clone for $adapter<R> {
            fn clone(&self) -> Self {
                Self {
                    receiver: std::sync::Arc::clone(&self.receiver),
                }
            }
        }
    };
}
pub(crate) use receiver_builder_methods;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use tracing::{Instrument as _, Level};

use crate::metrics::time_verification;

pub use rejection::Rejection;

use crate::delivery::Delivery;
use crate::replay::{Claim, DEFAULT_DEDUP_TTL, MemoryReplayStore, ReplayStore};
use crate::verify::{Verifier, WEBHOOK_ID};
use guard::ClaimGuard;

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

/// How many request bodies a receiver reads at once by default: 1,024. With
/// the 10 s body timeout and 256 KiB limit, unauthenticated requests hold
/// at most 1,024 reads (256 MiB of buffers at the very worst) for at most
/// 10 s each, well inside a process's default 20,000 file descriptors.
pub const DEFAULT_MAX_BODY_READS: usize = 1024;

/// Verifies deliveries and runs a handler at most once per id.
///
/// The adapters ([`WebhookLayer`](crate::tower::WebhookLayer), the actix
/// middleware) are built on it; use it directly for any other framework.
///
/// ```
/// use gemini_webhooks::Receiver;
/// use gemini_webhooks::testing::{Signer, generate_secret};
/// use gemini_webhooks::Verifier;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = generate_secret();
/// let receiver = Receiver::new(Verifier::builder().secret(&secret)?.build()?);
///
/// let body = bytes::Bytes::from_static(br#"{"type":"batch.cancelled"}"#);
/// let headers = Signer::hmac(&secret)?.id("msg_1").sign(&body);
///
/// let handle = |delivery: gemini_webhooks::Delivery| async move { 200u16 };
/// let first = receiver.receive(&headers, body.clone(), handle, |s| *s == 200).await;
/// assert_eq!(first.unwrap(), 200);
///
/// // The retry of a handled delivery does not run the handler again.
/// let retry = receiver.receive(&headers, body, handle, |s| *s == 200).await;
/// assert_eq!(retry.unwrap_err().status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Receiver<R = MemoryReplayStore> {
    verifier: Verifier,
    store: Arc<R>,
    body_limit: usize,
    body_timeout: Duration,
    body_reads: BodyReads,
    dedup_ttl: Duration,
    probe_log_level: Level,
    #[cfg(feature = "postgres")]
    inbox: Option<crate::inbox::Inbox>,
}

// Not derived: the store is shared through its `Arc`, so `R` need not be `Clone`.
impl<R> Clone for Receiver<R> {
    fn clone(&self) -> Self {
        Self {
            verifier: self.verifier.clone(),
            store: Arc::clone(&self.store),
            body_limit: self.body_limit,
            body_timeout: self.body_timeout,
            body_reads: self.body_reads.clone(),
            dedup_ttl: self.dedup_ttl,
            probe_log_level: self.probe_log_level,
            #[cfg(feature = "postgres")]
            inbox: self.inbox.clone(),
        }
    }
}

impl Receiver<MemoryReplayStore> {
    /// A receiver with an in-process [`MemoryReplayStore`], a
    /// [`DEFAULT_BODY_LIMIT`] (256 KiB) body limit and a
    /// [`DEFAULT_DEDUP_TTL`] (25 h) dedup TTL.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            store: Arc::new(MemoryReplayStore::new()),
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            body_reads: BodyReads::new(DEFAULT_MAX_BODY_READS),
            dedup_ttl: DEFAULT_DEDUP_TTL,
            probe_log_level: Level::DEBUG,
            #[cfg(feature = "postgres")]
            inbox: None,
        }
    }
}

impl<R: ReplayStore> Receiver<R> {
    /// Uses another replay store (e.g. one shared by many replicas).
    pub fn replay_store<S: ReplayStore>(self, store: S) -> Receiver<S> {
        Receiver {
            verifier: self.verifier,
            store: Arc::new(store),
            body_limit: self.body_limit,
            body_timeout: self.body_timeout,
            body_reads: self.body_reads,
            dedup_ttl: self.dedup_ttl,
            probe_log_level: self.probe_log_level,
            #[cfg(feature = "postgres")]
            inbox: self.inbox,
        }
    }

    /// Stores verified deliveries in `inbox` and answers at once, instead of
    /// running the handler in the request: see [`crate::inbox`]. The
    /// adapters then answer `202 Accepted` (`200` for a copy already
    /// stored) without calling the inner service, and the replay store is
    /// not used (the inbox's key does its work).
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn inbox(mut self, inbox: crate::inbox::Inbox) -> Self {
        self.inbox = Some(inbox);
        self
    }

    /// The inbox deliveries are stored in, if one is set: the adapters
    /// then call [`store_request`](Self::store_request).
    #[cfg(feature = "postgres")]
    pub(crate) fn inbox_ref(&self) -> Option<&crate::inbox::Inbox> {
        self.inbox.as_ref()
    }

    /// Sets the level at which requests that are not deliveries at all are
    /// logged: missing or malformed `webhook-*` headers, unreadable or
    /// oversized bodies (default DEBUG, so a port scan pages nobody).
    /// Signatures that do not verify are always logged at WARN.
    pub fn probe_log_level(mut self, level: Level) -> Self {
        self.probe_log_level = level;
        self
    }

    /// Sets the largest body accepted, in bytes (default 256 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Sets how long a request's body may take to arrive in full, from the
    /// moment its headers have passed the checks (default 10 s: Gemini's
    /// bodies are a few hundred bytes). A slower body gets `408 Request
    /// Timeout` and its connection is let go: the headers' checks need no
    /// secret, so without a deadline anyone could hold a connection open
    /// for ever by trickling a body (or announcing a `Content-Length`
    /// larger than what it sends).
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Sets how many request bodies this receiver (and its clones) reads at
    /// once (default 1,024). A request arriving while that many are being
    /// read gets `503` (Gemini retries) without a byte of its body read.
    /// Together with [`body_timeout`](Self::body_timeout) this bounds what
    /// unauthenticated requests can hold: at most this many reads, each for
    /// at most the timeout and the [`body_limit`](Self::body_limit).
    pub fn max_body_reads(mut self, reads: usize) -> Self {
        self.body_reads = BodyReads::new(reads);
        self
    }

    /// Sets how long a handled id is remembered (default 25 h). Keep it
    /// longer than Gemini's 24-hour retry horizon.
    pub fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.dedup_ttl = ttl;
        self
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The replay store.
    pub fn store(&self) -> &R {
        &self.store
    }

    /// The largest body accepted, in bytes.
    pub fn limit(&self) -> usize {
        self.body_limit
    }

    /// Checks the headers, reads a request's body under the limit, then
    /// [`admit`](Self::admit)s it: what every HTTP adapter does.
    ///
    /// Before a byte of the body is read, the `webhook-*` headers, the
    /// timestamp window and the signature header's form are checked
    /// ([`Verifier::check_headers`]: 400 or 401), and a `Content-Length`
    /// above the limit is refused (413); without one, reading stops at the
    /// limit. Returns the admission and the raw bytes, to hand to the handler.
    pub async fn admit_request<B>(
        &self,
        headers: &HeaderMap,
        body: B,
    ) -> Result<(Admission<R>, Bytes), Rejection>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let bytes = self.read_request(headers, body).await?;
        let admission = self.admit(headers, bytes.clone()).await?;
        Ok((admission, bytes))
    }

    /// Checks the headers and reads the body, as
    /// [`admit_request`](Self::admit_request) does, then verifies the
    /// delivery and stores it in the [`inbox`](Self::inbox): what the
    /// adapters do when an inbox is set. No replay store is consulted and
    /// no handler runs. Errors with [`Rejection::NotConfigured`] if no
    /// inbox is set.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub async fn store_request<B>(
        &self,
        headers: &HeaderMap,
        body: B,
    ) -> Result<crate::inbox::Stored, Rejection>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Some(inbox) = &self.inbox else {
            return Err(self.rejected(headers, Rejection::NotConfigured));
        };
        let bytes = self.read_request(headers, body).await?;
        let delivery = time_verification(self.verifier.verify_async(headers, bytes))
            .await
            .map_err(|err| self.rejected(headers, err.into()))?;
        let stored = inbox
            .ingest(&delivery)
            .await
            .map_err(|err| self.rejected(headers, Rejection::InboxUnavailable(err)))?;
        crate::metrics::delivery(stored.outcome(), None);
        tracing::debug!(webhook_id = delivery.id(), outcome = %stored, "gemini webhook stored");
        Ok(stored)
    }

    /// The checks before the body, then the body under the limit.
    async fn read_request<B>(&self, headers: &HeaderMap, body: B) -> Result<Bytes, Rejection>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.verifier
            .check_headers(headers)
            .map_err(|err| self.rejected(headers, err.into()))?;
        let announced = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if announced.is_some_and(|length| length > self.body_limit as u64) {
            let limit = self.body_limit;
            return Err(self.rejected(headers, Rejection::PayloadTooLarge { limit }));
        }
        let Some(_reading) = self.body_reads.enter() else {
            let limit = self.body_reads.max;
            return Err(self.rejected(headers, Rejection::TooManyBodyReads { limit }));
        };
        read_body_within(body, self.body_limit, self.body_timeout)
            .await
            .map_err(|rejection| self.rejected(headers, rejection))
    }

    /// Logs a rejection with the delivery's (unverified) id, and hands it back.
    fn rejected(&self, headers: &HeaderMap, rejection: Rejection) -> Rejection {
        let webhook_id = headers
            .get(WEBHOOK_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        rejection.count();
        let outcome = rejection.kind();
        let level = self.log_level(&rejection);
        macro_rules! at_level {
            ($($event:tt)+) => {
                match level {
                    Level::ERROR => tracing::error!($($event)+),
                    Level::WARN => tracing::warn!($($event)+),
                    Level::INFO => tracing::info!($($event)+),
                    Level::DEBUG => tracing::debug!($($event)+),
                    _ => tracing::trace!($($event)+),
                }
            };
        }
        match &rejection {
            Rejection::AlreadyHandled | Rejection::InFlight => {
                at_level!(webhook_id, outcome, "gemini webhook not handled again")
            }
            Rejection::StoreUnavailable(err) => {
                at_level!(webhook_id, outcome, error = %err, "gemini webhook deferred")
            }
            #[cfg(feature = "postgres")]
            Rejection::InboxUnavailable(err) => {
                at_level!(webhook_id, outcome, error = %err, "gemini webhook deferred")
            }
            _ => at_level!(webhook_id, outcome, reason = %rejection, "gemini webhook rejected"),
        }
        rejection
    }

    /// How loudly a rejection is logged: requests that are not deliveries at
    /// all (no or malformed headers, unreadable or oversized bodies: a port
    /// scan) at [`probe_log_level`](Self::probe_log_level); a signature or
    /// timestamp that does not verify (likely a wrong secret) at WARN; what
    /// leaves a delivery undecided (store or keys unavailable) at ERROR.
    fn log_level(&self, rejection: &Rejection) -> Level {
        use crate::verify::VerifyError;
        match rejection {
            Rejection::AlreadyHandled | Rejection::InFlight => Level::INFO,
            Rejection::StoreUnavailable(_)
            | Rejection::NotConfigured
            | Rejection::Verify(VerifyError::KeysUnavailable) => Level::ERROR,
            #[cfg(feature = "postgres")]
            Rejection::InboxUnavailable(_) => Level::ERROR,
            Rejection::Verify(
                VerifyError::MissingHeader(_)
                | VerifyError::InvalidHeader { .. }
                | VerifyError::InvalidTimestamp,
            )
            | Rejection::BodyUnreadable
            | Rejection::BodyTimedOut { .. }
            | Rejection::PayloadTooLarge { .. } => self.probe_log_level,
            _ => Level::WARN,
        }
    }

    /// Verifies the delivery and claims its
    /// [`replay_key`](Delivery::replay_key) (the `webhook-id`, or the token
    /// for a JWT delivery): the first half of
    /// [`receive`](Self::receive), for adapters that must give the request
    /// back before the handler runs.
    pub async fn admit(&self, headers: &HeaderMap, body: Bytes) -> Result<Admission<R>, Rejection> {
        let delivery = time_verification(self.verifier.verify_async(headers, body))
            .await
            .map_err(|err| self.rejected(headers, err.into()))?;
        let token = match self.store.claim(delivery.replay_key()).await {
            Ok(Claim::New(token)) => token,
            Ok(Claim::Done) => return Err(self.rejected(headers, Rejection::AlreadyHandled)),
            Ok(Claim::InFlight) => return Err(self.rejected(headers, Rejection::InFlight)),
            Err(err) => return Err(self.rejected(headers, Rejection::StoreUnavailable(err))),
        };
        tracing::debug!(
            webhook_id = delivery.id(),
            outcome = "verified",
            "gemini webhook verified"
        );
        Ok(Admission {
            guard: ClaimGuard::new(Arc::clone(&self.store), delivery.replay_key(), token),
            delivery,
            dedup_ttl: self.dedup_ttl,
        })
    }

    /// Verifies the delivery, claims its id, and runs `handler` if it is new.
    ///
    /// `succeeded` tells from the handler's output whether it succeeded
    /// (for HTTP, a 2xx status): then the id is committed; otherwise it is
    /// released so Gemini's retry runs the handler again. If this future is
    /// dropped or the handler panics, the claim is released too.
    pub async fn receive<F, Fut, T>(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        handler: F,
        succeeded: impl FnOnce(&T) -> bool,
    ) -> Result<T, Rejection>
    where
        F: FnOnce(Delivery) -> Fut,
        Fut: Future<Output = T>,
    {
        Ok(self
            .admit(headers, body)
            .await?
            .run(handler, succeeded)
            .await)
    }
}

/// A verified delivery whose id this receiver holds the claim for.
///
/// [`run`](Admission::run) it to call the handler and settle the claim.
/// Dropping it unrun releases the claim.
pub struct Admission<R: ReplayStore> {
    delivery: Delivery,
    guard: ClaimGuard<R>,
    dedup_ttl: Duration,
}

impl<R: ReplayStore> Admission<R> {
    /// The verified delivery.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Runs `handler`, then commits the id if `succeeded` says so and
    /// releases it otherwise. While the handler runs, the claim is extended
    /// every third of the store's in-flight TTL, so a slow handler keeps it
    /// and no retry runs a twin beside it.
    pub async fn run<F, Fut, T>(self, handler: F, succeeded: impl FnOnce(&T) -> bool) -> T
    where
        F: FnOnce(Delivery) -> Fut,
        Fut: Future<Output = T>,
    {
        let Self {
            delivery,
            guard,
            dedup_ttl,
        } = self;
        let span = delivery_span(&delivery);
        let work = handler(delivery).instrument(span.clone());
        // Counts a handler that panicked or was dropped (client gone).
        let unfinished = UnfinishedHandler;
        let output = guard.keep_alive_while(work).await;
        let ok = succeeded(&output);
        std::mem::forget(unfinished);
        let outcome = if ok { "handled" } else { "handler_failed" };
        crate::metrics::delivery(outcome, None);
        // The handler has run: its answer stands either way. A failed
        // commit only means a later retry may run it again.
        guard.settle(ok, dedup_ttl).await;
        span.in_scope(|| tracing::info!(outcome, "gemini webhook handler ran"));
        output
    }
}

/// Counts the handler as unfinished if dropped before it answered.
struct UnfinishedHandler;

impl Drop for UnfinishedHandler {
    fn drop(&mut self) {
        crate::metrics::delivery("handler_unfinished", None);
    }
}

/// The span a handler runs in, so its own logs carry the delivery:
/// `gemini_webhook{webhook_id, event_type, verified_by}`. The event type is
/// read from the body only when the span is enabled.
fn delivery_span(delivery: &Delivery) -> tracing::Span {
    let span = tracing::info_span!(
        "gemini_webhook",
        webhook_id = %delivery.id(),
        event_type = tracing::field::Empty,
        verified_by = ?delivery.verified_by(),
    );
    if !span.is_disabled() {
        #[derive(serde::Deserialize)]
        struct Peek<'a> {
            #[serde(rename = "type", borrow)]
            event_type: Option<std::borrow::Cow<'a, str>>,
        }
        if let Ok(Peek {
            event_type: Some(event_type),
        }) = serde_json::from_slice(delivery.body())
        {
            span.record("event_type", &*event_type);
        }
    }
    span
}

impl<R: ReplayStore> std::fmt::Debug for Admission<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

/// Reads a body to its end, refusing it once it passes `limit` bytes (the
/// rest is never read) and mapping read errors to [`Rejection`].
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Rejection>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Rejection::PayloadTooLarge { limit })
        }
        Err(_) => Err(Rejection::BodyUnreadable),
    }
}

/// [`read_body`] within `timeout`: a body still arriving then is
/// [`Rejection::BodyTimedOut`].
pub async fn read_body_within<B>(
    body: B,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Rejection>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::time::timeout(timeout, read_body(body, limit))
        .await
        .map_err(|_| Rejection::BodyTimedOut { after: timeout })?
}

/// How many bodies a receiver and its clones are reading, against a limit.
#[derive(Debug, Clone)]
struct BodyReads {
    reading: Arc<std::sync::atomic::AtomicUsize>,
    max: usize,
}

impl BodyReads {
    fn new(max: usize) -> Self {
        Self {
            reading: Arc::default(),
            max,
        }
    }

    /// One more read, if under the limit; it ends when the guard drops.
    fn enter(&self) -> Option<BodyReadGuard> {
        use std::sync::atomic::Ordering;
        self.reading
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| BodyReadGuard(Arc::clone(&self.reading)))
    }
}

struct BodyReadGuard(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for BodyReadGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// What an extractor does without a layer in front of it: verify the request
/// itself with `verifier` (no replay protection), or refuse with
/// [`Rejection::NotConfigured`] when there is none. Shared by the adapters.
#[cfg(any(feature = "axum", feature = "actix"))]
pub(crate) async fn verify_standalone<B>(
    verifier: Option<Verifier>,
    headers: &HeaderMap,
    body: B,
) -> Result<Delivery, Rejection>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Some(verifier) = verifier else {
        tracing::error!("gemini webhook extractor used without the middleware or a Verifier");
        return Err(Rejection::NotConfigured);
    };
    let outcome = async {
        verifier.check_headers(headers)?;
        let body = read_body_within(body, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT).await?;
        Ok::<_, Rejection>(time_verification(verifier.verify_async(headers, body)).await?)
    }
    .await;
    if let Err(rejection) = &outcome {
        rejection.count();
    }
    outcome
}
