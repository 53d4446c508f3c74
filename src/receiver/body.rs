//! Reading a request's body: under a byte limit, within a deadline, and
//! with a bound on how many bodies are read at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;

use super::Rejection;

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

/// How many bodies an intake and its clones are reading, against a limit.
#[derive(Debug, Clone)]
pub(super) struct BodyReads {
    reading: Arc<AtomicUsize>,
    pub(super) max: usize,
}

impl BodyReads {
    pub(super) fn new(max: usize) -> Self {
        Self {
            reading: Arc::default(),
            max,
        }
    }

    /// One more read, if under the limit; it ends when the guard drops.
    pub(super) fn enter(&self) -> Option<BodyReadGuard> {
        self.reading
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| BodyReadGuard(Arc::clone(&self.reading)))
    }
}

/// A body being read; dropping it ends the read.
pub(super) struct BodyReadGuard(Arc<AtomicUsize>);

impl Drop for BodyReadGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
