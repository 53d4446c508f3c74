#![cfg_attr(feature = "nats", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "nats"),
    doc = "Hand verified Gemini API webhooks to the broker a team already runs, \
           acknowledged only once the broker confirmed: a `Sink` per broker, each \
           behind its feature, used in the request (`PublishService`) or through an \
           inbox (`Publisher::handler`). The guide is the crate's README (this page \
           with the feature `nats`, whose examples it compiles)."
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod filter;
pub mod guide;
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
