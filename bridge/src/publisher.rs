//! [`Publisher`]: a sink and the events it takes, what the in-request
//! [`PublishService`](crate::PublishService) and the outbox's workers
//! both publish through, logged and counted in one place.

use std::sync::Arc;
use std::time::Instant;

use gemini_webhooks::{Delivery, ErrorChain, EventError};
use http::StatusCode;

use crate::EventFilter;
use crate::sink::{BoxFuture, Message, PublishError, Published, Sink};

/// Publishes verified deliveries of the event types its
/// [`EventFilter`] takes to one [`Sink`]. Cheap to clone.
///
/// Use it as the handler of an inbox's workers (the outbox: the job is
/// done only once the broker confirmed) with [`handler`](Self::handler),
/// or in the request with [`PublishService`](crate::PublishService).
#[derive(Clone)]
pub struct Publisher {
    sink: Arc<dyn Sink>,
    filter: Arc<EventFilter>,
}

/// What became of a delivery the broker did not refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The broker confirmed it.
    Published(Published),
    /// Its event type is not one the filter takes: not published.
    Skipped,
}

/// Why a delivery was not published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublisherError {
    /// Its body is not a Gemini event: no type to route on.
    #[error("not a Gemini event")]
    NotAnEvent(#[source] EventError),
    /// The broker did not confirm it.
    #[error("not published")]
    Unconfirmed(#[source] PublishError),
}

impl PublisherError {
    /// The answer to the webhook: `422` for a body that is no event (no
    /// retry can publish it), `503` when the broker did not confirm (the
    /// retry, which Gemini sends for 24 hours, publishes it).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotAnEvent(err) => err.status(),
            Self::Unconfirmed(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("sink", &self.sink.kind())
            .field("filter", &self.filter)
            .finish()
    }
}

impl Publisher {
    /// Publishes every event type to `sink`.
    pub fn new(sink: impl Sink) -> Self {
        Self {
            sink: Arc::new(sink),
            filter: Arc::new(EventFilter::all()),
        }
    }

    /// Publishes only the event types `filter` takes; the others end
    /// [`Skipped`](Outcome::Skipped).
    pub fn only(mut self, filter: EventFilter) -> Self {
        self.filter = Arc::new(filter);
        self
    }

    /// The sink.
    pub fn sink(&self) -> &dyn Sink {
        &*self.sink
    }

    /// Publishes `delivery` if its type is taken; resolves once the
    /// broker confirmed.
    pub async fn publish(&self, delivery: &Delivery) -> Result<Outcome, PublisherError> {
        let message = Message::from_delivery(delivery).map_err(PublisherError::NotAnEvent)?;
        let kind = self.sink.kind();
        if !self.filter.matches(message.event_type()) {
            crate::metrics::message(kind, "skipped");
            tracing::debug!(
                id = message.id(),
                event_type = message.event_type(),
                "not published: event type filtered out"
            );
            return Ok(Outcome::Skipped);
        }
        let started = Instant::now();
        let published = self.sink.publish(&message).await;
        crate::metrics::published(kind, started.elapsed());
        match published {
            Ok(published) => {
                let outcome = if published.duplicate {
                    "duplicate"
                } else {
                    "published"
                };
                crate::metrics::message(kind, outcome);
                tracing::debug!(
                    id = message.id(),
                    sink = kind,
                    outcome,
                    "gemini webhook published"
                );
                Ok(Outcome::Published(published))
            }
            Err(err) => {
                let outcome = if err.may_have_published() {
                    "unconfirmed"
                } else {
                    "failed"
                };
                crate::metrics::message(kind, outcome);
                tracing::warn!(id = message.id(), sink = kind, error = %ErrorChain(&err), "gemini webhook not published");
                Err(PublisherError::Unconfirmed(err))
            }
        }
    }

    /// A handler for an inbox's workers: each job publishes its delivery,
    /// and is done only once the broker confirmed (else retried with the
    /// inbox's backoff).
    ///
    /// ```no_run
    /// # async fn run(inbox: gemini_webhooks_postgres::inbox::Inbox, publisher: gemini_webhooks_bridge::Publisher) {
    /// inbox
    ///     .worker(publisher.handler())
    ///     .complete_in_batches()
    ///     .run_until(std::future::pending())
    ///     .await;
    /// # }
    /// ```
    pub fn handler(
        &self,
    ) -> impl Fn(Delivery) -> BoxFuture<'static, Result<(), PublisherError>>
    + Clone
    + Send
    + Sync
    + 'static {
        let publisher = self.clone();
        move |delivery: Delivery| {
            let publisher = publisher.clone();
            Box::pin(async move { publisher.publish(&delivery).await.map(drop) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gemini_webhooks::testing::{Signer, generate_secret, sample_event};

    /// A sink that answers with what it was given, and says so.
    struct Answering(fn() -> Result<Published, PublishError>);

    impl Sink for Answering {
        fn kind(&self) -> &'static str {
            "answering"
        }

        fn publish<'a>(&'a self, _: &'a Message) -> BoxFuture<'a, Result<Published, PublishError>> {
            Box::pin(async move { (self.0)() })
        }
    }

    fn delivery(body: &[u8]) -> Delivery {
        let secret = generate_secret();
        let verifier = gemini_webhooks::Verifier::builder()
            .secret(&secret)
            .unwrap()
            .build()
            .unwrap();
        let headers = Signer::hmac(&secret).unwrap().id("msg_1").sign(body);
        verifier.verify(&headers, body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn outcomes_and_answers_follow_the_sink_and_the_filter() {
        let batch = delivery(&sample_event("batch.succeeded"));
        let published = Publisher::new(Answering(|| Ok(Published::with_id("7"))));
        assert_eq!(
            published.publish(&batch).await.unwrap(),
            Outcome::Published(Published::with_id("7"))
        );
        let only_videos = published
            .clone()
            .only(EventFilter::new(["video.*"]).unwrap());
        assert_eq!(only_videos.publish(&batch).await.unwrap(), Outcome::Skipped);
        let refused = Publisher::new(Answering(|| Err(PublishError::refused("answering", "no"))));
        let err = refused.publish(&batch).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        let not_an_event = published.publish(&delivery(b"[1]")).await.unwrap_err();
        assert_eq!(not_an_event.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(published.sink().kind(), "answering");
    }

    #[test]
    fn debug_names_the_sink_and_the_filter() {
        let publisher = Publisher::new(Answering(|| Ok(Published::new())))
            .only(EventFilter::new(["batch.*"]).unwrap());
        let shown = format!("{publisher:?}");
        assert!(shown.starts_with("Publisher {"), "{shown}");
        assert!(
            shown.contains("answering") && shown.contains("batch"),
            "{shown}"
        );
    }
}
