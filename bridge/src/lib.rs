//! Hand verified Gemini API webhooks to the broker a team already runs,
//! acknowledged only once the broker confirmed.
//!
//! A [`Sink`](sink::Sink) publishes one [`Message`](sink::Message) — the
//! raw verified body, byte for byte, with the attributes `webhook-id`,
//! `webhook-timestamp` and `gemini-event-type` — and resolves only when
//! the broker confirmed it. One sink per broker, each behind its feature:
//!
//! | feature | sink | confirmation | idempotency key |
//! |---|---|---|---|
//! | `pubsub` | `pubsub::PubSubSink` (Google Cloud) | message id | attribute `webhook-id`; ordering key = the job |
//! | `nats` | `nats::NatsSink` (JetStream) | PubAck | `Nats-Msg-Id` = webhook id |
//! | `redis` | `redis::RedisSink` (Streams) | XADD reply | claim and XADD in one script |
//! | `rabbitmq` | `rabbitmq::RabbitSink` | publisher confirm, persistent | `message_id` = webhook id |
//! | `sqs` | `sqs::SqsSink` | SendMessage result | FIFO: `MessageDeduplicationId` = webhook id, group = the job |
//! | `river` | `river::RiverSink` | insert committed | unique job on the webhook id (the completion key for an ending) |
//! | `http` | `http::HttpSink` | a 2xx | `webhook-id`, re-signed |
//!
//! Two ways to use one:
//! - **In the request**: [`PublishService`] behind
//!   [`WebhookLayer`](gemini_webhooks::tower::WebhookLayer): `200` only
//!   after the broker confirmed, `503` when it did not (the claim is
//!   released; Gemini retries for 24 hours).
//! - **Through an inbox (outbox)**: [`Publisher::handler`] as the handler of
//!   a `gemini-webhooks-postgres` inbox's workers: ingest answers `202` once
//!   stored, and a job is done only once the broker confirmed, so a broker
//!   outage of hours loses nothing and holds no request open.
//!
//! The crate also builds the `gemini-webhooks-bridge` binary (feature
//! `binary`): the same, configured by a TOML file, for teams that write
//! no Rust. Its guide is the crate's README.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod filter;
pub mod metrics;
mod publisher;
mod service;
pub mod sink;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub mod nats;
#[cfg(feature = "pubsub")]
#[cfg_attr(docsrs, doc(cfg(feature = "pubsub")))]
pub mod pubsub;
#[cfg(feature = "rabbitmq")]
#[cfg_attr(docsrs, doc(cfg(feature = "rabbitmq")))]
pub mod rabbitmq;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
#[cfg(feature = "river")]
#[cfg_attr(docsrs, doc(cfg(feature = "river")))]
pub mod river;
#[cfg(feature = "sqs")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqs")))]
pub mod sqs;

pub use filter::{EventFilter, EventFilterError};
pub use publisher::{Outcome, Publisher, PublisherError};
pub use service::PublishService;
