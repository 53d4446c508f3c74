//! The [`Sink`] trait: what every broker's sink implements, and what the
//! in-request service and the outbox publish through.

mod error;
pub(crate) mod macros;
mod message;
mod subject;

pub use error::{PublishError, Published};
pub use message::{EVENT_TYPE_HEADER, Message, TIMESTAMP_HEADER, WEBHOOK_ID_HEADER};
pub use subject::{Subject, SubjectError};

use std::future::Future;
use std::pin::Pin;

/// A boxed future that is `Send`: what a [`Sink`]'s methods return, so that
/// sinks of different brokers fit behind one `Arc<dyn Sink>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Publishes verified deliveries to a broker.
///
/// [`publish`](Sink::publish) resolves only once the broker has
/// **confirmed** the message (a JetStream PubAck, a publisher confirm, a
/// message id, a committed insert): a caller that answers `2xx` or marks an
/// inbox job done after it loses nothing if the process dies the next
/// instant. Its error says whether the message
/// [may have been published](PublishError::may_have_published) anyway (a
/// timeout after sending): the retry that follows is then a duplicate,
/// which each sink hands the broker an idempotency key for (the webhook id).
///
/// Implementing a sink for another broker is one file: build the broker's
/// message from [`Message`] (its [`body`](Message::body) byte for byte, its
/// [`headers`](Message::headers) as attributes), send it, await the
/// confirmation.
///
/// ```
/// use gemini_webhooks_bridge::sink::{BoxFuture, Message, PublishError, Published, Sink};
///
/// /// Prints each message: a sink for a broker of one.
/// struct Stdout;
///
/// impl Sink for Stdout {
///     fn kind(&self) -> &'static str {
///         "stdout"
///     }
///
///     fn publish<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<Published, PublishError>> {
///         Box::pin(async move {
///             println!("{} {}", message.id(), message.event_type());
///             Ok(Published::new())
///         })
///     }
/// }
/// ```
pub trait Sink: Send + Sync + 'static {
    /// The broker's name in logs and metrics (`nats`, `redis`, …).
    fn kind(&self) -> &'static str;

    /// Publishes `message`; resolves once the broker confirmed it.
    fn publish<'a>(
        &'a self,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<Published, PublishError>>;

    /// Whether the broker answers now (a readiness probe); `Ok` by default.
    fn ready(&self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Waits up to 5 seconds for `probe` (a round trip to the broker): a
/// readiness check that never hangs on a broker that does not answer.
#[allow(dead_code)] // used by the sinks that have a probe
pub(crate) async fn answers_within<T, E>(
    kind: &'static str,
    probe: impl Future<Output = Result<T, E>>,
) -> Result<(), PublishError>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match tokio::time::timeout(std::time::Duration::from_secs(5), probe).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(PublishError::not_published(kind, "no answer", err)),
        Err(elapsed) => Err(PublishError::not_published(kind, "no answer", elapsed)),
    }
}

impl<S: Sink + ?Sized> Sink for std::sync::Arc<S> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }

    fn publish<'a>(
        &'a self,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<Published, PublishError>> {
        (**self).publish(message)
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), PublishError>> {
        (**self).ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named;

    impl Sink for Named {
        fn kind(&self) -> &'static str {
            "named"
        }

        fn publish<'a>(&'a self, _: &'a Message) -> BoxFuture<'a, Result<Published, PublishError>> {
            Box::pin(async { Ok(Published::with_id("1")) })
        }

        fn ready(&self) -> BoxFuture<'_, Result<(), PublishError>> {
            Box::pin(async { Err(PublishError::refused("named", "not ready")) })
        }
    }

    /// What the sink says, through the `Arc` impl (not the one it derefs to).
    fn kind_of<S: Sink>(sink: &S) -> &'static str {
        sink.kind()
    }

    async fn ready_of<S: Sink>(sink: &S) -> bool {
        sink.ready().await.is_ok()
    }

    #[tokio::test]
    async fn an_arc_is_the_sink_it_holds() {
        let shared = std::sync::Arc::new(Named);
        assert_eq!(kind_of(&shared), "named");
        assert!(!ready_of(&shared).await);
    }
}
