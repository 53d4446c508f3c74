//! Each `[sinks.NAME]` built into the sink of its `type`, on the broker's
//! own client. A type this binary was built without is a configuration
//! error naming the feature.

use std::collections::BTreeMap;
use std::sync::Arc;

use gemini_webhooks_bridge::sink::{Sink, Subject};

use crate::config::SinkConfig;

/// The sinks by name; an error names the sink's key and the problem.
pub async fn build(
    sinks: &BTreeMap<String, SinkConfig>,
) -> Result<BTreeMap<String, Arc<dyn Sink>>, (String, String)> {
    let mut built = BTreeMap::new();
    for (name, config) in sinks {
        let sink = one(config)
            .await
            .map_err(|(field, problem)| (format!("sinks.{name}.{field}"), problem))?;
        tracing::info!(
            sink = name,
            kind = config.kind(),
            "gemini-webhooks-bridge sink configured"
        );
        built.insert(name.clone(), sink);
    }
    Ok(built)
}

type Built = Result<Arc<dyn Sink>, (&'static str, String)>;

// Unused only in a binary built with no sink that takes a template.
#[cfg_attr(
    not(any(
        feature = "nats",
        feature = "redis",
        feature = "rabbitmq",
        feature = "pubsub"
    )),
    allow(dead_code)
)]
fn subject(field: &'static str, template: &str) -> Result<Subject, (&'static str, String)> {
    Subject::parse(template).map_err(|err| (field, err.to_string()))
}

async fn one(config: &SinkConfig) -> Built {
    match config {
        SinkConfig::Nats {
            url,
            subject: template,
        } => nats(url, template).await,
        SinkConfig::Redis { url, stream } => redis(url, stream),
        SinkConfig::Http { url, secret_env } => http(url, secret_env),
        SinkConfig::Rabbitmq {
            url,
            exchange,
            routing_key,
        } => rabbitmq(url, exchange, routing_key),
        SinkConfig::Pubsub {
            project,
            topic,
            order_by_job,
        } => pubsub(project, topic, *order_by_job).await,
        SinkConfig::Sqs { queue_url, region } => sqs(queue_url, region).await,
        SinkConfig::River {
            database_url,
            queue,
            kind,
        } => river(database_url, queue, kind),
    }
}

#[cfg(feature = "nats")]
async fn nats(url: &str, template: &str) -> Built {
    let subject = subject("subject", template)?;
    // Connects in the background: the bridge starts while NATS is down,
    // answering 503 (and /readyz unready) until it is up.
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url)
        .await
        .map_err(|err| ("url", format!("cannot be used: {err}")))?;
    Ok(Arc::new(gemini_webhooks_bridge::nats::NatsSink::new(
        client, subject,
    )))
}

#[cfg(not(feature = "nats"))]
async fn nats(_: &str, _: &str) -> Built {
    Err(("type", unbuilt("nats")))
}

#[cfg(feature = "redis")]
fn redis(url: &str, stream: &str) -> Built {
    let stream = subject("stream", stream)?;
    let client = ::redis::Client::open(url).map_err(|_| ("url", "not a Redis URL".to_owned()))?;
    Ok(Arc::new(gemini_webhooks_bridge::redis::RedisSink::new(
        client, stream,
    )))
}

#[cfg(not(feature = "redis"))]
fn redis(_: &str, _: &str) -> Built {
    Err(("type", unbuilt("redis")))
}

#[cfg(feature = "http")]
fn http(url: &str, secret_env: &str) -> Built {
    let secret = std::env::var(secret_env).map_err(|_| {
        (
            "secret_env",
            format!("the variable {secret_env} is not set"),
        )
    })?;
    let sink = gemini_webhooks_bridge::http::HttpSink::new(reqwest::Client::new(), url, &secret)
        .map_err(|err| match err {
            gemini_webhooks_bridge::http::HttpSinkError::Url(_) => ("url", err.to_string()),
            _ => ("secret_env", format!("{secret_env}: {err}")),
        })?;
    Ok(Arc::new(sink))
}

#[cfg(not(feature = "http"))]
fn http(_: &str, _: &str) -> Built {
    Err(("type", unbuilt("http")))
}

#[cfg(feature = "rabbitmq")]
fn rabbitmq(url: &str, exchange: &str, routing_key: &str) -> Built {
    let routing_key = subject("routing_key", routing_key)?;
    if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
        return Err(("url", "not an amqp:// or amqps:// URL".to_owned()));
    }
    Ok(Arc::new(gemini_webhooks_bridge::rabbitmq::RabbitSink::new(
        url,
        exchange,
        routing_key,
    )))
}

#[cfg(not(feature = "rabbitmq"))]
fn rabbitmq(_: &str, _: &str, _: &str) -> Built {
    Err(("type", unbuilt("rabbitmq")))
}

#[cfg(feature = "pubsub")]
async fn pubsub(project: &str, topic: &str, order_by_job: bool) -> Built {
    use gemini_webhooks_bridge::pubsub::PubSubSink;
    let topic = subject("topic", topic)?;
    let sink = PubSubSink::connect(project, topic)
        .await
        .map_err(|err| ("project", gemini_webhooks::ErrorChain(&err).to_string()))?;
    Ok(Arc::new(if order_by_job {
        sink.ordered_by_job()
    } else {
        sink
    }))
}

#[cfg(not(feature = "pubsub"))]
async fn pubsub(_: &str, _: &str, _: bool) -> Built {
    Err(("type", unbuilt("pubsub")))
}

#[cfg(feature = "sqs")]
async fn sqs(queue_url: &str, region: &str) -> Built {
    if !queue_url.starts_with("https://") && !queue_url.starts_with("http://") {
        return Err(("queue_url", "not an http(s):// queue URL".to_owned()));
    }
    Ok(Arc::new(
        gemini_webhooks_bridge::sqs::SqsSink::connect(queue_url, region).await,
    ))
}

#[cfg(not(feature = "sqs"))]
async fn sqs(_: &str, _: &str) -> Built {
    Err(("type", unbuilt("sqs")))
}

#[cfg(feature = "river")]
fn river(database_url: &str, queue: &str, kind: &str) -> Built {
    use gemini_webhooks_bridge::river::{GeminiWebhookArgs, RiverSink};
    use riverqueue::JobArgs as _;
    // River's Rust client fixes a job's kind at compile time.
    if kind != GeminiWebhookArgs::KIND {
        return Err((
            "kind",
            format!(
                "the bridge inserts jobs of kind `{}`: write that",
                GeminiWebhookArgs::KIND
            ),
        ));
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy(database_url)
        .map_err(|_| ("database_url", "not a PostgreSQL URL".to_owned()))?;
    let sink = RiverSink::new(pool, queue).map_err(|err| {
        (
            "database_url",
            gemini_webhooks::ErrorChain(&err).to_string(),
        )
    })?;
    Ok(Arc::new(sink))
}

#[cfg(not(feature = "river"))]
fn river(_: &str, _: &str, _: &str) -> Built {
    Err(("type", unbuilt("river")))
}

#[allow(dead_code)] // used only where a feature is off
pub fn unbuilt(feature: &str) -> String {
    format!(
        "`{feature}` is not built into this binary: build it with `--features {feature}` (or `--all-features`)"
    )
}
