//! What a publish returns: [`Published`] once the broker confirmed, or a
//! [`PublishError`] that says whether the message may be in the broker.

use std::error::Error;

/// The broker's confirmation of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The broker's id for the message (a stream sequence, an entry id, a
    /// message id), when it gives one.
    pub broker_id: Option<String>,
    /// The broker recognised the webhook id and kept the earlier copy
    /// instead of a second one (JetStream's duplicate window, the Redis
    /// sink's claim, a River unique job).
    pub duplicate: bool,
}

impl Published {
    /// A confirmation with no broker id.
    pub fn new() -> Self {
        Self::default()
    }

    /// A confirmation carrying the broker's id for the message.
    pub fn with_id(broker_id: impl Into<String>) -> Self {
        Self {
            broker_id: Some(broker_id.into()),
            duplicate: false,
        }
    }

    /// Marks the confirmation as the broker's de-duplication at work.
    pub fn duplicate(mut self) -> Self {
        self.duplicate = true;
        self
    }
}

/// A message the broker did not confirm.
///
/// Shown with `{}`, it names the sink and what happened; its
/// [`source`](Error::source) is the client's error (show the whole chain
/// with [`ErrorChain`](gemini_webhooks::ErrorChain)). It never holds the
/// message's body.
#[derive(Debug, thiserror::Error)]
#[error("{sink}: {what}")]
pub struct PublishError {
    sink: &'static str,
    what: &'static str,
    may_have_published: bool,
    #[source]
    source: Option<Box<dyn Error + Send + Sync>>,
}

impl PublishError {
    /// The message was not handed over (no connection, refused before
    /// sending, a negative acknowledgement): it is not in the broker.
    pub fn not_published(
        sink: &'static str,
        what: &'static str,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        Self::new(sink, what, false, Some(source.into()))
    }

    /// The message was sent but no confirmation came (a timeout, a
    /// connection lost while waiting): it may be in the broker, and the
    /// retry may be a duplicate.
    pub fn unconfirmed(
        sink: &'static str,
        what: &'static str,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        Self::new(sink, what, true, Some(source.into()))
    }

    /// A failure with no error of the client's behind it (a status, a
    /// refusal the broker gave as a value).
    pub fn refused(sink: &'static str, what: &'static str) -> Self {
        Self::new(sink, what, false, None)
    }

    fn new(
        sink: &'static str,
        what: &'static str,
        may_have_published: bool,
        source: Option<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        Self {
            sink,
            what,
            may_have_published,
            source,
        }
    }

    /// Whether the message may be in the broker despite the error.
    pub fn may_have_published(&self) -> bool {
        self.may_have_published
    }

    /// The sink's kind (`nats`, `redis`, …).
    pub fn sink(&self) -> &'static str {
        self.sink
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gemini_webhooks::ErrorChain;

    #[test]
    fn an_error_names_the_sink_what_happened_and_its_cause() {
        let err = PublishError::unconfirmed("nats", "no PubAck", "timed out");
        assert!(err.may_have_published());
        assert_eq!(err.sink(), "nats");
        assert_eq!(ErrorChain(&err).to_string(), "nats: no PubAck: timed out");
        let err = PublishError::not_published("redis", "not sent", "refused");
        assert!(!err.may_have_published());
        assert!(!PublishError::refused("http", "answered 500").may_have_published());
    }
}
